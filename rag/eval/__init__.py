"""Evaluation: retrieval, answers, citations and refusals on real data, with regression gates."""

from .answers import eval_answers
from .generate import generate
from .report import compare
from .retrieval import eval_retrieval

__all__ = ["compare", "eval_answers", "eval_retrieval", "generate"]
