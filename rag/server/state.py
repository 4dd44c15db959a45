"""What the routes share (the index, the embedder, the batcher, the metrics, the keys), how a
route reaches it, and the bearer-key check."""

from __future__ import annotations

import os
import secrets
import time
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..api import RagIndex
from ..config import Settings, is_loopback
from ..embeddings import Embedder
from ..errors import ConfigError
from ..uploads import Uploads
from .batcher import EmbeddingBatcher
from .errors import APIError
from .metrics import Metrics
from .schemas import CHAT_MODEL
from .worker import BatchedEmbedder, ProcessPool
from .writer import WriterQueue

_bearer = HTTPBearer(auto_error=False, description="An API key from RAG_API_KEYS.")


class Server:
    """What the endpoints share: the index, its embedder, the batcher and the metrics."""

    def __init__(self, settings: Settings, index: RagIndex, *, model_process: bool) -> None:
        self.settings = settings
        self.embedder: Embedder = index.embedder  # names, dimension, tokenizer; never the model
        self.metrics = Metrics()
        workers = settings.embed_workers or min(2, len(os.sched_getaffinity(0)))
        self.process = ProcessPool(settings, workers) if model_process else None
        self.metrics.model_processes = workers if model_process else 0
        self.batcher = EmbeddingBatcher(
            self.embedder,
            max_tokens=settings.batch_max_tokens,
            max_wait_s=settings.batch_wait_ms / 1000,
            metrics=self.metrics,
            embed_fn=self.process.embed if self.process else None,
            in_flight=len(self.process.workers) if self.process else 1,
        )
        # Searches, answers and uploads embed through the batcher too: the routes see the index
        # through a batched view of its own embedder (same model, same store).
        batched = BatchedEmbedder(
            index.embedder, self.batcher.embed, self.batcher.loop, settings.batch_max_tokens
        )
        self.index: RagIndex = index.with_embedder(batched)
        self.keys = [k.get_secret_value() for k in settings.api_keys]
        self.uploads = Uploads.of(settings)
        self.writer = WriterQueue(settings.upload_queue, settings.upload_wait_s, self.metrics)
        self.uploads.migrate(index.store)  # uploads kept flat by earlier app versions
        manifest = index.info()["embedding"]
        self.model_id: str = str(manifest["name"])
        self.fingerprint: str = str(manifest["fingerprint"])
        self.started = time.time()

    def model_card(self) -> dict[str, Any]:
        return {
            "id": self.model_id,
            "object": "model",
            "created": int(self.started),
            "owned_by": "rag",
            "kind": "embedding",
            "fingerprint": self.fingerprint,
            "dimensions": self.embedder.dim,
            "max_input_tokens": self.embedder.max_tokens,
        }

    def chat_card(self) -> dict[str, Any]:
        return {
            "id": CHAT_MODEL,
            "object": "model",
            "created": int(self.started),
            "owned_by": "rag",
            "kind": "chat",
            "backend": self.settings.backend,
        }

    def accepts_model(self, name: str | None) -> bool:
        if name is None:
            return True
        return name in (self.model_id, self.fingerprint) or name.rsplit("/", 1)[-1] == self.model_id


def check_bind(settings: Settings) -> None:
    """Anything but loopback is reachable by others: it needs API keys."""
    if not is_loopback(settings.host) and not settings.api_keys:
        raise ConfigError(
            f"binding to {settings.host} exposes the index to the network: set RAG_API_KEYS "
            "(one or more bearer keys), or bind to 127.0.0.1"
        )


async def server_of(request: Request) -> Server:
    """The app's shared state (a FastAPI dependency). Async on purpose: FastAPI runs a plain
    function dependency in its thread pool, a thread hop on every request for one attribute
    read (measured under /v1/embeddings load: BENCHMARKS.md, "HTTP embeddings")."""
    server: Server = request.app.state.server
    return server


async def authorize(
    request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    server: Server = request.app.state.server
    require_key(server.keys, creds.credentials if creds is not None else "")


def require_key(keys: list[str], given: str) -> None:
    """The 401 unless `given` is one of `keys` (anything passes when no keys are set); for the
    routes (through `authorize`) and for /mcp (rag/server/mcp.py)."""
    if not keys:
        return
    if not any(secrets.compare_digest(given.encode(), k.encode()) for k in keys):
        raise APIError(
            401,
            "missing or wrong API key: send Authorization: Bearer <key>",
            type="authentication_error",
            code="invalid_api_key",
        )


AUTH = [Depends(authorize)]
ServerDep = Annotated[Server, Depends(server_of)]
