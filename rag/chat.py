"""Conversations: a follow-up question is rewritten into a standalone one before retrieval.

Without a language model the rewrite carries the previous turn's names into the new question:
"What did Austin say?" then "What did he say about Japan?" searches for "What did Austin say
about Japan?". The rewritten question is kept with each turn so a person can see what was used.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from .answer import Answer

_PERSONAL = {"he", "she", "him", "her", "his", "hers", "they", "them", "their", "theirs"}
_THINGS = {"it", "its", "this", "that", "these", "those"}
_PRONOUN = re.compile(r"\b(" + "|".join(sorted(_PERSONAL | _THINGS)) + r")\b", re.IGNORECASE)
_FOLLOW_UP = re.compile(r"^\s*(and|also|what about|how about|and what about)\b", re.IGNORECASE)
_NAME = re.compile(r"\b[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*")
_NOT_NAMES = {
    "what",
    "who",
    "whom",
    "which",
    "when",
    "where",
    "why",
    "how",
    "did",
    "does",
    "do",
    "is",
    "are",
    "was",
    "were",
    "the",
    "a",
    "an",
    "i",
    "and",
    "also",
    "in",
    "on",
}


def names_in(text: str) -> list[str]:
    """Capitalised names in a question ('Lloyd Austin', 'Japan'), question words left out."""
    out: list[str] = []
    for m in _NAME.finditer(text):
        words = [w for w in m.group().split() if w.lower().strip(".") not in _NOT_NAMES]
        name = " ".join(words).strip(" .?!,")
        if name and name not in out:
            out.append(name)
    return out


def rewrite(question: str, previous: str | None) -> str:
    """A standalone version of `question`, given the previous standalone question."""
    if not previous:
        return question
    carried = [n for n in names_in(previous) if n.lower() not in question.lower()]
    if not carried:
        return question
    subject = carried[0]
    if _PRONOUN.search(question):

        def swap(m: re.Match[str]) -> str:
            word = m.group().lower()
            if word in {"his", "her", "hers", "their", "theirs", "its"}:
                return subject + "'s"
            if word in {"this", "that", "these", "those"}:
                return m.group()  # demonstratives usually point at a noun that follows
            return subject

        return _PRONOUN.sub(swap, question, count=1)
    cue = _FOLLOW_UP.match(question)
    rest = _FOLLOW_UP.sub("", question).strip(" ?")
    if (cue or len(question.split()) <= 3) and len(rest.split()) <= 3:
        # "And Taiwan?", "What about Kishi?": the previous question, about something else.
        rest = re.sub(r"^about\s+", "", rest, flags=re.IGNORECASE)
        return f"{previous.rstrip(' ?')} about {rest}?" if rest else previous
    return question


@dataclass
class Turn:
    question: str
    standalone: str
    answer: Answer


@dataclass
class Conversation:
    """History of one chat; `ask` is the index's ask (or any function with its signature)."""

    ask: Callable[[str], Answer]
    turns: list[Turn] = field(default_factory=list)

    def send(self, question: str) -> Turn:
        previous = self.turns[-1].standalone if self.turns else None
        standalone = rewrite(question, previous)
        answer = self.ask(standalone)
        if standalone != question:
            answer.standalone_question = standalone
        turn = Turn(question, standalone, answer)
        self.turns.append(turn)
        return turn
