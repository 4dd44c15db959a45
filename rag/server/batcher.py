"""Dynamic batching of embedding requests: concurrent requests share one model call.

A batch closes when its tokens would pass `max_tokens` or when `max_wait_s` has passed since its
first request arrived, whichever is first. The model is called from one worker thread, never on
the event loop (and under rag serve it runs in a process of its own, see worker.py), so the server
keeps answering while a batch is computed; the next batch gathers meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from ..embeddings import Embedder
from .metrics import Metrics


@dataclass
class _Item:
    texts: list[str]
    tokens: int
    future: asyncio.Future[np.ndarray] = field(repr=False)


class EmbeddingBatcher:
    def __init__(
        self,
        embedder: Embedder,
        *,
        max_tokens: int = 8192,
        max_wait_s: float = 0.005,
        metrics: Metrics | None = None,
        embed_fn: Callable[[list[str]], np.ndarray] | None = None,
        in_flight: int = 1,
    ) -> None:
        self.embedder = embedder
        self.embed_fn = embed_fn or embedder.embed  # what computes a batch
        self.max_tokens = max_tokens
        self.max_wait_s = max_wait_s
        self.in_flight = in_flight  # batches computed at once (one per model process)
        self.metrics = metrics or Metrics()
        self._queue: deque[_Item] = deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        self._slots: asyncio.Semaphore | None = None
        self._busy = 0  # batches being computed
        self._waiting = 0  # texts queued
        self._executor: ThreadPoolExecutor | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def loop(self) -> asyncio.AbstractEventLoop:
        """The event loop the batcher runs on (for threads submitting to it)."""
        if self._loop is None:
            raise RuntimeError("the embedding batcher is not running")
        return self._loop

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._slots = asyncio.Semaphore(self.in_flight)
        self._executor = ThreadPoolExecutor(self.in_flight, thread_name_prefix="rag-embed")
        self._task = asyncio.create_task(self._run(), name="rag-embed-batcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        for task in list(self._running):
            task.cancel()
        for item in self._queue:
            if not item.future.done():
                item.future.set_exception(RuntimeError("the server is shutting down"))
        self._queue.clear()
        self._waiting = 0
        if self._executor is not None:
            # Not waiting: a batch being computed ends when the model process is closed next
            # (ProcessEmbedder.close); waiting here kept a SIGTERM'd server alive for seconds.
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    async def embed(self, texts: list[str], tokens: int) -> np.ndarray:
        """Vectors for `texts` (normalised, as the index stores them); `tokens` is their total."""
        if self._task is None or self._wakeup is None:
            raise RuntimeError("the batcher is not running")
        fut: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        self._queue.append(_Item(texts, tokens, fut))
        self.metrics.queue_depth += len(texts)
        self._waiting += len(texts)
        self._wakeup.set()
        return await fut

    def _take(self) -> _Item:
        item = self._queue.popleft()
        self.metrics.queue_depth -= len(item.texts)
        self._waiting -= len(item.texts)
        return item

    async def _run(self) -> None:
        assert self._wakeup is not None and self._slots is not None
        loop = asyncio.get_running_loop()
        while True:
            await self._slots.acquire()  # a model process is free: gather its batch
            while not self._queue:
                self._wakeup.clear()
                await self._wakeup.wait()
            batch = [self._take()]
            tokens, size = batch[0].tokens, len(batch[0].texts)
            deadline = loop.time() + self.max_wait_s
            while tokens < self.max_tokens:
                if not self._queue:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    self._wakeup.clear()
                    try:
                        await asyncio.wait_for(self._wakeup.wait(), left)
                    except TimeoutError:
                        break
                    continue
                if tokens + self._queue[0].tokens > self.max_tokens:
                    break  # it starts the next batch
                # With other model processes idle, this batch takes only its share of the texts
                # waiting, and the rest starts theirs: one batch of everything would leave them
                # idle, and keep the batches in step ever after.
                idle = self.in_flight - 1 - self._busy
                share = -(-(size + self._waiting) // (1 + idle))
                if size + len(self._queue[0].texts) > share:
                    break
                item = self._take()
                batch.append(item)
                tokens += item.tokens
                size += len(item.texts)
            batch = [b for b in batch if not b.future.cancelled()]  # clients that went away
            if not batch:
                self._slots.release()
                continue
            self._busy += 1
            self.metrics.batches_running = self._busy
            task = asyncio.create_task(self._compute(batch, tokens))
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _compute(self, batch: list[_Item], tokens: int) -> None:
        assert self._slots is not None
        try:
            texts = [t for b in batch for t in b.texts]
            t0 = time.perf_counter()
            try:
                loop = asyncio.get_running_loop()
                vecs = await loop.run_in_executor(self._executor, self.embed_fn, texts)
            except asyncio.CancelledError:
                for b in batch:
                    if not b.future.done():
                        b.future.set_exception(RuntimeError("the server is shutting down"))
                raise
            except Exception as exc:
                for b in batch:
                    if not b.future.done():
                        b.future.set_exception(exc)
                return
            self.metrics.batch(len(texts), tokens, time.perf_counter() - t0)
            lo = 0
            for b in batch:
                if not b.future.done():
                    b.future.set_result(vecs[lo : lo + len(b.texts)])
                lo += len(b.texts)
        finally:
            self._busy -= 1
            self.metrics.batches_running = self._busy
            self._slots.release()
            if self._wakeup is not None:
                self._wakeup.set()  # a batch being gathered may now leave texts to this process
