"""The embedding model in its own process, and an Embedder that sends its work through the batcher.

Why a process: the model's Python code (module calls between torch kernels) holds the GIL, and an
event loop sharing a process with it waits for the GIL behind it; under load that delay reached
hundreds of milliseconds on /healthz. In its own process the model has its own GIL: the server's
process keeps only the tokenizer (for counting tokens) and the index.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing as mp
import os
import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from ..config import Settings
from ..embeddings import Embedder, ProgressFn
from ..errors import EmbeddingError

_ENVIRON = threading.Lock()  # os.environ is set around a child's start (see ProcessEmbedder.start)


def _serve(conn: Connection, settings_json: str, threads: int | None) -> None:  # pragma: no cover
    from ..api import make_embedder

    embedder = make_embedder(Settings.model_validate_json(settings_json))
    if threads is not None and hasattr(embedder, "threads"):
        embedder.threads = threads  # ONNX Runtime's intra-op threads (PyTorch: OMP_NUM_THREADS)
    while True:
        try:
            texts = conn.recv()
        except EOFError:
            return
        if texts is None:
            return
        try:
            conn.send(("ok", embedder.embed(texts)))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}"))


class ProcessEmbedder:
    """`embed(texts)` computed by a child process running `make_embedder(settings)`, on
    `threads` CPU threads (default: the backend's own choice, every core).

    Calls are serialised (one batch at a time, as the batcher sends them); a child that dies is
    started again on the next call.
    """

    def __init__(self, settings: Settings, threads: int | None = None) -> None:
        self._settings_json = settings.model_dump_json()
        self.threads = threads
        self._ctx = mp.get_context("spawn")  # never fork a process that may hold torch threads
        self._proc: Any = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        parent, child = self._ctx.Pipe()
        self._proc = self._ctx.Process(
            target=_serve,
            args=(child, self._settings_json, self.threads),
            name="rag-embed",
            daemon=True,
        )
        # The model's OpenMP threads wait for each other by spinning by default. When the CPUs
        # are shared (with the server's own process and its clients, on a small machine) a
        # spinning thread burns the time its partner needs: measured, the model took 2-4x the
        # CPU per text of a bare encode. The child reads this when its OpenMP starts.
        env = {"OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY") or "PASSIVE"}
        if self.threads is not None:
            env["OMP_NUM_THREADS"] = str(self.threads)  # PyTorch's threads, read at its import
        if self.threads == 1:
            # The tokenizer's own thread pool (one thread per core) would wake for every batch
            # in a process meant to take one core: measured, 2.6% of its CPU under load.
            env["TOKENIZERS_PARALLELISM"] = os.environ.get("TOKENIZERS_PARALLELISM") or "false"
        with _ENVIRON:  # workers of one pool may be restarted from two threads at once
            saved = {k: os.environ.get(k) for k in env}
            os.environ.update(env)
            try:
                self._proc.start()
            finally:
                for k, v in saved.items():
                    if v is None:
                        del os.environ[k]
                    else:
                        os.environ[k] = v
        child.close()
        self._conn = parent

    def embed(self, texts: list[str]) -> np.ndarray:
        with self._lock:
            if self._proc is None or not self._proc.is_alive():
                self.start()
            assert self._conn is not None
            try:
                self._conn.send(texts)
                status, payload = self._conn.recv()
            except (EOFError, OSError) as exc:
                self._proc = None
                raise EmbeddingError(f"the embedding process stopped: {exc}") from exc
        if status != "ok":
            raise EmbeddingError(f"the embedding process failed: {payload}")
        return np.asarray(payload, dtype=np.float32)

    def close(self) -> None:
        """End the child within a few seconds, even in the middle of a batch: embed() holds the
        lock while it waits on the pipe, and ending the child ends that wait (EOFError)."""
        got = self._lock.acquire(timeout=1.0)
        try:
            proc, conn = self._proc, self._conn
            if conn is not None and got:
                with contextlib.suppress(OSError):
                    conn.send(None)  # asks the idle child to return
            if proc is not None:
                proc.join(2.0 if got else 0)
                if proc.is_alive():
                    proc.terminate()
                    proc.join(2.0)
                if proc.is_alive():
                    proc.kill()
                    proc.join(1.0)
            if conn is not None:
                conn.close()
            self._proc, self._conn = None, None
        finally:
            if got:
                self._lock.release()


class ProcessPool:
    """`workers` model processes side by side, each on cores/workers threads; `embed` gives a
    batch to a free one (the batcher keeps at most `workers` batches in flight).

    Why several single-threaded processes rather than one process on every core: the threads of
    one model call wait for each other at every operator, so when the server's own process takes
    a core, the whole call stalls; separate processes only lose the core that was taken, and
    one computes while the other's batch is being answered and the next one gathered
    (BENCHMARKS.md, "HTTP embeddings").
    """

    def __init__(self, settings: Settings, workers: int) -> None:
        cores = len(os.sched_getaffinity(0))
        threads = None if workers == 1 else max(1, cores // workers)
        self.workers = [ProcessEmbedder(settings, threads) for _ in range(workers)]
        self._free: queue.SimpleQueue[ProcessEmbedder] = queue.SimpleQueue()
        for w in self.workers:
            self._free.put(w)

    def embed(self, texts: list[str]) -> np.ndarray:
        worker = self._free.get()
        try:
            return worker.embed(texts)
        finally:
            self._free.put(worker)

    def warm_up(self) -> None:
        """Start every process and load its model now, not on the first requests."""
        with ThreadPoolExecutor(len(self.workers)) as pool:
            list(pool.map(lambda w: w.embed(["warm up"]), self.workers))

    def close(self) -> None:
        for w in self.workers:
            w.close()


class BatchedEmbedder(Embedder):
    """The index's embedder as seen by search and ingestion inside the server: the same name,
    fingerprint, dimension and tokenizer, but vectors come from the batcher (so queries and
    uploads share batches with /v1/embeddings and the model runs where the batcher runs it).

    Called from worker threads only (never from the event loop, which it would deadlock).
    """

    def __init__(
        self,
        inner: Embedder,
        submit: Any,
        loop: Callable[[], asyncio.AbstractEventLoop],
        piece_tokens: int = 8192,
    ) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.max_tokens = inner.max_tokens
        self.batch_size = inner.batch_size
        self._submit = submit  # async (texts, tokens) -> np.ndarray
        self.piece_tokens = piece_tokens
        self._loop = loop  # the event loop the batcher runs on, known once the server starts

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:  # pragma: no cover - embed() overrides
        return self.embed(texts)

    def embed(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        texts = list(texts)
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        counts = [min(n, self.max_tokens) for n in self.count_tokens(texts)]
        out = []
        # An upload's thousands of chunks go in pieces of at most one batch's tokens, one after
        # the other, so requests arriving meanwhile are served between them.
        lo = 0
        while lo < len(texts):
            hi, tokens = lo + 1, counts[lo]
            while hi < len(texts) and tokens + counts[hi] <= self.piece_tokens:
                tokens += counts[hi]
                hi += 1
            fut = asyncio.run_coroutine_threadsafe(self._submit(texts[lo:hi], tokens), self._loop())
            out.append(fut.result())
            if progress is not None:
                progress(hi - lo)
            lo = hi
        return np.concatenate(out)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]
