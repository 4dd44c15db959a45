"""Answers with verified citations: backends, evidence scoring, and the Answer type."""

from .extractive import ExtractiveAnswerer
from .factory import Answerer, make_answerer, make_llm
from .generative import GenerativeAnswerer
from .types import (
    REFUSAL,
    Answer,
    AnswerSentence,
    AskEvent,
    Checked,
    Citation,
    Delta,
    Retrieved,
    StreamEvent,
)

__all__ = [
    "REFUSAL",
    "Answer",
    "AnswerSentence",
    "Answerer",
    "AskEvent",
    "Checked",
    "Citation",
    "Delta",
    "ExtractiveAnswerer",
    "GenerativeAnswerer",
    "Retrieved",
    "StreamEvent",
    "make_answerer",
    "make_llm",
]
