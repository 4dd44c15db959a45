"""PDF text per page with pypdf; page_starts maps offsets back to page numbers."""

from __future__ import annotations

import contextlib
import io
import logging
import warnings
from collections.abc import Iterator

from pypdf import PdfReader
from pypdf.errors import DependencyError

from ._common import Parsed, Reject, normalize_newlines, one_line

_log = logging.getLogger(__name__)


def load_pdf(raw: bytes) -> Parsed:
    if b"%PDF-" not in raw[:1024]:
        raise Reject("corrupt or unreadable PDF (no %PDF header)")
    with _quiet_pypdf():
        reader = _open(raw)
        texts: list[str] = []
        for number, page in enumerate(reader.pages, 1):
            try:
                texts.append(normalize_newlines(page.extract_text() or "").strip())
            except Exception as e:  # one broken page should not cost the rest of the document
                _log.debug("PDF page %d skipped: %s", number, one_line(e))
                texts.append("")
        title = None
        with contextlib.suppress(Exception):
            title = " ".join(str(reader.metadata.title or "").split()) if reader.metadata else None
    if not texts:
        raise Reject("PDF has no pages")
    if not any(texts):
        raise Reject(
            "no text layer (scanned PDF?): run OCR first, e.g. ocrmypdf, then ingest again"
        )
    starts, offset = [], 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + 2  # the "\n\n" between pages
    return Parsed("\n\n".join(texts), title=title, page_starts=starts)


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
