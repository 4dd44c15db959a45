"""The FAISS side of the index: derived from the vectors in SQLite, one file per generation.

Which index depends on the number of chunks (figures in BENCHMARKS.md, "One million chunks"):

- up to FLAT_MAX chunks, exact inner product over every vector (IndexFlatIP);
- above it, an inverted file of 8-bit scalar-quantised vectors (IVF, SQ8: 384 bytes a vector,
  a quarter of the floats) whose candidates are scored again exactly with their float vectors
  from SQLite. At 1,000,000 chunks flat search needed 2.0 GB and a hybrid search took 119 ms
  at p95; with the IVF, 0.9 GB and 44 ms, with recall@10 against exact search of 0.986.

The IVF is trained when the index grows past FLAT_MAX, on a sample of the vectors in SQLite, with
sqrt(n) lists; it is trained again when the number of chunks has grown (or shrunk) fourfold since,
and it goes back to flat below FLAT_MAX / 2 (no switching back and forth around the bound).
Additions and removals between trainings go into the trained index as they do into the flat one.
"""

from __future__ import annotations

import math
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from .derived import discard, generation_file, read_generation, write_generation_file

# Searches here are one query at a time; on a single query, FAISS's OpenMP threads cost more than
# they give (measured: 20 ms with 2 threads, 15 ms with 1, over 100k vectors).
faiss.omp_set_num_threads(1)

# Exact search up to this many chunks. At 200,000 a flat scan took 10.6 ms a query (p50, 300
# hits) and its vectors 300 MB, a third of a hybrid search (30 ms); at 1,000,000, 53 ms and
# 1.5 GB, and hybrid p95 119 ms. The IVF at 200,000 chunks: recall@10 0.970, hybrid 16 ms
# (BENCHMARKS.md, "One million chunks"). Up to here exactness costs little; past it, it costs
# more with every chunk.
FLAT_MAX = 200_000
# Lists probed per query: an eighth of them. Recall@10 against exact search, 1,000 SciFact
# queries, candidates rescored (benchmarks/ivf_sweep.py): a sixteenth 0.940 at 200,000 chunks
# and 0.978 at 1,000,000; an eighth 0.970 and 0.988 (5.5 ms at 1,000,000); a quarter 0.991 and
# 0.996 (10.5 ms).
NPROBE_DIVISOR = 8
# Training points per list (k-means needs 39 or more; FAISS samples at most 256).
TRAIN_PER_LIST = 64
# Candidates scored exactly: this many more than the hits asked for. At 1,000,000 chunks,
# probing an eighth: the SQ8 scores' top 10 alone gave recall@10 0.960, rescoring their top 50
# 0.988, their top 300 no more (benchmarks/ivf_sweep.py).
RESCORE_EXTRA = 40


def lists_for(n: int) -> int:
    """IVF lists for n vectors: sqrt(n), so a list holds about as many vectors as there are lists."""
    return max(1, math.isqrt(n))


def kind(index: Any) -> str:
    """'flat' or 'ivf<lists>', for people and benchmarks."""
    ivf = faiss.try_extract_index_ivf(index)
    return f"ivf{ivf.nlist}" if ivf is not None else "flat"


def suits(index: Any, n: int) -> bool:
    """Whether an index of this kind is the right one for n vectors (see the module's doc)."""
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is None:
        return n <= FLAT_MAX
    return n > FLAT_MAX // 2 and ivf.nlist // 2 <= lists_for(n) < 2 * ivf.nlist


