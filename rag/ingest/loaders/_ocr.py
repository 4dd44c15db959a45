"""OCR with Tesseract: images, and PDF pages without a text layer, become text with a confidence.

Tesseract (Debian's `tesseract-ocr` and `tesseract-ocr-eng`) runs as a program through
pytesseract; PDF pages are rendered with pypdfium2. One run per page gives the words with their
confidences (TSV); the text is rebuilt from them, a paragraph to a line. When Tesseract is
missing, what needs it raises Reject with the command that installs it, and nothing else changes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

from rag.documents import OcrPage

from ._common import Limits, Reject

if TYPE_CHECKING:
    from PIL.Image import Image

INSTALL = "apt install tesseract-ocr tesseract-ocr-eng"
LANG = "eng"
DPI = 300  # what Tesseract is trained for; BENCHMARKS.md measures 150 against 300
MIN_DPI = 100  # a page so large that its render at 300 dpi passes the pixel limit goes down to this
PAGE_TIMEOUT_S = 120  # one page; a pathological image should not hold the ingest for ever


@dataclass
class OcrResult:
    """The text of each page read (by page number), its confidence, and what went wrong."""

    texts: dict[int, str] = field(default_factory=dict)
    pages: list[OcrPage] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


def check_tesseract(what: str) -> None:
    """Reject ('<what> OCR, and Tesseract is not installed: apt install ...') unless the tesseract
    program and its English data are there; `what` is e.g. 'image needs'."""
    problem = _problem(os.environ.get("PATH", ""), os.environ.get("TESSDATA_PREFIX", ""))
    if problem:
        raise Reject(f"{what} OCR, and {problem}")


@cache
def _problem(path: str, tessdata: str) -> str | None:
    """Why OCR cannot run, or None; cached per PATH and TESSDATA_PREFIX (a test changes them)."""
    try:
        import pytesseract  # noqa: F401
    except ImportError:
        return "pytesseract is not installed: pip install pytesseract"
    exe = shutil.which("tesseract", path=path)
    if exe is None:
        return f"Tesseract is not installed: {INSTALL}"
    try:
        out = subprocess.run(
            [exe, "--list-langs"], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"Tesseract does not run ({type(e).__name__}): {INSTALL}"
    if LANG not in out.stdout.split():
        return f"Tesseract has no English data: {INSTALL}"
    return None


def read_image(image: Image) -> tuple[str, float]:
    """The text of one page image, and the mean confidence of its words (0-100; 0: no words)."""
    import pytesseract

    gray = denoise(image.convert("L"))  # Tesseract binarizes anyway; gray is a third of RGB
    with _one_thread():
        data = pytesseract.image_to_data(
            gray, lang=LANG, output_type=pytesseract.Output.DICT, timeout=PAGE_TIMEOUT_S
        )
    paragraphs: dict[tuple[int, int], list[list[str]]] = {}
    line_of: dict[tuple[int, int, int], list[str]] = {}
    confs: list[float] = []
    for i, word in enumerate(data["text"]):
        word = (word or "").strip()
        conf = float(data["conf"][i])
        if not word or conf < 0:
            continue
        confs.append(conf)
        para = (data["block_num"][i], data["par_num"][i])
        key = (*para, data["line_num"][i])
        if key not in line_of:
            line_of[key] = []
            paragraphs.setdefault(para, []).append(line_of[key])
        line_of[key].append(word)
    text = "\n\n".join(_join_lines(lines) for lines in paragraphs.values())
    return text, (sum(confs) / len(confs) if confs else 0.0)


NOISY = 4.0  # grey levels: the median pixel's distance from its 3x3 median, over which we denoise


def noise_level(gray: Image) -> float:
    """How far the typical pixel is from the median of its 3x3 neighbourhood: about 0 on a clean
    scan (paper is flat, ink is flat), about 0.4 sigma under Gaussian noise of sigma."""
    import numpy as np
    from PIL import ImageFilter

    small = gray.reduce(2) if gray.width * gray.height > 4_000_000 else gray
    a = np.asarray(small, dtype=np.int16)
    m = np.asarray(small.filter(ImageFilter.MedianFilter(3)), dtype=np.int16)
    return float(np.median(np.abs(a - m)))


def denoise(gray: Image) -> Image:
    """A noisy page made readable, a clean one left alone. Tesseract's binarization does not
    survive speckle: a 150-dpi page under Gaussian noise (sigma 35) gave no words at all. A small
    page (narrower than A4 at 240 dpi) is first enlarged twice, bicubic, as a PDF page is when it
    is rendered at 300 dpi: a 3x3 median filter at 150 dpi erased thin serifs (0.47 and 0.79 word
    accuracy on two serif pages; 0.97 and 1.0 enlarged first). Then the median filter removes the
    speckle (enlarged but not filtered, one page kept Tesseract busy past its 120 s)."""
    from PIL import Image as PILImage
    from PIL import ImageFilter

    if noise_level(gray) <= NOISY:
        return gray
    if gray.width < 2000 and 4 * gray.width * gray.height <= 40_000_000:
        gray = gray.resize((2 * gray.width, 2 * gray.height), PILImage.Resampling.BICUBIC)
    return gray.filter(ImageFilter.MedianFilter(3))


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Tesseract's OpenMP threads spin while they wait: on 2 shared cores one page took 3.2-6.3 s
    (2.4-4.3 s of CPU) with them and 1.2-1.7 s (0.7 s) without (BENCHMARKS.md, OCR). The child
    gets OMP_THREAD_LIMIT=1 unless the user set it; our own environment is put back at once, so
    a library that starts OpenMP in this process later (PyTorch) is not limited."""
    saved = os.environ.get("OMP_THREAD_LIMIT")
    os.environ["OMP_THREAD_LIMIT"] = saved or "1"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["OMP_THREAD_LIMIT"]


