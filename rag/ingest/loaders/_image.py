"""Image files (.png .jpg .jpeg .tif .tiff) read by OCR; each frame of a TIFF is a page."""

from __future__ import annotations

import io
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ._common import Limits, Parsed, Reject
from ._ocr import check_tesseract, read_pages, summary

if TYPE_CHECKING:
    from PIL.Image import Image as PILImage

# Pillow's parsers for these suffixes only (JPEG's opens a camera's MPO too); no other decoder
# runs on a file that claims to be an image.
_FORMATS = ("PNG", "JPEG", "TIFF")


def load_image(raw: bytes, limits: Limits | None = None) -> Parsed:
    limits = limits or Limits()
    from PIL import Image, ImageOps, ImageSequence, UnidentifiedImageError

    mp = limits.max_image_pixels / 1e6
    Image.init()  # registers every plugin: open(formats=...) looks each name up
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(raw), formats=_FORMATS)  # reads the header only
    except Image.DecompressionBombError as e:
        raise Reject(f"image is over the {mp:.0f}-megapixel limit ({e})") from None
    except UnidentifiedImageError:
        raise Reject("not a PNG, JPEG or TIFF image (is the extension wrong?)") from None
    with image:
        frames = getattr(image, "n_frames", 1)
        if frames > limits.max_ocr_pages:
            raise Reject(
                f"image has {frames} pages, over the limit of {limits.max_ocr_pages} to read by "
                "OCR; raise RAG_MAX_OCR_PAGES to index it"
            )
        w, h = image.size  # a bomb is refused here, from its header, before a pixel is decoded
        if frames == 1 and w * h > limits.max_image_pixels:
            raise Reject(
                f"image is {w} x {h} pixels, over the {mp:.0f}-megapixel limit: scale it down "
                "and ingest it again"
            )
        check_tesseract("image needs")

        def pages() -> Iterator[tuple[int, PILImage | str]]:
            for number, frame in enumerate(ImageSequence.Iterator(image), 1):
                w, h = frame.size
                if w * h > limits.max_image_pixels:  # checked before a pixel is decoded
                    yield (
                        number,
                        (
                            f"{w} x {h} pixels is over the {mp:.0f}-megapixel limit: scale the "
                            "image down and ingest it again"
                        ),
                    )
                    continue
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                    yield number, ImageOps.exif_transpose(frame).convert("L")

        result = read_pages(pages())
    if not result.pages:  # every page failed: its note is the reason
        raise Reject(result.notes[0].split(": ", 1)[-1] if result.notes else "image has no pages")
    texts = [result.texts.get(n, "") for n in range(1, frames + 1)]
    if not any(t.strip() for t in texts):
        conf = max(p.confidence for p in result.pages)
        raise Reject(f"OCR found no text in the image (best page confidence {conf:.0f}%)")
    starts, offset = [], 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + 2
    notes = [summary(result, "image"), *result.notes]
    return Parsed("\n\n".join(texts), page_starts=starts, notes=notes, ocr_pages=result.pages)
