"""Uploads and deletes take turns at the index's one writer: a bounded queue, waited on in the
event loop (a delete that ran beside an upload of the same name would unlink the file it had
just stored).

The index has one writer at a time. An upload that arrives while another is being indexed
waits for its turn (without holding a thread, so `/healthz` and searches are served meanwhile)
up to `upload_wait_s`; when `upload_queue` uploads are already waiting, or the wait runs out, it
is answered at once with 503 and a `Retry-After` header. Nothing is stored before an upload's
turn, so a refused upload leaves nothing behind.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .errors import APIError
from .metrics import Metrics


class WriterQueue:
    def __init__(self, max_waiting: int, wait_s: float, metrics: Metrics | None = None) -> None:
        self.max_waiting = max_waiting
        self.wait_s = wait_s
        self.metrics = metrics or Metrics()
        self.waiting = 0
        self._lock: asyncio.Lock | None = None  # made in the server's loop, on first use

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold the writer for one upload or delete, after those ahead of it."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        lock = self._lock
        if lock.locked() and self.waiting >= self.max_waiting:
            raise _busy(
                f"{self.waiting} uploads are already waiting for the index writer "
                "(RAG_UPLOAD_QUEUE); send this one again later",
                "upload_queue_full",
                self.wait_s,
            )
        self._count(+1)
        try:
            await asyncio.wait_for(lock.acquire(), self.wait_s)
        except TimeoutError:
            raise _busy(
                f"waited {self.wait_s:g} s for the index writer (RAG_UPLOAD_WAIT_S) while other "
                "uploads were indexed; send this one again later",
                "upload_wait_timeout",
                self.wait_s,
            ) from None
        finally:
            self._count(-1)
        try:
            yield
        finally:
            lock.release()

    def _count(self, step: int) -> None:
        self.waiting += step
        self.metrics.uploads_waiting = self.waiting


def _busy(message: str, code: str, retry_s: float) -> APIError:
    retry = str(max(1, math.ceil(min(retry_s, 60))))
    return APIError(503, message, type="server_busy", code=code, headers={"Retry-After": retry})
