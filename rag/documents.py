"""The data that flows through rag: documents, their chunks, and search hits."""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from typing import TypeVar

FILE_TYPES = ("txt", "md", "html", "pdf", "docx", "image")

T = TypeVar("T")

# A page read by OCR whose words Tesseract trusts less than this on average (0-100) is flagged.
# Chosen on half the generated pages (benchmarks/ocr_accuracy.py), it flagged the 4 pages under
# 90% word accuracy of the other half and no other; every page of the generated set read at 93.5
# or more (BENCHMARKS.md, OCR).
LOW_OCR_CONFIDENCE = 85.0


def content_hash(data: bytes) -> str:
    """The hash that decides whether a file changed (and so whether to re-embed it)."""
    return hashlib.sha256(data).hexdigest()


def text_hash(text: str) -> str:
    """Identity of a chunk's text: equal text means an equal embedding, which can be reused."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def document_id(source: str) -> str:
    """A short stable id for a document, derived from where it came from."""
    return hashlib.sha256(source.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Section:
    """A heading that starts at `start` in the document text; `path` joins its parents with ' > '."""

    start: int
    path: str


@dataclass(frozen=True)
class OcrPage:
    """A page whose text came from OCR, and the mean confidence of its words (0-100)."""

    page: int
    confidence: float

    @property
    def low_confidence(self) -> bool:
        return low_ocr_confidence(self.confidence)


def low_ocr_confidence(confidence: float | None) -> bool:
    """Whether text read by OCR with this mean word confidence is flagged (None: not OCR)."""
    return confidence is not None and confidence < LOW_OCR_CONFIDENCE


@dataclass
class Document:
    """A file's text, with maps from character offsets to pages and to headings."""

    source: str
    file_type: str
    text: str
    content_hash: str
    title: str | None = None
    # page_starts[i] is the offset where page i+1 begins (PDF only).
    page_starts: list[int] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)
    # What a person should know about how the file was read (e.g. a guessed encoding).
    notes: list[str] = field(default_factory=list)
    # The pages read by OCR (an image file is page 1), with their confidence.
    ocr_pages: list[OcrPage] = field(default_factory=list)

    @property
    def id(self) -> str:
        return document_id(self.source)

    def ocr_page(self, page: int | None) -> OcrPage | None:
        """The OCR record of `page`, if that page was read by OCR."""
        return next((p for p in self.ocr_pages if p.page == page), None)

    def page_at(self, offset: int) -> int | None:
        if not self.page_starts:
            return None
        return max(1, bisect.bisect_right(self.page_starts, offset))

    def section_at(self, offset: int) -> str | None:
        starts = [s.start for s in self.sections]
        i = bisect.bisect_right(starts, offset) - 1
        return self.sections[i].path if i >= 0 else None


@dataclass(frozen=True)
class Chunk:
    """A span [start, end) of a document's text, sized to fit the embedding model."""

    ordinal: int
    start: int
    end: int
    text: str
    n_tokens: int

    @property
    def text_hash(self) -> str:
        return text_hash(self.text)


def format_location(page: int | None, section: str | None, start: int, end: int) -> str:
    """Where a span is, in words a person reads: 'p. 3, § Install, chars 10-200'."""
    parts = []
    if page is not None:
        parts.append(f"p. {page}")
    if section:
        parts.append(f"§ {section}")
    parts.append(f"chars {start}-{end}")
    return ", ".join(parts)


@dataclass
class SearchHit:
    """One ranked chunk, with everything a citation needs."""

    chunk_id: int
    doc_id: str
    source: str
    file_type: str
    start: int
    end: int
    text: str
    score: float
    rank: int = 0
    page: int | None = None
    section: str | None = None
    # Rank of this chunk in each retriever that found it (1-based), for inspection.
    ranks: dict[str, int] = field(default_factory=dict)
    # When the chunk's page was read by OCR: the mean confidence of its words (0-100).
    ocr_confidence: float | None = None
    # Pages that begin inside the chunk, as (offset in the document, page number), and the OCR
    # confidence of each page it touches: a span inside the chunk is cited with its own page.
    page_breaks: list[tuple[int, int]] = field(default_factory=list)
    ocr_by_page: dict[int, float] = field(default_factory=dict)
    # Headings that begin inside the chunk, as (offset in the document, section path): a span
    # inside it is cited with its own section ("Handbook > Leave"), not the chunk's first one.
    section_breaks: list[tuple[int, str]] = field(default_factory=list)

    @property
    def low_confidence(self) -> bool:
        return low_ocr_confidence(self.ocr_confidence)

    def page_at(self, offset: int) -> int | None:
        """The page of a document offset inside this chunk."""
        return _in_force(self.page, self.page_breaks, offset)

    def section_at(self, offset: int) -> str | None:
        """The section of a document offset inside this chunk."""
        return _in_force(self.section, self.section_breaks, offset)

    def location(self) -> str:
        return format_location(self.page, self.section, self.start, self.end)

    def to_dict(self) -> dict[str, object]:
        return {
            "rank": self.rank,
            "score": self.score,
            "chunk_id": self.chunk_id,
            "doc_id": self.doc_id,
            "source": self.source,
            "file_type": self.file_type,
            "start": self.start,
            "end": self.end,
            "page": self.page,
            "section": self.section,
            "ranks": self.ranks,
            "ocr_confidence": self.ocr_confidence,
            "low_confidence": self.low_confidence,
            "text": self.text,
        }


def _in_force(first: T | None, breaks: list[tuple[int, T]], offset: int) -> T | None:
    """What holds at `offset` of a chunk: `first` (at its start), or the last of the `breaks`
    (offset, value) that begin at or before it."""
    value = first
    for start, v in breaks:
        if start <= offset:
            value = v
    return value
