"""What an answer is: sentences, each with the exact source spans that support it."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..documents import SearchHit, format_location

REFUSAL = "I could not find this in your documents."


@dataclass(frozen=True)
class Citation:
    """A span of a retrieved chunk: document, character offsets in it, and the quoted text."""

    number: int
    chunk_id: int
    doc_id: str
    source: str
    start: int
    end: int
    quote: str
    page: int | None = None
    section: str | None = None

    def location(self) -> str:
        return format_location(self.page, self.section, self.start, self.end)


@dataclass
class AnswerSentence:
    text: str
    citations: list[int]  # Citation numbers
    supported: bool = True
    support: float = 0.0  # how strongly the cited spans back it (0-1)


@dataclass
class Answer:
    question: str
    text: str
    sentences: list[AnswerSentence]
    citations: list[Citation]
    refused: bool
    backend: str
    standalone_question: str | None = None
    passages: list[SearchHit] = field(default_factory=list)
    confidence: float = 0.0
    timings_ms: dict[str, float] = field(default_factory=dict)

    def render(self) -> str:
        """The answer with [n] markers after each supported sentence."""
        if self.refused:
            return self.text
        parts = []
        for s in self.sentences:
            marks = "".join(f"[{n}]" for n in s.citations)
            parts.append(f"{s.text}{' ' + marks if marks else ''}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "standalone_question": self.standalone_question,
            "text": self.text,
            "rendered": self.render(),
            "refused": self.refused,
            "backend": self.backend,
            "confidence": self.confidence,
            "sentences": [asdict(s) for s in self.sentences],
            "citations": [asdict(c) for c in self.citations],
            "passages": [h.to_dict() for h in self.passages],
            "timings_ms": self.timings_ms,
        }
