"""Split a document's text into chunks sized in the embedder's own tokens, keeping char offsets.

The cuts are LangChain's RecursiveCharacterTextSplitter's (separators kept at the end of each
piece, whitespace stripped, overlap counted in tokens), made on (start, end) spans of the text
rather than on strings, so a chunk's offsets are where it was cut. Finding each piece again with
`str.find` placed repeated pieces (the parts of a long run of "!" or "=", a base64 blob) at the
wrong occurrence and left most of such a run in no chunk: never searchable, never citable.
"""

from __future__ import annotations

from collections.abc import Callable

from ..documents import Chunk

# Paragraphs, then lines, then sentences, then clauses, then words, then characters.
SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]

TokenCounter = Callable[[list[str]], list[int]]
Span = tuple[int, int]


class TokenSplitter:
    """Chunks of at most `chunk_tokens` model tokens, consecutive chunks sharing about `overlap`."""

    def __init__(self, count_tokens: TokenCounter, chunk_tokens: int, overlap: int) -> None:
        self.count_tokens = count_tokens
        self.chunk_tokens = chunk_tokens
        self.overlap = overlap
        self._text = ""
        self._lengths: dict[str, int] = {}

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
        try:
            return self._split(text)
        finally:
            self._text, self._lengths = "", {}

    def _split(self, text: str) -> list[Chunk]:
        stripped = text.strip()
        if not stripped:
            return []
        n = self.count_tokens([stripped])[0]
        if n <= self.chunk_tokens:  # the common case for short documents: one tokenizer call
            start = len(text) - len(text.lstrip())
            return [Chunk(0, start, start + len(stripped), stripped, n)]
        spans: list[Span] = []
        for start, end in self._recurse(0, len(text), SEPARATORS):
            # Word pieces are not always additive across joins; never hand the model more than
            # it reads, or the tail of the chunk would be silently dropped.
            fits = self._length(start, end) <= self.chunk_tokens
            spans += [(start, end)] if fits else self._hard_split(start, end)
        # A piece cut again can end after the next piece's overlap begins: chunks in text order.
        spans.sort(key=lambda span: span[0])
        return [Chunk(i, s, e, text[s:e], self._length(s, e)) for i, (s, e) in enumerate(spans)]

    def _recurse(self, start: int, end: int, separators: list[str]) -> list[Span]:
        """The first separator present cuts the span; pieces still too long recurse further."""
        sep, finer = "", []
        for i, candidate in enumerate(separators):
            if candidate == "" or self._text.find(candidate, start, end) >= 0:
                sep, finer = candidate, separators[i + 1 :] if candidate else []
                break
        out: list[Span] = []
        small: list[Span] = []
        for s, e in _cut(self._text, start, end, sep):
            if self._length(s, e) < self.chunk_tokens:
                small.append((s, e))
                continue
            if small:
                out += self._merge(small)
                small = []
            out += self._recurse(s, e, finer) if finer else [(s, e)]
        if small:
            out += self._merge(small)
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
