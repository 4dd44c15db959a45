"""Keyword retrieval: BM25 (Lucene's IDF) over an in-memory inverted index of Porter stems.

The postings are derived from the chunk texts in SQLite and saved as `keywords-<generation>.npz`
(no pickle), like the FAISS file: a file of another generation is updated from the change set
the writer knows, or rebuilt from SQLite. Scoring is a few numpy operations per query term, so a
query over 100,000 chunks takes milliseconds, where FTS5's bm25() took 80 ms or more.
"""

from __future__ import annotations

import math
import re
import sqlite3
import threading
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import Stemmer

from ..text.lines import rejoin_words
from .derived import discard, generation_file, read_generation, write_generation_file

K1 = 1.2
B = 0.75

# Words too common to help a keyword search; as query terms they would match nearly everything.
_STOPWORDS = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself no nor not now of off on once only or other our ours ourselves out over own
same she should so some such than that the their theirs them themselves then there these they
this those through to too under until up very was we were what when where which while who whom
why will with would you your yours yourself yourselves
"""
# Words that frame a question rather than name its topic ("What did Austin say?"): as keywords
# they match every article that reports speech, and outrank the name the person asked about.
_QUESTION_WORDS = """
say says said saying tell tells told mention mentions mentioned according describe describes
explain explains document documents please
"""
IGNORED = frozenset(_STOPWORDS.split()) | frozenset(_QUESTION_WORDS.split())
_WORD = re.compile(r"\w+", re.UNICODE)
_stemmer = threading.local()


def _stem_words(words: list[str]) -> list[str]:
    if not hasattr(_stemmer, "s"):  # PyStemmer objects are not thread-safe
        _stemmer.s = Stemmer.Stemmer("porter")
    return list(_stemmer.s.stemWords(words))


def _fold(text: str) -> str:
    text = text.lower()
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def analyze(text: str) -> tuple[Counter[str], int]:
    """Stem counts of a text and its length in words (a word hyphenated at a line end, as PDFs
    print them, counted whole: "manage-\nment" is "management")."""
    words = _WORD.findall(_fold(rejoin_words(text)))
    return Counter(_stem_words(words)), len(words)


def stems(text: str) -> list[str]:
    """The Porter stems of a text's words, in order: what the keyword index counts."""
    return _stem_words(_WORD.findall(_fold(rejoin_words(text))))


def query_stems(text: str) -> list[str]:
    """The stems a keyword search looks for, once each."""
    return list(dict.fromkeys(_stem_words(query_terms(text))))


def fold_stem(words: Sequence[str]) -> list[str]:
    """Each word folded and stemmed as the index does (one stem per word)."""
    return _stem_words([_fold(w) for w in words])


def query_terms(text: str) -> list[str]:
    """The question's content words, once each, in order."""
    terms: list[str] = []
    for word in _WORD.findall(_fold(text)):
        if word not in IGNORED and word not in terms:
            terms.append(word)
    return terms


