"""A candidate sentence among the other sentences of its passage: its neighbours, the
quotation it leaves open or closes, the sentence that says whom its pronoun means, and whose
words it gives (for "What did X say?"). The extractive answerer's choices read these."""

from __future__ import annotations

import re

from ..text.markup import plain_text
from .evidence import CAPITALISED, SPEECH, TITLES, Candidate, new_names
from .speakers import (
    another_namesake,
    names_outside_quotes,
    on_topic,
    quoted_speakers,
    spoken_by,
    spoken_by_another,
    unquoted,
)


def sentences_before(cands: list[Candidate], c: Candidate) -> list[Candidate]:
    """The sentences before `c` in its retrieved passage that could stand in an answer."""
    return [
        p
        for p in cands
        if p.hit.chunk_id == c.hit.chunk_id and p.end <= c.start and not p.row and p.score > 0
    ]


def quote_run(cands: list[Candidate], c: Candidate, *, after: bool) -> list[Candidate]:
    """The sentences of `c`'s passage that complete a quotation it leaves open: after it, up to
    the one that closes a quotation `c` opens; before it, back to the one that opens a
    quotation `c` closes. None when that end is not within two sentences (or the passage ends
    first)."""
    leaves_open, completes = (opens_quote, closes_quote) if after else (closes_quote, opens_quote)
    if not leaves_open(plain_text(c.reading)):
        return []
    out: list[Candidate] = []
    for n in neighbours(cands, c, after=after)[:_QUOTE_RUN]:
        out.append(n)
        if completes(plain_text(n.reading)):
            return out
    return []


def neighbours(cands: list[Candidate], c: Candidate, *, after: bool) -> list[Candidate]:
    """The sentences of `c`'s passage after it (nearest first), or before it (nearest first)."""
    same = [n for n in cands if n.hit.chunk_id == c.hit.chunk_id and not n.row]
    if after:
        return sorted((n for n in same if n.start >= c.end), key=lambda n: n.start)
    return sorted((n for n in same if n.end <= c.start), key=lambda n: -n.end)


def speaks_of(cands: list[Candidate], c: Candidate, topic: set[str], speakers: list[str]) -> bool:
    if on_topic(plain_text(c.reading), topic):
        return True
    if not SPEECH.search(plain_text(c.reading)):
        return False  # "Vasquez did not attend." after a sentence on the rail line says nothing
    before = neighbours(cands, c, after=False)[:1]
    return any(
        on_topic(plain_text(p.reading), topic) and not words_of_another(cands, p, speakers)
        for p in before
    )


def words_of_another(cands: list[Candidate], c: Candidate, speakers: list[str]) -> bool:
    """Whether `c` gives the words of someone other than `speakers`: it says whose they are
    ("'...,' Kessler told supporters."), or it is a bare quotation that goes on from the
    sentence before it, which does ("... said Willem Bakker. 'Shifts will start at five.'")."""
    text = plain_text(c.reading)
    if spoken_by_another(text, speakers):
        return True
    if not bare_quote(text) or names_outside_quotes(text, speakers):
        return False
    prev = next(iter(neighbours(cands, c, after=False)), None)
    return prev is not None and spoken_by_another(plain_text(prev.reading), speakers)


def opens_with(c: Candidate, names: list[str]) -> bool:
    """Whether one of `names` is among the sentence's first six words (most likely its
    subject)."""
    opening = " ".join(plain_text(c.reading).split()[:6])
    return any(re.search(rf"\b{re.escape(n)}\b", opening) for n in names)


def next_sentence(cands: list[Candidate], c: Candidate) -> Candidate | None:
    return next(iter(neighbours(cands, c, after=True)), None)


def says_more(nxt: Candidate, c: Candidate, speakers: list[str]) -> bool:
    """Whether `nxt`, the sentence after `c`, gives more words of the person `c` names or
    quotes: it opens with a pronoun that says something ("She said ...")."""
    text = plain_text(nxt.reading)
    first = plain_text(c.reading)
    names_them = any(re.search(rf"\b{re.escape(n)}\b", first) for n in speakers)
    pronoun = PRONOUN_LED.match(text)
    return bool(names_them and pronoun and spoken_by(text, [pronoun.group(1)]))


def theirs(cands: list[Candidate], c: Candidate, speakers: list[str]) -> bool:
    """Whether `c` names one of `speakers` outside its quotation, or names nobody (a pronoun,
    a bare quotation, "the statement said") and goes on from sentences before it that name
    nobody either, back to one that names them (at most `_QUOTE_RUN` back)."""
    for n in [c, *neighbours(cands, c, after=False)[:_QUOTE_RUN]]:
        text = plain_text(n.reading)
        if names_outside_quotes(text, speakers):
            return True
        if quoted_speakers(text) or new_names(unquoted(text), ""):
            return False  # somebody else's words, or a sentence about somebody else
    return False


def bare_quote(text: str) -> bool:
    """A quotation that opens the sentence and says whose it is nowhere in it."""
    marks = quote_marks(text)
    return (
        bool(marks)
        and marks[0] == "open"
        and text.lstrip()[:1] in '“"'
        and not quoted_speakers(text)
    )


