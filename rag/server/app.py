"""rag serve: OpenAI-compatible embeddings and chat, plus search, ask and document endpoints.

`create_app` only assembles: the shared state (state.py), the routes by resource (routes/), the
error shape (errors.py), the size limit and metrics (limits.py), the Origin/Host guards
(security.py). Everything blocking (the model, the index, file loading) runs off the event loop:
embeddings on the batcher's worker thread, the rest on the thread pool.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from starlette.concurrency import run_in_threadpool

from ..api import RagIndex, chunking_of
from ..config import Settings
from ..embeddings import Embedder
from ..errors import IndexMismatchError
from .errors import APIError, error_body, install_error_handlers
from .limits import LimitsAndMetrics
from .mcp import mcp_route as mcp_endpoint
from .routes import ask, chat, documents, embeddings, service
from .schemas import CHAT_MODEL
from .security import install_guards
from .state import Server, check_bind, is_loopback

log = logging.getLogger("rag.server")

__all__ = [
    "CHAT_MODEL",
    "APIError",
    "Server",
    "check_bind",
    "create_app",
    "error_body",
    "is_loopback",
]


def create_app(
    settings: Settings,
    index: RagIndex | None = None,
    *,
    embedder: Embedder | None = None,
    model_process: bool | None = None,
) -> FastAPI:
    """The ASGI app. `index` is opened from `settings` when not given (and closed on shutdown).

    The model runs in a child process (`model_process`, the default when the app builds the
    embedder from `settings`) or, for an embedder passed in, on the batcher's worker thread.
    Inside the app, searches, answers and uploads embed through the batcher as well.
    """
    own_index = index is None
    if model_process is None:
        model_process = index is None and embedder is None
    opened = index or RagIndex.open(settings, embedder)
    try:  # say it at start, not at the first upload
        opened.store.manifest.check_chunking(
            chunking_of(opened.settings, opened.embedder), opened.store.location
        )
    except IndexMismatchError as exc:
        log.warning("%s Searching and answering work; uploads are refused until then.", exc)
    server = Server(settings, opened, model_process=model_process)
    idx = server.index
    mcp_route, run_mcp = mcp_endpoint(server)  # the MCP tools at /mcp (rag/server/mcp.py)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        await server.batcher.start()
        try:
            # Start the model and load the index's derived files now, not on the first request;
            # then freeze what is loaded out of the garbage collector's full passes, which
            # would otherwise stall the event loop now and then.
            if server.process is not None:
                await loop.run_in_executor(None, server.process.warm_up)
            else:
                await loop.run_in_executor(None, server.batcher.embed_fn, ["warm up"])
            await run_in_threadpool(idx.search, "warm up", 1, mode="keyword")
            await run_in_threadpool(idx.store.vector_count)
            gc.collect()
            gc.freeze()
            async with run_mcp():
                yield
        finally:
            await server.batcher.stop()
            if server.process is not None:
                await run_in_threadpool(server.process.close)
            if own_index:
                opened.close()

    telemetry = _telemetry()
    app = FastAPI(
        title="rag",
        version="1",
        summary="Ask questions of your own documents: OpenAI-compatible embeddings and chat, "
        "search, answers with citations, and document upload.",
        lifespan=lifespan,
        telemetry=telemetry,
    )
    app.state.server = server
    install_guards(app, settings)  # Origin/Host checks without keys, CORS: see security.py
    install_error_handlers(app)
    for router in (service.router, embeddings.router, ask.router, chat.router, documents.router):
        app.include_router(router)
    app.router.routes.append(mcp_route)
    if telemetry is not None:  # OpenTelemetry off: see DirectRoute
        app.router.routes.insert(0, embeddings.DirectRoute())  # matched before FastAPI's route
    app.add_middleware(
        LimitsAndMetrics, max_body=int(settings.max_body_mb * 1024 * 1024), metrics=server.metrics
    )
    return app


def _telemetry() -> TelemetryConfig | None:
    """FastAPI's OpenTelemetry spans and metrics when OpenTelemetry is configured (an OTEL_*
    variable is set, as `opentelemetry-instrument` and its exporters need); otherwise off. Left
    on, FastAPI asks OpenTelemetry for its providers on every request, reading the environment
    each time: 5% of the server's CPU under /v1/embeddings load, for nothing."""
    if any(k.startswith("OTEL_") for k in os.environ):
        return None  # FastAPI's defaults
    return {"tracing": False, "metrics": False, "logs": False}
