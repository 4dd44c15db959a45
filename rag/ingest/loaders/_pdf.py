"""PDF text per page with pypdf; page_starts maps offsets back to page numbers."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

from pypdf import PageObject, PdfReader
from pypdf.errors import DependencyError
from pypdf.generic import ArrayObject, StreamObject

from ._common import Limits, Parsed, Reject, normalize_newlines, one_line, too_many_chars
from ._ocr import OcrResult, read_pdf_pages, summary
from ._pdf_tables import has_ruling, with_tables

_log = logging.getLogger(__name__)
_MB = 1024 * 1024


def load_pdf(raw: bytes, limits: Limits | None = None) -> Parsed:
    limits = limits or Limits()
    if b"%PDF-" not in raw[:1024]:
        raise Reject("corrupt or unreadable PDF (no %PDF header)")
    with _quiet_pypdf():
        reader = _open(raw)
        texts: list[str] = []
        ruled: list[int] = []  # pages that draw lines: where a table may be
        chars = expanded = 0
        # pypdf reads a page's contents at about 5 MB/s, so a small file that decompresses a
        # thousandfold is a time bomb long before it is a memory one: the ratio is checked too.
        by_ratio = max(_MB, int(limits.max_expansion_ratio * len(raw)))
        cap = min(limits.max_expanded_bytes, by_ratio)
        for number, page in enumerate(reader.pages, 1):
            try:
                expanded += _content_bytes(page, limits.max_expansion_ratio)
                if expanded > cap:
                    setting = "RAG_MAX_EXPANDED_MB" if cap < by_ratio else "RAG_MAX_EXPANSION_RATIO"
                    raise _TooBig(
                        f"its contents reach {expanded / _MB:.1f} MB, "
                        f"{expanded / len(raw):.0f} times the file's size",
                        setting,
                    )
                texts.append(normalize_newlines(page.extract_text() or "").strip())
                if texts[-1] and has_ruling(page):
                    ruled.append(number - 1)
            except _TooBig as e:
                detail, setting = e.args
                raise Reject(
                    f"decompression bomb? by page {number} of the PDF {detail}; raise {setting} "
                    "to index it"
                ) from None
            except Exception as e:  # one broken page should not cost the rest of the document
                _log.debug("PDF page %d skipped: %s", number, one_line(e))
                texts.append("")
            chars += len(texts[-1])
            if chars > limits.max_chars:  # stop at once: the pages left may be as large
                raise Reject(too_many_chars(chars, limits, "PDF"))
        title = None
        with contextlib.suppress(Exception):
            title = " ".join(str(reader.metadata.title or "").split()) if reader.metadata else None
    if ruled:  # tables as Markdown tables, read by pdfplumber
        texts = with_tables(raw, texts, ruled)
    if not texts:
        raise Reject("PDF has no pages")
    ocr, notes = _read_scans(raw, texts, limits)
    if ocr is not None:
        texts = [ocr.texts.get(n, t) for n, t in enumerate(texts, 1)]
    if not any(texts):
        if ocr is not None and ocr.notes:  # e.g. "page 1 not read by OCR: <why>"
            raise Reject(f"no text layer (scanned PDF?), and {ocr.notes[0]}")
        raise Reject(
            "no text layer, and OCR found no text on its pages"
            if ocr is not None
            else "no text layer, and no page image to read by OCR (blank pages?)"
        )
    starts, offset = [], 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + 2  # the "\n\n" between pages
    pages = ocr.pages if ocr is not None else []
    return Parsed("\n\n".join(texts), title=title, page_starts=starts, notes=notes, ocr_pages=pages)


def _read_scans(raw: bytes, texts: list[str], limits: Limits) -> tuple[OcrResult | None, list[str]]:
    """OCR the pages without a text layer (scanned pages: _ocr.py). When OCR cannot run, a PDF
    with no text at all is rejected with the reason, and one with some text keeps it, noted."""
    empty = [n for n, t in enumerate(texts, 1) if not t]
    if not empty:
        return None, []
    try:
        ocr = read_pdf_pages(raw, empty, limits)
    except Exception as e:
        why = str(e) if isinstance(e, Reject) else f"rendering failed ({one_line(e, 100)})"
        if not any(texts):
            raise Reject(f"no text layer (scanned PDF?): {why}") from None
        return None, [f"pages without a text layer were not read: {why}"]
    if ocr is None:
        return None, []
    return ocr, [summary(ocr, "PDF"), *ocr.notes]


class _TooBig(Exception):
    pass


def _content_bytes(page: PageObject, max_ratio: float) -> int:
    """Decompressed size of a page's content streams (pypdf keeps the decoded data, so
    extract_text does not decompress them again); _TooBig for a stream over 1 MB that
    decompresses more than `max_ratio` times its stored length."""
    contents = page.get("/Contents")
    if contents is None:
        return 0
    obj = contents.get_object()
    streams = obj if isinstance(obj, ArrayObject) else [obj]
    total = 0
    for s in streams:
        stream = s.get_object()
        if isinstance(stream, StreamObject):
            stored = len(getattr(stream, "_data", b"") or b"")  # pypdf drops /Length on reading
            size = len(stream.get_data())
            if size > _MB and size > max_ratio * max(stored, 1):
                raise _TooBig(
                    f"a content stream expands {size / max(stored, 1):.0f}-fold to "
                    f"{size / _MB:.1f} MB (limit {max_ratio:g}-fold)",
                    "RAG_MAX_EXPANSION_RATIO",
                )
            total += size
    return total


def _open(raw: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(raw))
        locked = reader.is_encrypted and not reader.decrypt("")  # try an empty user password
        if not locked:
            _ = len(reader.pages)  # parses the page tree: a broken one fails here, not later
    except DependencyError:  # AES needs the optional 'cryptography' package
        msg = "encrypted PDF needs the 'cryptography' package (pip install cryptography)"
        raise Reject(msg) from None
    except Exception as e:
        raise Reject(f"corrupt or unreadable PDF ({one_line(e, 100)})") from None
    if locked:
        raise Reject("encrypted PDF: remove the password (e.g. qpdf --decrypt) and ingest again")
    return reader


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs a warning per oddity it repairs; a bad file should give only our one line."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)
