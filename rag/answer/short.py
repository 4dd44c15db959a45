"""Short answers: the name, date or number inside the cited sentence that a who/when/how-many
question asks for. Shown beside the cited sentence (highlighted in it), never instead of it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .evidence import expected_type, new_names
from .types import Citation, ShortAnswer

_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\.?"
)
_DAY = r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)"
_DATE = re.compile(
    rf"\b(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?"
    rf"|{_MONTH}\s+\d{{4}}|(?:in|since|by|until|from)\s+\d{{3,4}}s?|\d{{4}}s?|{_DAY}|"
    rf"\d{{1,2}}(?:st|nd|rd|th)\s+century)\b"
)
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|"
    r"ninety|hundred|thousand|million|billion|dozen|dozens|hundreds|thousands|millions"
)
_QUANTITY = re.compile(
    rf"(?:[$£€]\s?)?\b(?:\d[\d,]*(?:\.\d+)?|(?:{_NUMBER_WORDS})(?:[\s-](?:{_NUMBER_WORDS}))*)"
    r"(?:\s?(?:%|percent|per cent|million|billion|thousand|km|kilometres|kilometers|miles|"
    r"metres|meters|kg|tonnes|tons|years|days|hours|minutes|people|troops))?\b",
    re.IGNORECASE,
)


def find_short(question: str, sentence: str, offset: int, citation: int) -> ShortAnswer | None:
    """The first span of the asked-for type in `sentence` that the question does not already
    contain; None when the question asks for no such type or the sentence has none."""
    kind = expected_type(question)
    asked = question.lower()
    spans: list[tuple[int, int]] = []
    if kind == "number":
        spans = [m.span() for m in _QUANTITY.finditer(sentence)]
    elif kind == "time":
        spans = [m.span() for m in _DATE.finditer(sentence)]
    elif kind == "name" and re.match(r"\s*(who|whom|whose)\b", asked):
        names = new_names(sentence, question)
        spans = sorted(
            (m.start(), m.end()) for n in names for m in re.finditer(re.escape(n), sentence)
        )
    for a, b in spans:
        text = sentence[a:b].strip(" ,.")
        if not text or text.lower() in asked or not any(ch.isalnum() for ch in text):
            continue
        a = a + sentence[a:b].find(text)
        return ShortAnswer(text, offset + a, offset + a + len(text), citation)
    return None


def short_answer(question: str, citations: Sequence[Citation]) -> ShortAnswer | None:
    """The first short answer found in the citations, tried in the order given (best first)."""
    for c in citations:
        found = find_short(question, c.quote, c.start, c.number)
        if found is not None:
            return found
    return None