@dataclass
class _Postings:
    """Postings grouped by term: the chunks holding term t are the rows pos[indptr[t]:indptr[t+1]]
    of `chunk_ids`, with their term frequencies in tf[...]. Six bytes a posting (an int32 row and
    a uint16 count): 1,000,000 chunks of SciFact text, 49 stems each, take 300 MB (BENCHMARKS.md,
    "One million chunks"), where the int64 chunk id, int32 term and three float32 columns a
    posting kept before came to 1.4 GB. BM25's term-frequency part is computed at query time
    from tf and the chunk's length norm, so a write never recomputes a weight per posting."""

    vocab: dict[str, int]
    chunk_ids: np.ndarray  # int64, sorted
    lengths: np.ndarray  # int32 words per chunk, aligned with chunk_ids
    indptr: np.ndarray  # int64, len(vocab) + 1
    pos: np.ndarray  # int32 row in chunk_ids of each posting, grouped by term
    tf: np.ndarray  # uint16
    norm: np.ndarray | None = None  # float32 per chunk: K1 * (1 - B + B * length / avgdl)

    def prepare(self) -> None:
        """BM25's length normalisation of each chunk (after any change: avgdl moves)."""
        avgdl = float(self.lengths.mean()) if len(self.lengths) else 1.0
        dl = self.lengths.astype(np.float32)
        self.norm = (K1 * (1 - B + B * dl / avgdl)).astype(np.float32)

    def weights(self, lo: int, hi: int) -> np.ndarray:
        """BM25's term-frequency part of postings lo:hi (float32, as the scores are)."""
        assert self.norm is not None
        tf = self.tf[lo:hi].astype(np.float32)
        return tf * np.float32(K1 + 1) / (tf + self.norm[self.pos[lo:hi]])

    def df(self, term_id: int) -> int:
        return int(self.indptr[term_id + 1] - self.indptr[term_id])

    def rows_of(self, ids: np.ndarray) -> np.ndarray:
        """Rows of those of `ids` that are indexed (chunk_ids is sorted: no set operations)."""
        rows = np.searchsorted(self.chunk_ids, ids)
        inside = rows < len(self.chunk_ids)
        rows = rows[inside]
        return rows[self.chunk_ids[rows] == ids[inside]]

    def write(self, f: BinaryIO) -> None:
        """The postings as an .npz file: plain arrays, loadable with allow_pickle=False."""
        words = np.array(sorted(self.vocab, key=self.vocab.__getitem__), dtype=np.str_)
        np.savez(
            f,
            vocab=words,
            chunk_ids=self.chunk_ids,
            lengths=self.lengths,
            indptr=self.indptr,
            pos=self.pos,
            tf=self.tf,
        )

    def remove(self, ids: np.ndarray) -> None:
        """Drop these chunks and their postings; temporaries are a few bytes a posting."""
        rows = self.rows_of(ids)
        if not len(rows):
            return
        dead = np.zeros(len(self.chunk_ids), dtype=bool)
        dead[rows] = True
        drop = dead[self.pos]
        # How many postings each term loses: the terms of the dropped ones, found by position.
        terms = np.searchsorted(self.indptr, np.flatnonzero(drop), side="right") - 1
        lost = np.bincount(terms, minlength=len(self.indptr) - 1)
        self.indptr = self.indptr - np.concatenate(([0], np.cumsum(lost)))
        del terms
        keep = ~drop
        del drop
        remap = (np.cumsum(~dead) - 1).astype(np.int32)
        self.pos = remap[self.pos[keep]]
        self.tf = self.tf[keep]
        self.chunk_ids, self.lengths = self.chunk_ids[~dead], self.lengths[~dead]

    def add(self, rows: Sequence[tuple[int, str]]) -> None:
        """Index these (id, text) chunks: each posting goes at the end of its term's group."""
        terms, tfs, counts, ids, lens = _postings(rows, self.vocab)
        n, m = len(self.chunk_ids), len(ids)
        if not m:
            return
        grown = len(self.vocab) - (len(self.indptr) - 1)
        if grown:
            self.indptr = np.concatenate((self.indptr, np.full(grown, self.indptr[-1])))
        all_ids = np.concatenate((self.chunk_ids, ids))
        if n and (ids.min() <= self.chunk_ids[-1] or np.any(np.diff(ids) < 0)):
            # Not appended in order (chunk ids normally only grow): renumber every row.
            order = np.argsort(all_ids, kind="stable")
            inv = np.empty(n + m, dtype=np.int32)
            inv[order] = np.arange(n + m, dtype=np.int32)
            self.pos = inv[:n][self.pos]
            new_rows = inv[n:]
            self.chunk_ids = all_ids[order]
            self.lengths = np.concatenate((self.lengths, lens))[order]
        else:
            new_rows = np.arange(n, n + m, dtype=np.int32)
            self.chunk_ids, self.lengths = all_ids, np.concatenate((self.lengths, lens))
        new_pos = np.repeat(new_rows, counts)
        o = np.argsort(terms, kind="stable")
        terms, new_pos, tfs = terms[o], new_pos[o], tfs[o]
        at = self.indptr[terms + 1]
        self.pos = np.insert(self.pos, at, new_pos).astype(np.int32, copy=False)
        self.tf = np.insert(self.tf, at, tfs).astype(np.uint16, copy=False)
        added = np.bincount(terms, minlength=len(self.vocab))
        self.indptr = self.indptr + np.concatenate(([0], np.cumsum(added)))


