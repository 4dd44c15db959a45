"""Answers with verified citations: backends, evidence scoring, and the Answer type."""

from .extractive import ExtractiveAnswerer
from .types import REFUSAL, Answer, AnswerSentence, Citation

__all__ = ["REFUSAL", "Answer", "AnswerSentence", "Citation", "ExtractiveAnswerer"]