class VectorIndex:
    """Inner-product search over normalised vectors, keyed by chunk id.

    The file `vectors-<generation>.faiss` holds the vectors as of that SQLite generation. It is
    written beside the old one and the old one deleted after, so a file that exists is whole; a
    file that is missing, damaged, of another generation or of the wrong kind for its size is
    rebuilt from SQLite.
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
                self._index = None  # let the old index go before the new one is read
                n = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
                index = self._read(gen, n)
                if index is None:
                    index = self._rebuild(conn, n)
            finally:
                conn.execute("COMMIT")
            self._index, self._generation = index, gen
            return index

    def apply(
        self, removed: list[int], added: list[int], vectors: list[np.ndarray], generation: int
    ) -> None:
        """Mirror a committed SQLite write in memory (if the index is loaded at all). When the
        index is no longer the right kind for its size (it crossed FLAT_MAX, or grew fourfold
        since the IVF was trained), it is dropped, and the next read builds it from SQLite."""
        with self._lock:
            if self._index is None:
                return
            if removed:
                self._index.remove_ids(np.asarray(removed, dtype=np.int64))
            if added:
                self._index.add_with_ids(np.vstack(vectors), np.asarray(added, dtype=np.int64))
            self._generation = generation
            if not suits(self._index, self._index.ntotal):
                self._index, self._generation = None, -1

    def flush(self, conn: sqlite3.Connection) -> None:
        """Write the file for the current generation and delete the files of older ones."""
        with self._lock:
            index = self.current(conn)
            write_generation_file(
                self.folder,
                "vectors",
                ".faiss",
                self._generation,
                lambda f: faiss.write_index(index, faiss.PyCallbackIOWriter(f.write)),  # type: ignore[attr-defined]
            )

    def search(
        self, conn: sqlite3.Connection, query: np.ndarray, k: int, allowed: np.ndarray | None
    ) -> list[tuple[int, float]]:
        index = self.current(conn)
        if index.ntotal == 0 or k <= 0 or (allowed is not None and len(allowed) == 0):
            return []
        q = np.ascontiguousarray(query.reshape(1, -1), dtype=np.float32)
        sel = faiss.IDSelectorBatch(allowed) if allowed is not None else None
        ivf = faiss.try_extract_index_ivf(index)
        if ivf is None:
            params = faiss.SearchParameters(sel=sel) if sel is not None else None  # type: ignore[call-arg]
            scores, ids = index.search(q, min(k, index.ntotal), params=params)
            return [(int(i), float(s)) for i, s in zip(ids[0], scores[0], strict=True) if i >= 0]
        nprobe = max(1, ivf.nlist // NPROBE_DIVISOR)
        if allowed is not None:  # probe more lists, so as many allowed vectors are scanned
            nprobe = min(ivf.nlist, math.ceil(nprobe * index.ntotal / len(allowed)))
        params = faiss.SearchParametersIVF(nprobe=nprobe)  # type: ignore[call-arg]
        if sel is not None:
            params.sel = sel
        fetch = min(index.ntotal, k + RESCORE_EXTRA)
        _, ids = index.search(q, fetch, params=params)
        return self._rescore(conn, q[0], [int(i) for i in ids[0] if i >= 0], k)

    def _rescore(
        self, conn: sqlite3.Connection, q: np.ndarray, ids: list[int], k: int
    ) -> list[tuple[int, float]]:
        """The exact inner products of these candidates (their float vectors, from SQLite),
        best first: the IVF's quantised scores only choose which to look at."""
        got: list[int] = []
        vecs: list[bytes] = []
        for lo in range(0, len(ids), 500):
            part = ids[lo : lo + 500]
            marks = ",".join("?" * len(part))
            for cid, blob in conn.execute(
                f"SELECT id, vector FROM chunks WHERE id IN ({marks})", part
            ):
                got.append(cid)
                vecs.append(blob)
        if not got:
            return []  # removed since (another process wrote): nothing to show
        scores = np.frombuffer(b"".join(vecs), dtype=np.float32).reshape(len(got), -1) @ q
        order = sorted(range(len(got)), key=lambda i: (-scores[i], got[i]))[:k]
        return [(got[i], float(scores[i])) for i in order]

    def _read(self, gen: int, n: int) -> Any:
        file = generation_file(self.folder, "vectors", ".faiss", gen)
        if not file.exists():
            return None
        try:
            index = faiss.read_index(str(file))
        except RuntimeError:
            discard(file)  # damaged: the caller rebuilds it, the next flush writes it
            return None
        if index.ntotal != n or index.d != self.dim or not suits(index, n):
            discard(file)
            return None
        return index

    def _rebuild(self, conn: sqlite3.Connection, n: int) -> Any:
        """The index for the n chunks in SQLite: flat, or an IVF trained on a sample of them."""
        if n <= FLAT_MAX:
            index = faiss.IndexIDMap2(faiss.IndexFlatIP(self.dim))
        else:
            index = self._trained(conn, n)
        faiss.omp_set_num_threads(os.cpu_count() or 1)  # adding assigns lists: all cores
        try:
            cur = conn.execute("SELECT id, vector FROM chunks ORDER BY id")
            while rows := cur.fetchmany(8192):
                ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
                vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
                index.add_with_ids(vecs.reshape(len(rows), self.dim), ids)
        finally:
            faiss.omp_set_num_threads(1)
        return index

    def _trained(self, conn: sqlite3.Connection, n: int) -> Any:
        """An empty IVF-SQ8 index with sqrt(n) lists, trained on evenly spaced chunks."""
        nlist = lists_for(n)
        # The ids come from the chunks_doc index (small), not the table (whose rows hold vectors).
        ids = np.sort(
            np.fromiter((r[0] for r in conn.execute("SELECT id FROM chunks")), dtype=np.int64)
        )
        pick = ids[:: max(1, len(ids) // (nlist * TRAIN_PER_LIST))].tolist()
        blobs: list[bytes] = []
        for lo in range(0, len(pick), 500):
            part = pick[lo : lo + 500]
            marks = ",".join("?" * len(part))
            blobs += [
                r[0] for r in conn.execute(f"SELECT vector FROM chunks WHERE id IN ({marks})", part)
            ]
        sample = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(blobs), self.dim)
        index = faiss.index_factory(self.dim, f"IVF{nlist},SQ8", faiss.METRIC_INNER_PRODUCT)
        faiss.omp_set_num_threads(os.cpu_count() or 1)
        try:
            index.train(sample)
        finally:
            faiss.omp_set_num_threads(1)
        return index
