"""Sentence spans with character offsets: the unit that answers are built from and cited by.

Text from PDFs, hard-wrapped Markdown, plain-text e-mail and many HTML and DOCX exports has a
line break at the end of every printed line, so a line break alone never ends a sentence. It
does where the text's structure says so: a blank line (paragraphs, PDF pages), a heading, the
start of a list item, a table row, a line ending in terminal punctuation, a short line (a title
or caption above the text), a form feed. Otherwise lines join, and the sentence's span covers
them with their line breaks: `text[start:end]` is always the exact source, so citations and
highlighting stay exact; `rag.text.markup.plain_text` turns a span into readable text
(lines joined, "manage-\\nment" de-hyphenated, Markdown stripped).

Measured against pysbd (EVAL.md, "Sentence segmentation"): these rules split the same
one-line text as well, keep the same sentences when the text is wrapped, and are about 100x
faster, which matters because the generative backends re-split their pending output per token.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

# A sentence ends at . ! ? (and any closing quotes or brackets) followed by white space and a
# likely sentence start, or at the end of a line.
_END = re.compile(r"""[.!?…]+["'”’)\]*_]*(?=[ \t]*\n|\s+["'“‘(\[*_]*[A-Z0-9])""")
# Abbreviations after which a period does not end a sentence.
_ABBREV = frozenset([
    "mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "cf", "fig",
    "figs", "no", "nos", "vol", "pp", "approx", "inc", "ltd", "co", "corp", "gen", "col", "lt",
    "sgt", "capt", "rep", "sen", "gov", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
    "sept", "oct", "nov", "dec", "u.s", "u.k", "u.n", "a.m", "p.m", "ca", "al", "op", "ed",
    "eds", "dept", "est",
])  # fmt: skip
_TOKEN = re.compile(r"[\w.]+$")
_LONGEST_ABBREV = 8  # characters looked back for one: more would make splitting quadratic
_NEXT_LINE = re.compile(r"[ \t]*\n\s*(\S)")
_INITIAL = re.compile(r"\s+[A-Z]\.\s")  # "Lloyd. J. Austin": a name, not a sentence end

# Lines that start a block of their own: list items, headings, quotes, table rows, rules.
_MARKER = re.compile(r"[ \t]*([-*+•▪◦‣●○■□–]|\(?\d{1,3}[.)]|\(?[a-z]\)|\([ivx]+\))[ \t]+")
_LIST_ITEM = re.compile(_MARKER.pattern + r"\S")
_HEADING = re.compile(r"[ \t]{0,3}#{1,6}([ \t]|$)")
_RULE = re.compile(r"[ \t]*([-=_*~`])([ \t]*\1){2,}[ \t]*$")  # ---, ===, ```, setext underline
_QUOTE = re.compile(r"[ \t]{0,3}>")
_FENCE = re.compile(r"[ \t]{0,3}(`{3,}|~{3,})")
_SOFT_END = re.compile(r"[-‐,;(/&]$|\b(and|or|the|a|an|of|to|in|for|with)$", re.IGNORECASE)
_STARTS_SENTENCE = re.compile(r"""[ \t]*["'“‘(\[*_]*[A-Z0-9]""")
SHORT_LINE = 0.6  # a line under this share of its block's longest line ends where it ends
# Wrapped text (a PDF, hard-wrapped Markdown or e-mail): a line break only wraps the paragraph
# where the next line's first word would not have fit on the line. Lines wider than MAX_WRAP
# were not wrapped for reading (one paragraph a line). WRAP_FIT allows for proportional fonts
# and justified lines, whose widths in characters vary: chosen by measurement
# (benchmarks/sentence_segmentation.py, "Paragraph ends in wrapped text", EVAL.md).
MAX_WRAP = 200
WRAP_FIT = 0.88
_WRAP_WINDOW = 3  # lines either side whose width stands for the text's measure
# Most lines of wrapped text end inside a sentence; one-paragraph-a-line text, however short
# its paragraphs, ends every line with its punctuation and must not read as wrapped.
_MID_SENTENCE = 2
_ENDS_SENTENCE = re.compile(r"""[.!?…:;"'”’)\]*_]$""")


@dataclass(frozen=True)
class Span:
    start: int
    end: int
    text: str


def split_sentences(text: str, offset: int = 0) -> list[Span]:
    """Sentences of `text` (stripped), with offsets shifted by `offset`; each span's text is
    `text[start:end]`, line breaks inside a sentence included."""
    spans: list[Span] = []
    for a, b in blocks(text):
        _split_block(spans, text, a, b, offset)
    return spans


def blocks(text: str) -> list[tuple[int, int]]:
    """(start, end) of the runs of lines that read as one text: a sentence never crosses the
    boundary between two of them."""
    lines: list[tuple[int, int]] = []  # (start, end) of each line, without its "\n"
    pos = 0
    for line in text.split("\n"):
        lines.append((pos, pos + len(line)))
        pos += len(line) + 1
    out: list[tuple[int, int]] = []
    run: list[tuple[int, int]] = []
    fence = ""  # the fence of the code block we are in: code is never joined into prose
    for i, (a, b) in enumerate(lines):
        line = text[a:b]
        opened = _FENCE.match(line)
        if fence or opened:
            _close(out, run, text)
            run = []
            if line.strip():
                out.append((a, b))
            if opened and (not fence or opened.group(1).startswith(fence)):
                fence = "" if fence else opened.group(1)
            continue
        if not line.strip() or "\f" in line or "\v" in line:
            _close(out, run, text)
            run = []
            if "\f" in line or "\v" in line:  # page breaks: each side is its own block
                for m in re.finditer(r"[^\f\v]+", line):
                    if m.group().strip():
                        out.append((a + m.start(), a + m.end()))
            continue
        previous = text[lines[i - 1][0] : lines[i - 1][1]] if i else ""
        following = text[lines[i + 1][0] : lines[i + 1][1]] if i + 1 < len(lines) else ""
        row = _is_table_row(line, previous, following)
        if run and (row or _starts_block(line, previous)):
            _close(out, run, text)
            run = []
        run.append((a, b))
        if row or _is_own_block(line):  # a heading or table row is never joined to what follows
            _close(out, run, text)
            run = []
    _close(out, run, text)
    return out


def wrapped_breaks(text: str, fit: float | None = None) -> frozenset[int]:
    """Offsets of the line breaks ("\\n") that only wrap a paragraph, not end one. Near the
    break (_WRAP_WINDOW lines either side, no blank line between), the text must look wrapped:
    no line wider than MAX_WRAP, and at least _MID_SENTENCE lines ending inside a sentence
    (one-paragraph-a-line text ends every line with its punctuation). Then the break wraps if
    the line (white space collapsed: justified PDF lines have it doubled), a space and the next
    line's first word are wider than `fit` (WRAP_FIT) of the widest line near it: the word
    would not have fit."""
    fit = WRAP_FIT if fit is None else fit
    out: list[int] = []
    pos = 0
    run: list[_Line] = []
    for line in text.split("\n"):
        words = line.split()
        end = pos + len(line)
        if words:
            ends = bool(_ENDS_SENTENCE.search(words[-1]))
            run.append(_Line(len(" ".join(words)), len(words[0]), end, ends))
        if not words or end >= len(text):
            out += _wraps(run, fit)
            run = []
        pos = end + 1
    out += _wraps(run, fit)
    return frozenset(out)


@dataclass(frozen=True)
class _Line:
    width: int
    first_word: int
    newline: int  # offset of the line break after it
    ends_sentence: bool


def _wraps(run: list[_Line], fit: float) -> list[int]:
    out = []
    for i in range(len(run) - 1):
        near = run[max(0, i - _WRAP_WINDOW) : i + _WRAP_WINDOW + 1]
        measure = max(x.width for x in near)
        if (
            measure <= MAX_WRAP
            and run[i].width + 1 + run[i + 1].first_word > fit * measure
            and sum(not x.ends_sentence for x in near) >= _MID_SENTENCE
        ):
            out.append(run[i].newline)
    return out


def _starts_block(line: str, previous: str) -> bool:
    return bool(
        (_LIST_ITEM.match(line) and _item_can_start(previous))
        or _HEADING.match(line)
        or _RULE.match(line)
        or bool(_QUOTE.match(line)) != bool(_QUOTE.match(previous))
    )


def _item_can_start(previous: str) -> bool:
    """A list item follows another item, its indented continuation, or a line that ended; in
    wrapped prose a line may begin with "34. So" or "c) such" after a line that reads on."""
    return bool(
        _LIST_ITEM.match(previous)
        or previous[:1] in (" ", "\t")
        or re.search(r"""[.!?…:;"'”’)\]*_]\s*$""", previous)
    )


def _is_own_block(line: str) -> bool:
    return bool(_HEADING.match(line) or _RULE.match(line))


def _is_table_row(line: str, previous: str = "", following: str = "") -> bool:
    """Markdown rows (| a | b |), and rows as the DOCX and HTML loaders write them (cells joined
    by " | ", or tabs): three cells, or two cells in a line next to another such line."""
    s = line.strip()
    if (s.startswith("|") and s.endswith("|") and len(s) > 1) or s.count(" | ") >= 2:
        return True
    if s.count("\t") >= 2:
        return True
    return " | " in s and (" | " in previous or " | " in following)


def _close(out: list[tuple[int, int]], run: list[tuple[int, int]], text: str) -> None:
    """Ends a run of lines; a short line inside it (a title over its text) ends a block too."""
    if not run:
        return
    longest = max(len(text[a:b].strip()) for a, b in run)
    start = run[0][0]
    for (a, b), (c, _) in itertools.pairwise(run):
        line = text[a:b].strip()
        if (
            len(line) < SHORT_LINE * longest
            and not _SOFT_END.search(line)
            and _STARTS_SENTENCE.match(text, c)
        ):
            out.append((start, b))
            start = c
    out.append((start, run[-1][1]))


def _split_block(spans: list[Span], text: str, a: int, b: int, offset: int) -> None:
    start = a
    marker = _MARKER.match(text, a, b)  # "1. Install": the list number is no sentence end
    for m in _END.finditer(text, marker.end() if marker else a, b):
        if text[m.start()] == "." and (
            _is_abbreviation(text, m.start()) or _INITIAL.match(text, m.end())
        ):
            continue
        wrapped = _NEXT_LINE.match(text, m.end(), b)
        if wrapped and wrapped.group(1).islower():
            continue  # "L.A.\nand Orange": a wrapped line, not a sentence, ends there
        _add(spans, text, start, m.end(), offset)
        start = m.end()
    _add(spans, text, start, b, offset)


def _is_abbreviation(text: str, end: int) -> bool:
    lo = max(0, end - _LONGEST_ABBREV - 1)
    m = _TOKEN.search(text, lo, end)
    if m is None or (m.start() == lo and lo > 0 and _TOKEN.match(text[lo - 1])):
        return False  # no word, or one longer than any abbreviation
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
