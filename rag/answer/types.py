"""What an answer is: sentences, each with the exact source spans that support it."""

from __future__ import annotations

from collections.abc import Iterable
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
    # The span's page was read by OCR: its mean word confidence (0-100), and whether it is low.
    ocr_confidence: float | None = None
    low_confidence: bool = False

    def location(self) -> str:
        return format_location(self.page, self.section, self.start, self.end)


@dataclass(frozen=True)
class ShortAnswer:
    """The name, date or number the question asks for, inside a cited sentence: `start` and
    `end` are offsets in that citation's document (within the citation's span)."""

    text: str
    start: int
    end: int
    citation: int  # the number of the citation whose quote holds it


@dataclass
class AnswerSentence:
    text: str
    citations: list[int]  # Citation numbers
    supported: bool = True
    support: float = 0.0  # how strongly the cited spans back it (0-1)
    # What the model cited itself ([n] markers, by source number) and whether the code agreed.
    model_markers: list[int] = field(default_factory=list)
    markers_confirmed: bool | None = None
    reason: str = ""  # why nothing supports it, when it is unsupported

    def rendered(self) -> str:
        """The sentence with its [n] markers, or flagged when nothing supports it."""
        if not self.supported:
            return f"{self.text} [unsupported]"
        marks = "".join(f"[{n}]" for n in self.citations)
        return f"{self.text} {marks}" if marks else self.text


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
    # Sentences the model wrote that no retrieved span supports (kept out of `text` by default).
    dropped: list[AnswerSentence] = field(default_factory=list)
    # Set when a generative backend produced nothing supported and the extractive answer stands in.
    fallback: str | None = None
    model_text: str | None = None  # the model's raw output, for inspection
    short_answer: ShortAnswer | None = None

    def dropped_note(self) -> str:
        """A line saying how many sentences the model wrote were dropped, or ''."""
        n = sum(1 for d in self.dropped if not d.supported)
        if not n:
            return ""
        return (
            f"{n} sentence{'s' if n > 1 else ''} the model wrote {'were' if n > 1 else 'was'} "
            f"dropped: no retrieved passage supports {'them' if n > 1 else 'it'}."
        )

    def render(self) -> str:
        """The answer with [n] markers after each supported sentence."""
        if self.refused:
            return self.text
        return " ".join(s.rendered() for s in self.sentences)

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
            "dropped": [asdict(s) for s in self.dropped],
            "fallback": self.fallback,
            "model_text": self.model_text,
            "short_answer": asdict(self.short_answer) if self.short_answer else None,
        }


@dataclass(frozen=True)
class Delta:
    """Raw text from the answerer as it arrives: shown live, not yet checked against sources."""

    text: str


@dataclass(frozen=True)
class Checked:
    """One sentence aligned to the sources: kept with its citations, or flagged unsupported.
    A consumer replaces the raw text it showed since the last Checked with `sentence.rendered()`,
    or with nothing when `kept` is false."""

    sentence: AnswerSentence
    citations: list[Citation]
    kept: bool


@dataclass(frozen=True)
class Retrieved:
    """The passages the answer is written from, sent before any text (the app shows them)."""

    hits: list[SearchHit]


def final_answer(events: Iterable[object]) -> Answer:
    """The Answer that ends an answer stream (the events before it are passed over)."""
    for event in events:
        if isinstance(event, Answer):
            return event
    raise AssertionError("the answer stream ended without an Answer")


StreamEvent = Delta | Checked | Answer  # what an answerer yields
AskEvent = Retrieved | StreamEvent  # what RagIndex.ask_stream yields
