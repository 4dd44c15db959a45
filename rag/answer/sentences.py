"""Sentence spans with character offsets: the unit that answers are built from and cited by."""

from __future__ import annotations

import re
from dataclasses import dataclass

# A sentence ends at . ! ? (and any closing quotes or brackets) followed by space and a likely
# sentence start, or at a line break.
_END = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s+["'“‘(\[]?[A-Z0-9])|\n+""")
# Abbreviations after which a period does not end a sentence.
_ABBREV = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "fig",
        "no",
        "nos",
        "vol",
        "pp",
        "approx",
        "inc",
        "ltd",
        "co",
        "corp",
        "gen",
        "col",
        "lt",
        "sgt",
        "capt",
        "rep",
        "sen",
        "gov",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "u.s",
        "u.k",
        "u.n",
    ]
)
_TOKEN = re.compile(r"[\w.]+$")
_INITIAL = re.compile(r"\s+[A-Z]\.\s")  # "Lloyd. J. Austin": a name, not a sentence end


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


def split_sentences(text: str, offset: int = 0) -> list[Span]:
    """Sentences of `text` (stripped), with offsets shifted by `offset`."""
    spans: list[Span] = []
    start = 0
    for m in _END.finditer(text):
        cut = m.end() if m.group().strip() else m.start()
        if m.group().startswith(".") and (
            _is_abbreviation(text, m.start()) or _INITIAL.match(text, m.end())
        ):
            continue
        _add(spans, text, start, cut, offset)
        start = m.end()
    _add(spans, text, start, len(text), offset)
    return spans


def _is_abbreviation(text: str, dot: int) -> bool:
    m = _TOKEN.search(text, 0, dot)
    if m is None:
        return False
    word = m.group().lower().rstrip(".")
    # Initials ("J. Austin", "U.S.") and known abbreviations do not end a sentence.
    return (len(word) == 1 and word.isalpha()) or word in _ABBREV


def _add(spans: list[Span], text: str, start: int, end: int, offset: int) -> None:
    piece = text[start:end]
    stripped = piece.strip()
    if not stripped:
        return
    lead = len(piece) - len(piece.lstrip())
    s = start + lead
    spans.append(Span(offset + s, offset + s + len(stripped), stripped))
