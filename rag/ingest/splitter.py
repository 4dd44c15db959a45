"""Split a document's text into chunks sized in the embedder's own tokens, keeping char offsets.

The cuts are LangChain's RecursiveCharacterTextSplitter's (separators kept at the end of each
piece, whitespace stripped, overlap counted in tokens), made on (start, end) spans of the text
rather than on strings, so a chunk's offsets are where it was cut. Below paragraphs, the cuts
are where rag's sentences begin (rag.text.sentences): a PDF, hard-wrapped Markdown or e-mail
has a line break at the end of every printed line, and a chunk cut there would begin or end
inside a sentence, which then reads as two fragments in two chunks. Finding each piece again with
`str.find` placed repeated pieces (the parts of a long run of "!" or "=", a base64 blob) at the
wrong occurrence and left most of such a run in no chunk: never searchable, never citable.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable

from ..documents import Chunk
from ..text.sentences import split_sentences, wrapped_breaks
from .tables import TableSpan, find_tables, table_at

# Not strings: cut where a sentence begins after a line break that ends a paragraph (one-
# paragraph-a-line text, a list item, a heading, a table row, the short last line of a wrapped
# paragraph; not a line break that only wraps a paragraph, rag.text.sentences.wrapped_breaks,
# where a sentence begins a printed line by chance), or where any sentence begins.
LINE_SENTENCES = "<sentence after a line break>"
# Where a run of lines holds several paragraphs with no blank line between them (a PDF page),
# a paragraph whose last line is nearly full cannot be told from a wrap: any sentence that
# begins a line there may begin a paragraph, and is tried before other sentences. Not in a run
# that is one paragraph (Markdown, e-mail): there a sentence begins a line by chance.
MAYBE_PARAGRAPHS = "<sentence at a line start, in a run of paragraphs>"
SENTENCES = "<sentence>"
# Paragraphs, then lines that end a paragraph, then sentences that may begin one, then
# sentences, then any line, then clauses, words, characters.
SEPARATORS = ["\n\n", LINE_SENTENCES, MAYBE_PARAGRAPHS, SENTENCES, "\n", "; ", ", ", " ", ""]

TokenCounter = Callable[[list[str]], list[int]]


def _no_starts() -> dict[str, list[int]]:
    return {SENTENCES: [], LINE_SENTENCES: [], MAYBE_PARAGRAPHS: []}


Span = tuple[int, int]


class TokenSplitter:
    """Chunks of at most `chunk_tokens` model tokens, consecutive chunks sharing about `overlap`."""

    def __init__(self, count_tokens: TokenCounter, chunk_tokens: int, overlap: int) -> None:
        self.count_tokens = count_tokens
        self.chunk_tokens = chunk_tokens
        self.overlap = overlap
        self._text = ""
        self._lengths: dict[str, int] = {}
        self._tables: list[TableSpan] = []
        self._repeat: set[TableSpan] = set()  # tables whose header starts each of their chunks
        # Where the text's sentences begin: all of them, and those after a line break.
        self._starts: dict[str, list[int]] = _no_starts()

    def _length(self, start: int, end: int) -> int:
        # Pieces are measured more than once (to test them, then to merge them), and repeated
        # pieces (runs, separators) are common: one tokenizer call per distinct string.
        piece = self._text[start:end]
        n = self._lengths.get(piece)
        if n is None:
            n = self._lengths[piece] = self.count_tokens([piece])[0]
        return n

    def split(self, text: str) -> list[Chunk]:
        self._text, self._lengths = text, {}
        self._tables, self._repeat = find_tables(text), set()
        try:
            return self._split(text)
        finally:
            self._text, self._lengths = "", {}
            self._tables, self._repeat = [], set()
            self._starts = _no_starts()

    def _sentence_starts(self) -> None:
        """Where each sentence of the text begins, computed once for the whole text (a
        sentence's end depends on the lines around it, not on the piece being cut)."""
        text = self._text
        starts, after_line, at_line, end = [], [], [], 0
        wraps = wrapped_breaks(text)
        for span in split_sentences(text):
            starts.append(span.start)
            gap = text[end : span.start]
            if any(c == "\n" and end + i not in wraps for i, c in enumerate(gap)):
                after_line.append(span.start)
            elif "\n" in gap:
                at_line.append(span.start)
            end = span.end
        # Runs of lines (between blank lines) with a paragraph end inside them.
        several = [m.span() for m in re.finditer(r"(?:[^\n]*\S[^\n]*(?:\n|$))+", text)]
        several = [
            (a, b)
            for a, b in several
            if bisect.bisect_left(after_line, b) - bisect.bisect_right(after_line, a) > 0
        ]
        firsts = [a for a, _ in several]
        maybe = []
        for s in at_line:
            i = bisect.bisect_right(firsts, s) - 1
            if i >= 0 and s < several[i][1]:
                maybe.append(s)
        self._starts = {SENTENCES: starts, LINE_SENTENCES: after_line, MAYBE_PARAGRAPHS: maybe}

    def _cut_points(self, sep: str, start: int, end: int) -> list[int]:
        """The sentence starts strictly inside (start, end)."""
        starts = self._starts[sep]
        return starts[bisect.bisect_right(starts, start) : bisect.bisect_left(starts, end)]

    def _pieces(self, sep: str, start: int, end: int) -> list[Span]:
        if sep not in self._starts:
            return _cut(self._text, start, end, sep)
        cuts = [start, *self._cut_points(sep, start, end), end]
        return [(a, b) for a, b in itertools.pairwise(cuts) if b > a]

    def _present(self, sep: str, start: int, end: int) -> bool:
        if sep in self._starts:
            return bool(self._cut_points(sep, start, end))
        return sep == "" or self._text.find(sep, start, end) >= 0

    def _split(self, text: str) -> list[Chunk]:
        stripped = text.strip()
        if not stripped:
            return []
        n = self.count_tokens([stripped])[0]
        if n <= self.chunk_tokens:  # the common case for short documents: one tokenizer call
            start = len(text) - len(text.lstrip())
            return [Chunk(0, start, start + len(stripped), stripped, n)]
        self._sentence_starts()
        spans: list[Span] = []
        for start, end in self._recurse(0, len(text), SEPARATORS):
            # Word pieces are not always additive across joins; never hand the model more than
            # it reads, or the tail of the chunk would be silently dropped.
            fits = self._length(start, end) <= self.chunk_tokens
            spans += [(start, end)] if fits else self._hard_split(start, end)
        # A piece cut again can end after the next piece's overlap begins: chunks in text order.
        spans.sort(key=lambda span: span[0])
        return [self._chunk(i, s, e) for i, (s, e) in enumerate(spans)]

    def _chunk(self, ordinal: int, start: int, end: int) -> Chunk:
        """The chunk of text[start:end]; one that starts at a row inside a table's body has the
        table's header row and rule put before it, so its rows keep their column names. Its
        span stays [start, end): the text is the header, a line break, then text[start:end]
        (`header_length` finds where the document's own text begins)."""
        body = self._text[start:end]
        table = table_at(self._tables, start)
        if (
            table is None
            or table not in self._repeat
            or start < table.body
            or self._text[start - 1] != "\n"
        ):
            return Chunk(ordinal, start, end, body, self._length(start, end))
        text = table.header(self._text) + "\n" + body
        return Chunk(ordinal, start, end, text, self.count_tokens([text])[0])

    def _recurse(self, start: int, end: int, separators: list[str]) -> list[Span]:
        """The first separator present cuts the span; pieces still too long recurse further."""
        sep, finer = "", []
        for i, candidate in enumerate(separators):
            if self._present(candidate, start, end):
                sep, finer = candidate, separators[i + 1 :] if candidate else []
                break
        out: list[Span] = []
        small: list[Span] = []
        for s, e in self._pieces(sep, start, end):
            if self._length(s, e) < self.chunk_tokens:
                small.append((s, e))
                continue
            table = next((t for t in self._tables if s <= t.start < e and t.body < t.end), None)
            if table is not None and table.start > s:  # text on the lines above the table
                if self._length(s, table.start) < self.chunk_tokens:
                    small.append((s, table.start))
                else:
                    out += self._merge(small) + self._recurse(s, table.start, finer or [""])
                    small = []
                s = table.start
            caption: Span | None = None
            if table is not None and small:  # the line above a table (its title) goes with it
                c = small[-1]
                if self._length(c[0], table.body) <= self.chunk_tokens // 2:
                    caption = small.pop()
            if small:
                out += self._merge(small)
                small = []
            if table is not None:
                out += self._table_rows(table, s, e, caption)
                continue
            out += self._recurse(s, e, finer) if finer else [(s, e)]
        if small:
            out += self._merge(small)
        return out

    def _table_rows(
        self, table: TableSpan, start: int, end: int, caption: Span | None
    ) -> list[Span]:
        """A table too long for one chunk, cut between rows only (a row too long for a chunk
        alone is cut like any text). Chunks after the first leave room for the header row,
        which _chunk puts before them; text after the table is split as usual."""
        header = self._length(table.start, table.body)
        if header <= self.chunk_tokens // 3:
            self._repeat.add(table)
            limit = self.chunk_tokens - header - 2  # the header, and the line break after it
        else:  # a header this large would crowd out the rows: not repeated
            limit = self.chunk_tokens
        out: list[Span] = []
        first = caption[0] if caption else table.start
        current = (first, table.body - 1)  # the first chunk holds the header itself
        for s, e in table.rows(self._text):
            cap = self.chunk_tokens if current[0] < table.body else limit
            if self._length(current[0], e) <= cap:
                current = (current[0], e)
                continue
            out += self._strip(*current)
            if self._length(s, e) <= limit:
                current = (s, e)
            else:
                out += self._hard_split(s, e)
                current = (e, e)
        out += self._strip(*current)
        if table.end < end:
            out += self._recurse(table.end, end, SEPARATORS)
        return out

    def _merge(self, splits: list[Span]) -> list[Span]:
        """Adjacent pieces joined up to the limit; each chunk starts with the last `overlap`
        tokens' worth of pieces of the one before."""
        out: list[Span] = []
        current: list[Span] = []
        total = 0
        for s, e in splits:
            n = self._length(s, e)
            if current and total + n > self.chunk_tokens:
                out += self._strip(current[0][0], current[-1][1])
                while total > self.overlap or (total > 0 and total + n > self.chunk_tokens):
                    total -= self._length(*current.pop(0))
            current.append((s, e))
            total += n
        if current:
            out += self._strip(current[0][0], current[-1][1])
        return out

    def _strip(self, start: int, end: int) -> list[Span]:
        """The span without its leading and trailing whitespace; none if that is all it holds."""
        piece = self._text[start:end]
        body = piece.strip()
        if not body:
            return []
        start += len(piece) - len(piece.lstrip())
        return [(start, start + len(body))]

    def _hard_split(self, start: int, end: int) -> list[Span]:
        """Parts that fit, cut between words, and inside a word only when one alone is too long;
        used only when the recursive cuts overshoot."""
        parts: list[Span] = []
        first = last = -1  # the words of the part being filled
        for s, e in _cut(self._text, start, end, " ", keep=False):
            if first >= 0 and self._length(first, e) > self.chunk_tokens:
                parts += self._strip(first, last)
                first = s
            elif first < 0:
                first = s
            last = e
        if first >= 0:
            parts += self._strip(first, last)
        out: list[Span] = []
        for s, e in parts:
            out += [(s, e)] if self._length(s, e) <= self.chunk_tokens else self._cut_word(s, e)
        return out

    def _cut_word(self, start: int, end: int) -> list[Span]:
        """Longest prefixes that fit, found by bisection; a character always makes progress."""
        out: list[Span] = []
        while start < end:
            lo, hi = start + 1, end  # the prefix [start, lo) is kept even if it overshoots
            while lo < hi:
                mid = (lo + hi + 1) // 2
                if self._length(start, mid) <= self.chunk_tokens:
                    lo = mid
                else:
                    hi = mid - 1
            out += self._strip(start, lo)
            start = lo
        return out


def _cut(text: str, start: int, end: int, sep: str, *, keep: bool = True) -> list[Span]:
    """The non-empty pieces of text[start:end] between occurrences of `sep` (each piece keeps
    the separator at its end when `keep`); single characters when `sep` is empty."""
    if not sep:
        return [(i, i + 1) for i in range(start, end)]
    out: list[Span] = []
    prev = start
    i = text.find(sep, start, end)
    while i >= 0:
        stop = i + len(sep) if keep else i
        if stop > prev:
            out.append((prev, stop))
        prev = i + len(sep)
        i = text.find(sep, prev, end)
    if prev < end:
        out.append((prev, end))
    return out