class KeywordIndex:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._p: _Postings | None = None
        self._generation = -1
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ queries
    def search(
        self, conn: sqlite3.Connection, text: str, k: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        """Chunks ranked by BM25 for the content words of `text`."""
        p = self.current(conn)
        stems = set(_stem_words(query_terms(text)))
        ids = [p.vocab[s] for s in stems if s in p.vocab]
        n = len(p.chunk_ids)
        if not ids or k <= 0 or n == 0:
            return []
        scores = np.zeros(n, dtype=np.float32)
        for t in ids:
            lo, hi = int(p.indptr[t]), int(p.indptr[t + 1])
            idf = math.log(1 + (n - (hi - lo) + 0.5) / ((hi - lo) + 0.5))
            scores[p.pos[lo:hi]] += idf * p.weights(lo, hi)
        if allowed is not None:
            mask = np.zeros(n, dtype=bool)
            mask[p.rows_of(np.asarray(allowed, dtype=np.int64))] = True
            scores[~mask] = 0
        hits = np.flatnonzero(scores)
        if len(hits) > k:
            hits = hits[np.argpartition(-scores[hits], k - 1)[:k]]
        hits = hits[np.lexsort((p.chunk_ids[hits], -scores[hits]))]
        return [(int(p.chunk_ids[i]), float(scores[i])) for i in hits]

    def doc_freq(
        self, conn: sqlite3.Connection, words: Sequence[str]
    ) -> tuple[dict[str, int], int]:
        """Chunks holding each word (after stemming), and the number of chunks."""
        p = self.current(conn)
        out = {}
        for w, s in zip(words, _stem_words([_fold(w) for w in words]), strict=True):
            out[w] = p.df(p.vocab[s]) if s in p.vocab else 0
        return out, len(p.chunk_ids)

    # ------------------------------------------------------------------ keeping in step
    def current(self, conn: sqlite3.Connection) -> _Postings:
        with self._lock:
            conn.execute("BEGIN")  # one snapshot: the generation and the rows agree
            try:
                gen = read_generation(conn)
                if self._p is None or self._generation != gen:
                    self._p = None  # let the old postings go before the new ones are read
                    n = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
                    p = self._read(gen, n)
                    self._p = p if p is not None else self._rebuild(conn)
                    self._generation = gen
            finally:
                conn.execute("COMMIT")
            return self._p

    def apply(self, removed: Sequence[int], added: Sequence[tuple[int, str]], gen: int) -> None:
        """Mirror a committed write in memory, if the postings are loaded."""
        with self._lock:
            p = self._p
            if p is None:
                return
            if removed:
                p.remove(np.unique(np.asarray(removed, dtype=np.int64)))
            if added:
                p.add(added)
            p.prepare()
            self._generation = gen

    def flush(self, conn: sqlite3.Connection) -> None:
        with self._lock:
            p = self.current(conn)
            write_generation_file(self.folder, "keywords", ".npz", self._generation, p.write)

    def _read(self, gen: int, n_chunks: int) -> _Postings | None:
        file = generation_file(self.folder, "keywords", ".npz", gen)
        if not file.exists():
            return None
        try:
            with np.load(file, allow_pickle=False) as z:
                vocab = {str(w): i for i, w in enumerate(z["vocab"].tolist())}
                p = _Postings(
                    vocab,
                    z["chunk_ids"],
                    z["lengths"],
                    z["indptr"],
                    z["pos"].astype(np.int32, copy=False),
                    z["tf"].astype(np.uint16, copy=False),
                )
        except (OSError, ValueError, KeyError):
            discard(file)  # damaged, or of an older version: rebuilt from SQLite
            return None
        if len(p.chunk_ids) != n_chunks or len(p.indptr) != len(vocab) + 1:
            discard(file)
            return None
        p.prepare()
        return p

    def _rebuild(self, conn: sqlite3.Connection) -> _Postings:
        """The postings of every chunk in SQLite. The batches' postings (six bytes each) are kept
        until the end and then placed into their term groups one batch at a time, so the peak
        is about twice the result, with no sort over all postings."""
        vocab: dict[str, int] = {}
        parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        ids_parts, len_parts = [], []
        cur = conn.execute("SELECT id, text FROM chunks ORDER BY id")
        while rows := cur.fetchmany(4096):
            terms, tfs, counts, ids, lens = _postings(rows, vocab)
            parts.append((terms, tfs, counts))
            ids_parts.append(ids)
            len_parts.append(lens)
        df = np.zeros(len(vocab), dtype=np.int64)
        for terms, _, _ in parts:
            df += np.bincount(terms, minlength=len(vocab))
        indptr = np.concatenate(([0], np.cumsum(df))).astype(np.int64)
        pos = np.empty(int(indptr[-1]), dtype=np.int32)
        tf = np.empty(int(indptr[-1]), dtype=np.uint16)
        fill = indptr[:-1].copy()  # where each term's next posting goes
        row0 = 0
        parts.reverse()
        while parts:
            terms, tfs, counts = parts.pop()
            rows_of = np.repeat(np.arange(row0, row0 + len(counts), dtype=np.int32), counts)
            o = np.argsort(terms, kind="stable")
            ts = terms[o]
            uniq, first, cnt = np.unique(ts, return_index=True, return_counts=True)
            dest = fill[ts] + (np.arange(len(ts)) - np.repeat(first, cnt))
            pos[dest] = rows_of[o]
            tf[dest] = tfs[o]
            fill[uniq] += cnt
            row0 += len(counts)
        ids = np.concatenate(ids_parts) if ids_parts else np.empty(0, np.int64)
        lens = np.concatenate(len_parts) if len_parts else np.empty(0, np.int32)
        p = _Postings(vocab, ids, lens, indptr, pos, tf)
        p.prepare()
        return p


def _postings(rows: Sequence[tuple[int, str]], vocab: dict[str, int]):
    """The (id, text) rows' postings in row order: term ids (int32) and term frequencies
    (uint16), with each chunk's number of postings, id and length in words; new words are
    added to `vocab`."""
    terms: list[int] = []
    tfs: list[int] = []
    counts: list[int] = []
    ids: list[int] = []
    lens: list[int] = []
    for cid, text in rows:
        words, length = analyze(text)
        ids.append(cid)
        lens.append(length)
        counts.append(len(words))
        for stem, tf in words.items():
            terms.append(vocab.setdefault(stem, len(vocab)))
            tfs.append(min(tf, 65535))
    return (
        np.asarray(terms, dtype=np.int32),
        np.asarray(tfs, dtype=np.uint16),
        np.asarray(counts, dtype=np.int32),
        np.asarray(ids, dtype=np.int64),
        np.asarray(lens, dtype=np.int32),
    )
