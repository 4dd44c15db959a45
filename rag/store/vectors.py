"""The FAISS side of the index: derived from the vectors in SQLite, one file per generation."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from .derived import generation_file, read_generation, write_generation_file

# Searches here are one query at a time; on a single query, FAISS's OpenMP threads cost more than
# they give (measured: 20 ms with 2 threads, 15 ms with 1, over 100k vectors).
faiss.omp_set_num_threads(1)


class VectorIndex:
    """Exact inner-product search over normalised vectors, keyed by chunk id.

    The file `vectors-<generation>.faiss` holds the vectors as of that SQLite generation. It is
    written beside the old one and the old one deleted after, so a file that exists is whole; a
    file that is missing, damaged or of another generation is rebuilt from SQLite.
    """

    def __init__(self, folder: Path, dim: int) -> None:
        self.folder = folder
        self.dim = dim
        self._index: Any = None
        self._generation = -1
        self._lock = threading.RLock()

    def current(self, conn: sqlite3.Connection) -> Any:
        """The FAISS index for the generation SQLite is at now: cached, read, or rebuilt."""
        with self._lock:
            conn.execute("BEGIN")  # one snapshot: the generation and the rows agree
            try:
                gen = read_generation(conn)
                if self._index is not None and self._generation == gen:
                    return self._index
                n = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
                index = self._read(gen, n)
                if index is None:
                    index = self._rebuild(conn)
            finally:
                conn.execute("COMMIT")
            self._index, self._generation = index, gen
            return index

    def apply(
        self, removed: list[int], added: list[int], vectors: list[np.ndarray], generation: int
    ) -> None:
        """Mirror a committed SQLite write in memory (if the index is loaded at all)."""
        with self._lock:
            if self._index is None:
                return
            if removed:
                self._index.remove_ids(np.asarray(removed, dtype=np.int64))
            if added:
                self._index.add_with_ids(np.vstack(vectors), np.asarray(added, dtype=np.int64))
            self._generation = generation

    def flush(self, conn: sqlite3.Connection) -> None:
        """Write the file for the current generation and delete the files of older ones."""
        with self._lock:
            index = self.current(conn)
            write_generation_file(
                self.folder,
                "vectors",
                ".faiss",
                self._generation,
                lambda: faiss.serialize_index(index).tobytes(),
            )

    def search(
        self, conn: sqlite3.Connection, query: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        index = self.current(conn)
        if index.ntotal == 0 or k <= 0 or (allowed is not None and len(allowed) == 0):
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        params = None
        if allowed is not None:
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed))  # type: ignore[call-arg]
        scores, ids = index.search(q, min(k, index.ntotal), params=params)
        return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]

    def _read(self, gen: int, n: int) -> Any:
        file = generation_file(self.folder, "vectors", ".faiss", gen)
        if not file.exists():
            return None
        try:
            index = faiss.read_index(str(file))
        except RuntimeError:
            return None  # damaged: the caller rebuilds it
        return index if index.ntotal == n and index.d == self.dim else None

    def _rebuild(self, conn: sqlite3.Connection) -> Any:
        index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        cur = conn.execute("SELECT id, vector FROM chunks ORDER BY id")
        while rows := cur.fetchmany(8192):
            ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            index.add_with_ids(vecs.reshape(len(rows), self.dim), ids)
        return index