def own_words(c: Candidate, speakers: list[str]) -> bool:
    text = plain_text(c.reading)
    return spoken_by(text, speakers) and not another_namesake(text, speakers)


def goes_on(nxt: Candidate, c: Candidate, speakers: list[str]) -> bool:
    """Whether `nxt` is a quotation that says whose it is nowhere, right after `c`, which
    gives the words of one of `speakers`: the same person going on."""
    return bare_quote(plain_text(nxt.reading)) and spoken_by(plain_text(c.reading), speakers)


def opens_quote(text: str) -> bool:
    """The text's last quotation mark opens a quotation: it runs on past the text."""
    marks = quote_marks(text)
    return bool(marks) and marks[-1] == "open"


def closes_quote(text: str) -> bool:
    """The text's first quotation mark closes a quotation that began before the text."""
    marks = quote_marks(text)
    return bool(marks) and marks[0] == "close"


def quote_marks(text: str) -> list[str]:
    """'open' or 'close' for each double quotation mark: curly ones say which they are; a
    straight one opens before a word ('"A bridge') and closes after one ('forgotten," he').
    One with a space or nothing on both sides says neither and is left out."""
    out = []
    for m in re.finditer(r'[“”"]', text):
        mark = m.group()
        if mark != '"':
            out.append("open" if mark == "“" else "close")
            continue
        before = text[m.start() - 1] if m.start() else " "
        after = text[m.end()] if m.end() < len(text) else " "
        if (
            not before.isspace()
            and before not in "([{"
            and (after.isspace() or after in ".,;:!?)]}")
        ):
            out.append("close")
        elif (before.isspace() or before in "([{") and not after.isspace():
            out.append("open")
    return out


_QUOTE_RUN = 2  # sentences a quotation may run on past the chosen one


def antecedent(cands: list[Candidate], c: Candidate, question: str) -> Candidate | None:
    """The sentence before `c` in its passage that says whom its pronoun means. For he or she:
    of the three before it, the nearest naming someone the question names, else the nearest
    naming anyone, else the one just before ("Operating margin was 9 percent. She warned ..."
    names nobody). For it or they, which mostly mean a thing: the one just before."""
    earlier = sorted(sentences_before(cands, c), key=lambda p: -p.end)[:3]
    pronoun = PRONOUN_LED.match(plain_text(c.reading))
    if pronoun is None or pronoun.group(1).lower() not in ("he", "she", "his", "her"):
        return earlier[0] if earlier else None
    asked = [w for w in CAPITALISED.findall(question)[1:] if w.lower() not in TITLES]
    for p in earlier:
        if any(re.search(rf"\b{re.escape(w)}\b", plain_text(p.reading)) for w in asked):
            return p
    for p in earlier:
        words = CAPITALISED.findall(plain_text(p.reading))[1:]
        if any(w.lower() not in TITLES and w.lower() not in _NOT_SURNAME for w in words):
            return p
    # The one just before, unless it is a bare quotation: somebody's words, unattributed,
    # that say whom "her" means no better ("... is worth it." Her lawyer, Callum Reid, ...).
    if earlier and not bare_quote(plain_text(earlier[0].reading)):
        return earlier[0]
    return None


def introduction(cands: list[Candidate], c: Candidate) -> Candidate | None:
    """For a sentence whose subject is one capitalised word (a surname), the first earlier
    sentence of its passage that writes it as part of a longer name; else None."""
    text = plain_text(c.reading)
    m = _SUBJECT.match(text)
    if not m or m.group("word").lower() in _NOT_SURNAME:
        return None
    name = re.compile(r"\b([A-Z][\w.'’-]*)\s+" + re.escape(m.group("word")) + r"\b")

    def names_in_full(t: str) -> bool:  # "James P. Flynn", not "In Flynn" nor "The Flynn"
        return any(x.group(1).lower() not in _NOT_SURNAME for x in name.finditer(t))

    if names_in_full(text):
        return None  # the sentence names it in full itself
    named = [p for p in sentences_before(cands, c) if names_in_full(plain_text(p.reading))]
    return min(named, key=lambda p: p.start, default=None)


# A subject at the start, after at most a short opening phrase and its comma ("In 1997, Flynn").
_SUBJECT = re.compile(r"(?:[^,.;:]{0,40},\s+)?[\"'“‘(]*(?P<word>[A-Z][a-z][\w'’-]*)\s+[a-z]")
# Capitalised words that open sentences without naming anyone.
_NOT_SURNAME = frozenset([
    "the", "a", "an", "in", "on", "at", "by", "for", "from", "with", "as", "after", "before",
    "during", "since", "this", "that", "these", "those", "there", "here", "it", "its", "he",
    "she", "they", "his", "her", "their", "we", "our", "i", "you", "when", "while", "although",
    "though", "if", "but", "and", "or", "so", "yet", "however", "also", "then", "thus", "today",
    "some", "many", "most", "all", "each", "both", "one", "two",
])  # fmt: skip

PRONOUN_LED = re.compile(r"[\"'“‘(]*(he|she|it|they|his|her|its|their)\b", re.IGNORECASE)
