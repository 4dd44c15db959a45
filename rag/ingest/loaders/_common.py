"""What the format loaders share: their result, their rejection, text decoding, headings."""

from __future__ import annotations

import codecs
import contextlib
from dataclasses import dataclass, field

from rag.documents import OcrPage, Section


class Reject(Exception):
    """Raised by a loader with the one-line reason; load_file turns it into a LoadError."""


@dataclass(frozen=True)
class Limits:
    """What one file may expand to: decompression bombs (a 41 KB DOCX of 9 million characters,
    a 1.2 MB one of 300 MB of XML) are refused on these, not only on the file's own size."""

    max_chars: int = 5_000_000
    max_expanded_bytes: int = 200 * 1024 * 1024
    max_expansion_ratio: float = 100.0
    # OCR: pages read per file (Tesseract takes seconds a page), and the pixels of one image or
    # rendered page (an 80-megapixel page is A3 at 600 dpi; a PNG "bomb" declares billions).
    max_ocr_pages: int = 200
    max_image_pixels: int = 80_000_000


def too_many_chars(chars: int, limits: Limits, kind: str) -> str:
    return (
        f"{kind} text is over the {limits.max_chars:,}-character limit (read {chars:,} before "
        "stopping); raise RAG_MAX_DOC_CHARS to index it"
    )


@dataclass
class Parsed:
    text: str
    title: str | None = None
    page_starts: list[int] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ocr_pages: list[OcrPage] = field(default_factory=list)


def one_line(e: BaseException, limit: int = 160) -> str:
    """'ClassName: message' on one line, cut to `limit` characters."""
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


# UTF-32 before UTF-16: the UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CONTROL = bytes([*range(0, 9), *range(14, 27), *range(28, 32), 127])  # not \t\n\v\f\r, ESC


def sniff_unicode(raw: bytes) -> str | None:
    """Decode by BOM or by UTF-16's NUL pattern; reject binary; None: some 8-bit encoding."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            return raw[len(bom) :].decode(encoding, errors="replace")
    sample = raw[:8192]
    half = max(1, len(sample) // 2)
    even_nuls, odd_nuls = sample[0::2].count(0), sample[1::2].count(0)
    if odd_nuls > 0.3 * half and even_nuls < 0.05 * half:  # ASCII in UTF-16 LE: "a\0b\0"
        return raw.decode("utf-16-le", errors="replace")
    if even_nuls > 0.3 * half and odd_nuls < 0.05 * half:
        return raw.decode("utf-16-be", errors="replace")
    controls = len(sample) - len(sample.translate(None, _CONTROL))
    if 0 in sample or controls > 0.05 * len(sample):
        raise Reject("binary file, not text (is the extension wrong?)")
    return None


def decode_text(raw: bytes) -> str:
    """Text from bytes: BOM, UTF-16, strict UTF-8, cp1252, then latin-1 (which never fails)."""
    return decode_text_noting(raw)[0]


CP1252_NOTE = (
    "not valid UTF-8: read as Windows-1252 (cp1252); if some characters look wrong, "
    "save the file as UTF-8 and ingest it again"
)


def decode_text_noting(raw: bytes) -> tuple[str, list[str]]:
    """decode_text, and a note when the encoding was a guess (not UTF-8, no BOM)."""
    text = sniff_unicode(raw)
    if text is None:
        with contextlib.suppress(UnicodeDecodeError):
            return normalize_newlines(raw.decode("utf-8")), []
        with contextlib.suppress(UnicodeDecodeError):
            return normalize_newlines(raw.decode("cp1252")), [CP1252_NOTE]
        note = CP1252_NOTE.replace("Windows-1252 (cp1252)", "Latin-1")
        return normalize_newlines(raw.decode("latin-1")), [note]
    return normalize_newlines(text), []


class Headings:
    """Turns (level, title) headings into Sections whose path is the chain of parent titles."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, str]] = []
        self.sections: list[Section] = []
        self.first: tuple[int, str] | None = None  # the first level-1 heading, else the first

    def add(self, start: int, level: int, title: str) -> None:
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, title))
        self.sections.append(Section(start, " > ".join(t for _, t in self.stack)))
        if self.first is None or (level == 1 and self.first[0] != 1):
            self.first = (level, title)

    @property
    def title(self) -> str | None:
        return self.first[1] if self.first else None
