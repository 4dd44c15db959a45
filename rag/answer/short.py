"""Short answers: the name, date or number inside the cited sentence that a who/when/how-many
question asks for. Shown beside the cited sentence (highlighted in it), never instead of it."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .evidence import expected_type, new_names
from .features import stem_word
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
    r"metres|meters|millimetres|millimeters|mm|cm|kg|tonnes|tons|years|days|hours|minutes|"
    r"people|troops)|-(?:kilometre|kilometer|mile|metre|meter|millimetre|millimeter|tonne|ton)s?)?"
    r"\b",
    re.IGNORECASE,
)


# A number glued to a name by a hyphen ("Zephyr-9", "F-16") names a thing; it counts nothing.
_GLUED = re.compile(r"[A-Za-z]-$")
# "in 1976", "since 1990": the date is the answer, not its preposition.
_LEAD = re.compile(r"(?:in|since|by|until|from)\s+", re.IGNORECASE)
_YEAR = re.compile(r"(?:1\d|20)\d\d")
_TOKEN = re.compile(r"\w+")
_MONEY = re.compile(
    r"\b(?:cost|costs|price|prices|pay|paid|pays|spend|spent|worth|budget|fund|funding|fee|"
    r"fees|salary|wage|wages|revenue|revenues|profit|profits|compensation|award|fine|sales)\b|"
    r"how much money|[$£€]"
)
_PRICED = re.compile(r"[$£€]|.*\b(?:dollars|pounds|euros|pence|cents)\b", re.IGNORECASE)
# A news dateline: a place and a comma, the date, then a dash (maybe after an agency,
# "(Reuters) -").
_DATELINE_START = re.compile(r"\s*[A-Z][\w.'’ -]{1,40},\s*")
_DATELINE_END = re.compile(r"\s*(?:\([A-Z][\w .]*\)\s*)?(?:—|–|--?)\s")


def _spans(kind: str | None, question: str, sentence: str) -> list[tuple[int, int]]:
    asked = question.lower()
    if kind == "number":
        return [
            m.span()
            for m in _QUANTITY.finditer(sentence)
            if not _GLUED.search(sentence[max(0, m.start() - 2) : m.start()])
        ]
    if kind == "time":
        out = []
        for m in _DATE.finditer(sentence):
            lead = _LEAD.match(sentence, m.start())
            out.append((lead.end() if lead else m.start(), m.end()))
        return out
    if kind == "name" and re.match(r"\s*(who|whom|whose)\b", asked):
        names = new_names(sentence, question)
        return sorted(
            (m.start(), m.end()) for n in names for m in re.finditer(re.escape(n), sentence)
        )
    return []


def find_short(question: str, sentence: str, offset: int, citation: int) -> ShortAnswer | None:
    """The span of the asked-for type in `sentence` that the question does not already contain:
    for a number or a date, the one nearest the question's own words ("How many varieties
    does the garden have?" in "... planted in 1976 and has 300 varieties": 300, beside
    "varieties"); a year counts last for "how many" (a date, not a count), and a number glued
    to a name ("Zephyr-9") not at all; for a name, the first. None when the
    question asks for no such type or the sentence has none. Measured on the training
    articles' questions and reported held out in EVAL.md ("Short answers")."""
    kind = expected_type(question)
    asked = question.lower()
    wanted = {stem_word(w) for w in _TOKEN.findall(asked) if len(w) > 2}
    words = [(m.start(), m.end(), stem_word(m.group().lower())) for m in _TOKEN.finditer(sentence)]
    best: tuple[tuple[int, int, int], str, int] | None = None
    dates = [m.span() for m in _DATE.finditer(sentence)] if kind == "number" else []
    money = kind == "number" and bool(_MONEY.search(asked))
    for a, b in _spans(kind, question, sentence):
        text = sentence[a:b].strip(" ,.")
        if not text or text.lower() in asked or not any(ch.isalnum() for ch in text):
            continue
        a = a + sentence[a:b].find(text)
        b = a + len(text)
        distance = 0
        if kind in ("number", "time"):
            inside = [i for i, (s, e, _) in enumerate(words) if s >= a and e <= b] or [0]
            lo, hi = min(inside), max(inside)
            anchors = [
                i for i, (s, e, st) in enumerate(words) if st in wanted and not (s >= a and e <= b)
            ]
            distance = min((lo - i if i < lo else i - hi for i in anchors), default=999)
        year = kind == "number" and bool(_YEAR.fullmatch(text))
        counted = year and not asked.startswith(("how old", "how long"))
        # "HARBOR CITY, 12 March 2024 — The terminal stays closed until 30 April": the
        # dateline dates the report: the last "when" to give, and never a count.
        dateline = _in_dateline(sentence, a, b)
        if dateline and kind == "number":
            continue
        # "94 millimetres of rain on June 8": a day of the month counts nothing.
        if kind == "number" and any(s <= a and b <= e and (s, e) != (a, b) for s, e in dates):
            continue
        # "How much did the estimate rise?" asks for money: "$1.1 billion", not "14-kilometre".
        unpriced = money and not _PRICED.match(text)
        key = (int(counted) + int(dateline) + int(unpriced), distance, a)
        if best is None or key < best[0]:
            best = (key, text, a)
    if best is None:
        return None
    _, text, a = best
    return ShortAnswer(text, offset + a, offset + a + len(text), citation)


def _in_dateline(sentence: str, a: int, b: int) -> bool:
    """Whether [a, b) lies in the sentence's news dateline ("HARLOW, March 20, 2024 — ...")."""
    start = _DATELINE_START.match(sentence)
    if start is None or a < start.end():
        return False
    dash = _DATELINE_END.search(sentence, b)
    return dash is not None and bool(_DATE.fullmatch(sentence[start.end() : dash.start()].strip()))


def short_answer(question: str, citations: Sequence[Citation]) -> ShortAnswer | None:
    """The first short answer found in the citations, tried in the order given (best first)."""
    for c in citations:
        found = find_short(question, c.quote, c.start, c.number)
        if found is not None:
            return found
    return None
