"""Split a document's text into chunks sized in the embedder's own tokens, keeping char offsets."""

from __future__ import annotations

from collections.abc import Callable

from langchain_text_splitters import RecursiveCharacterTextSplitter

from ..documents import Chunk

# Paragraphs, then lines, then sentences, then clauses, then words, then characters.
SEPARATORS = ["\n\n", "\n", ". ", "? ", "! ", "; ", ", ", " ", ""]

TokenCounter = Callable[[list[str]], list[int]]


class TokenSplitter:
    """Chunks of at most `chunk_tokens` model tokens, consecutive chunks sharing about `overlap`."""

    def __init__(self, count_tokens: TokenCounter, chunk_tokens: int, overlap: int) -> None:
        self.count_tokens = count_tokens
        self.chunk_tokens = chunk_tokens
        self.overlap = overlap
        self._splitter = RecursiveCharacterTextSplitter(
            separators=SEPARATORS,
            keep_separator="end",
            chunk_size=chunk_tokens,
            chunk_overlap=overlap,
            length_function=self._length,
            strip_whitespace=True,
        )

    def _length(self, piece: str) -> int:
        # The recursive splitter measures each piece twice (to test it, then to merge it).
        n = self._lengths.get(piece)
        if n is None:
            n = self._lengths[piece] = self.count_tokens([piece])[0]
        return n

    def split(self, text: str) -> list[Chunk]:
        self._lengths: dict[str, int] = {}
        try:
            return self._split(text)
        finally:
            self._lengths = {}

    def _split(self, text: str) -> list[Chunk]:
        stripped = text.strip()
        if not stripped:
            return []
        n = self.count_tokens([stripped])[0]
        if n <= self.chunk_tokens:  # the common case for short documents: one tokenizer call
            start = text.index(stripped)
            return [Chunk(0, start, start + len(stripped), stripped, n)]
        pieces = self._splitter.split_text(text)
        counts = [self._lengths.get(p) or self.count_tokens([p])[0] for p in pieces]
        chunks: list[Chunk] = []
        cursor = 0
        for piece, count in zip(pieces, counts, strict=True):
            start = text.find(piece, cursor)
            if start < 0:  # cannot happen for substrings; fail loudly rather than cite wrongly
                raise AssertionError(f"chunk not found in text after offset {cursor}")
            if count > self.chunk_tokens:
                # Word pieces are not always additive across joins; never hand the model more
                # than it reads, or the tail of the chunk would be silently dropped.
                for sub in self._hard_split(piece):
                    sub_start = text.find(sub, start)
                    chunks.append(
                        Chunk(
                            len(chunks),
                            sub_start,
                            sub_start + len(sub),
                            sub,
                            self.count_tokens([sub])[0],
                        )
                    )
            else:
                chunks.append(Chunk(len(chunks), start, start + len(piece), piece, count))
            cursor = start + 1
        return chunks

    def _hard_split(self, piece: str) -> list[str]:
        """Split by words so that each part fits; used only when the recursive splitter overshoots."""
        words = piece.split(" ")
        parts: list[str] = []
        current: list[str] = []
        for word in words:
            trial = " ".join([*current, word])
            if current and self.count_tokens([trial])[0] > self.chunk_tokens:
                parts.append(" ".join(current))
                current = [word]
            else:
                current.append(word)
        if current:
            parts.append(" ".join(current))
        return [p.strip() for p in parts if p.strip()]