def _join_lines(lines: list[list[str]]) -> str:
    """A paragraph's lines as one line: a word hyphenated at a line's end is joined again."""
    out = ""
    for words in lines:
        line = " ".join(words)
        if out.endswith("-") and len(out) > 1 and out[-2].isalpha() and line[:1].islower():
            out = out[:-1] + line
        else:
            out = f"{out} {line}" if out else line
    return out


def read_pages(images: Iterator[tuple[int, Image | str]]) -> OcrResult:
    """OCR each (page number, image) pair; a str instead of an image is why that page was not
    rendered, kept as a note. A page that fails or times out is noted, the rest still read."""
    result = OcrResult()
    started = time.perf_counter()
    for number, image in images:
        if isinstance(image, str):
            result.notes.append(f"page {number} not read by OCR: {image}")
            continue
        try:
            text, conf = read_image(image)
        except RuntimeError as e:  # pytesseract's timeout
            result.notes.append(f"page {number} not read by OCR ({_short(e)})")
            continue
        except Exception as e:  # TesseractError: a broken image, a crash
            result.notes.append(f"page {number} not read by OCR ({_short(e)})")
            continue
        finally:
            if not isinstance(image, str):
                image.close()
        result.texts[number] = text
        result.pages.append(OcrPage(number, round(conf, 1)))
    result.seconds = time.perf_counter() - started
    return result


def read_pdf_pages(raw: bytes, numbers: list[int], limits: Limits) -> OcrResult | None:
    """OCR those of the pages `numbers` (1-based) that hold an image; None when none does (a
    blank page is not a scan). Reject when there are more than the limit, or no Tesseract."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(raw)
    try:
        scans: dict[int, str | None] = {}  # page: why it cannot be rendered, or None
        for number in numbers:
            page = pdf[number - 1]
            try:
                pixels = _image_pixels(page)
                if pixels:
                    scans[number] = _render_problem(page, max(pixels), limits)
            finally:
                page.close()
        if not scans:
            return None
        if len(scans) > limits.max_ocr_pages:
            raise Reject(
                f"{len(scans)} pages to read by OCR, over the limit of {limits.max_ocr_pages} "
                "(a page takes seconds); raise RAG_MAX_OCR_PAGES to index it"
            )
        check_tesseract("its scanned pages need")
        return read_pages(_render(pdf, scans, limits.max_image_pixels))
    finally:
        pdf.close()


def _image_pixels(page: object) -> list[int]:
    """Pixel counts of the images drawn on a page (scans are images), forms included."""
    import pypdfium2 as pdfium
    import pypdfium2.raw as pdfium_c

    kinds = (pdfium_c.FPDF_PAGEOBJ_IMAGE,)
    out = []
    for obj in page.get_objects(filter=kinds, max_depth=4):  # type: ignore[attr-defined]
        if isinstance(obj, pdfium.PdfImage):
            w, h = obj.get_px_size()
            out.append(int(w) * int(h))
    return out


def _render_problem(page: object, image_pixels: int, limits: Limits) -> str | None:
    mp = limits.max_image_pixels / 1e6
    if image_pixels > limits.max_image_pixels:  # pdfium would decode all of it to draw it
        return f"it holds an image of {image_pixels / 1e6:.0f} megapixels (limit {mp:.0f})"
    width, height = page.get_size()  # type: ignore[attr-defined]  # points: 1/72 inch
    if width * height * (MIN_DPI / 72) ** 2 > limits.max_image_pixels:
        return (
            f"the page is {width / 72:.0f} x {height / 72:.0f} inches, too large to render at "
            f"{MIN_DPI} dpi within {mp:.0f} megapixels"
        )
    return None


def _render(
    pdf: object, scans: dict[int, str | None], limit: int
) -> Iterator[tuple[int, Image | str]]:
    """Each page at DPI, or lower where DPI would pass the pixel limit (down to MIN_DPI)."""
    for number, problem in scans.items():
        if problem:
            yield number, problem
            continue
        page = pdf[number - 1]  # type: ignore[index]
        try:
            width, height = page.get_size()
            dpi = min(DPI, 72 * (limit / (width * height)) ** 0.5)
            bitmap = page.render(scale=dpi / 72, grayscale=True)
            yield number, bitmap.to_pil()  # the bitmap lives until the caller's next step
        finally:
            page.close()


def _short(e: BaseException) -> str:
    text = " ".join(str(e).split()) or type(e).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def summary(result: OcrResult, kind: str) -> str:
    """One line for the ingest report: pages, time, confidence, and the pages flagged."""
    n = len(result.pages)
    conf = sum(p.confidence for p in result.pages) / n if n else 0.0
    line = (
        f"{kind} read by OCR: {n} page{'s' * (n != 1)} in {result.seconds:.1f} s, "
        f"mean word confidence {conf:.0f}%"
    )
    low = [p for p in result.pages if p.low_confidence]
    if low:
        shown = ", ".join(f"{p.page} ({p.confidence:.0f}%)" for p in low[:10])
        line += f"; low confidence on page{'s' * (len(low) != 1)} {shown}: check its text"
    return line
