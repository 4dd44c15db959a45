"""rag serve: OpenAI-compatible embeddings and chat, plus search, ask and document endpoints.

Everything blocking (the model, the index, file loading) runs off the event loop: embeddings on
the batcher's worker thread, the rest on the thread pool. Errors are OpenAI-shaped JSON:
{"error": {"message", "type", "param", "code"}} with a 4xx status for anything the client can fix.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import ipaddress
import json
import logging
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import orjson
from fastapi import Depends, FastAPI, File, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, StrictInt
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..answer import Answer
from ..answer.types import Checked, Delta
from ..api import RagIndex
from ..chat import rewrite
from ..config import Settings
from ..embeddings import Embedder
from ..errors import (
    ConfigError,
    DocumentNotFoundError,
    EmbeddingError,
    GenerationError,
    IndexLockedError,
    LoadError,
    RagError,
    UnsupportedFileError,
)
from ..ingest.loaders import SUPPORTED_SUFFIXES
from ..uploads import Batch, Uploads, safe_name
from .batcher import EmbeddingBatcher
from .metrics import Metrics
from .security import install_guards
from .worker import BatchedEmbedder, ProcessEmbedder

log = logging.getLogger("rag.server")
CHAT_MODEL = "rag"
_bearer = HTTPBearer(auto_error=False, description="An API key from RAG_API_KEYS.")


# ------------------------------------------------------------------------------------ errors
class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = (
            status,
            message,
            type,
            param,
            code,
        )


def error_body(
    message: str, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def _error(status: int, message: str, type: str, param: str | None = None, code: str | None = None):
    return JSONResponse(error_body(message, type, param, code), status_code=status)


_RAG_STATUS: list[tuple[type[RagError], int, str]] = [
    (DocumentNotFoundError, 404, "not_found_error"),
    (UnsupportedFileError, 415, "unsupported_file"),
    (LoadError, 422, "load_error"),
    (ConfigError, 400, "invalid_request_error"),
    (IndexLockedError, 409, "index_locked"),
    (EmbeddingError, 503, "model_error"),
    (GenerationError, 503, "model_error"),
]


def _rag_status(exc: RagError) -> tuple[int, str]:
    for cls, status, kind in _RAG_STATUS:
        if isinstance(exc, cls):
            return status, kind
    return 500, "server_error"


# ------------------------------------------------------------------------------------ models
class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: str | list[str] | list[int] | list[list[int]] = Field(
        description="A text or a list of texts (token arrays are not accepted)."
    )
    model: str | None = Field(None, description="The embedding model's id (GET /v1/models).")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: StrictInt | None = Field(
        None, description="Only the model's own dimension is supported; any other is a 400."
    )
    user: str | None = None
    truncate: bool = Field(
        False,
        description="Cut inputs longer than the model reads instead of rejecting them (an "
        "extension, as in text-embeddings-inference).",
    )


class Filtering(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: StrictInt | None = Field(None, ge=1, le=100, description="Passages to retrieve.")
    mode: Literal["dense", "keyword", "hybrid"] | None = None
    path: str | None = Field(None, max_length=1000, description="Glob or name the path matches.")
    file_types: list[str] | None = Field(None, max_length=10)


class SearchRequest(Filtering):
    query: str = Field(max_length=10000)


class AskRequest(Filtering):
    question: str = Field(max_length=10000)
    stream: bool = Field(False, description="Server-Sent Events: deltas, sentences, the answer.")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, ...: accepted, unused

    model: str = CHAT_MODEL
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    k: StrictInt | None = Field(None, ge=1, le=100)
    mode: Literal["dense", "keyword", "hybrid"] | None = None
    path: str | None = Field(None, max_length=1000)
    file_types: list[str] | None = Field(None, max_length=10)


# ------------------------------------------------------------------------------------ middleware
class _BodyTooLarge(Exception):
    pass


class LimitsAndMetrics:
    """Refuses bodies over the limit (413, by Content-Length or while reading) and records every
    request's route, status and duration."""

    def __init__(self, app: ASGIApp, max_body: int, metrics: Metrics) -> None:
        self.app = app
        self.max_body = max_body
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = 500
        started = False

        refused = False  # the 413 went out: whatever the app sends after it is dropped

        async def send_wrapper(message: Message) -> None:
            nonlocal status, started
            if refused:
                return
            if message["type"] == "http.response.start":
                status, started = message["status"], True
            await send(message)

        async def too_large() -> None:
            body = json.dumps(
                error_body(
                    f"request body over the limit of {self.max_body} bytes (RAG_MAX_BODY_MB)",
                    "invalid_request_error",
                    code="request_too_large",
                )
            ).encode()
            await send_wrapper(
                {
                    "type": "http.response.start",
                    "status": 413,
                    "headers": [(b"content-type", b"application/json")],
                }
            )
            await send_wrapper({"type": "http.response.body", "body": body})

        received = 0

        async def limited_receive() -> Message:
            # Bodies without a Content-Length are counted as they arrive. The 413 is sent from
            # here, because the framework turns errors while reading a body into its own 400.
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body:
                    if not started and not refused:
                        await too_large()
                        refused = True
                    raise _BodyTooLarge
            return message

        self.metrics.in_flight += 1
        try:
            length = dict(scope.get("headers") or []).get(b"content-length")
            if length is not None and length.isdigit() and int(length) > self.max_body:
                await too_large()
                return
            with suppress(_BodyTooLarge):
                await self.app(scope, limited_receive, send_wrapper)
        finally:
            self.metrics.in_flight -= 1
            route = scope.get("route")
            name = getattr(route, "path_format", None) or "unmatched"
            self.metrics.request(scope["method"], name, status, time.perf_counter() - t0)


# ------------------------------------------------------------------------------------ the app
class Server:
    """What the endpoints share: the index, its embedder, the batcher and the metrics."""

    def __init__(self, settings: Settings, index: RagIndex, *, model_process: bool) -> None:
        self.settings = settings
        self.index = index
        self.embedder: Embedder = index.embedder  # names, dimension, tokenizer; never the model
        self.metrics = Metrics()
        self.process = ProcessEmbedder(settings) if model_process else None
        self.batcher = EmbeddingBatcher(
            self.embedder,
            max_tokens=settings.batch_max_tokens,
            max_wait_s=settings.batch_wait_ms / 1000,
            metrics=self.metrics,
            embed_fn=self.process.embed if self.process else None,
        )
        self.keys = [k.get_secret_value() for k in settings.api_keys]
        self.uploads = Uploads.of(settings)
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


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(settings: Settings) -> None:
    """Anything but loopback is reachable by others: it needs API keys."""
    if not is_loopback(settings.host) and not settings.api_keys:
        raise ConfigError(
            f"binding to {settings.host} exposes the index to the network: set RAG_API_KEYS "
            "(one or more bearer keys), or bind to 127.0.0.1"
        )


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
    idx = index or RagIndex.open(settings, embedder)
    server = Server(settings, idx, model_process=model_process)
    inner = idx.embedder

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        await server.batcher.start()
        batched = BatchedEmbedder(
            inner, server.batcher.embed, loop, piece_tokens=settings.batch_max_tokens
        )
        idx.embedder = idx.retriever.embedder = batched
        idx._answerer = None  # built again, with the batched embedder
        try:
            # Start the model and load the index's derived files now, not on the first request;
            # then freeze what is loaded out of the garbage collector's full passes, which
            # would otherwise stall the event loop now and then.
            await loop.run_in_executor(None, server.batcher.embed_fn, ["warm up"])
            await run_in_threadpool(idx.search, "warm up", 1, mode="keyword")
            await run_in_threadpool(idx.store.vector_count)
            gc.collect()
            gc.freeze()
            yield
        finally:
            await server.batcher.stop()
            idx.embedder = idx.retriever.embedder = inner
            idx._answerer = None
            if server.process is not None:
                await run_in_threadpool(server.process.close)
            if own_index:
                idx.close()

    app = FastAPI(
        title="rag",
        version="1",
        summary="Ask questions of your own documents: OpenAI-compatible embeddings and chat, "
        "search, answers with citations, and document upload.",
        lifespan=lifespan,
    )
    app.state.server = server
    install_guards(app, settings)  # Origin/Host checks without keys, CORS: see security.py
    app.add_middleware(
        LimitsAndMetrics, max_body=int(settings.max_body_mb * 1024 * 1024), metrics=server.metrics
    )

    async def authorize(
        creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        if not server.keys:
            return
        given = creds.credentials if creds is not None else ""
        if not any(secrets.compare_digest(given.encode(), k.encode()) for k in server.keys):
            raise APIError(
                401,
                "missing or wrong API key: send Authorization: Bearer <key>",
                type="authentication_error",
                code="invalid_api_key",
            )

    auth = [Depends(authorize)]

    # -------------------------------------------------------------- error handlers
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return JSONResponse(
            error_body(exc.message, exc.type, exc.param, exc.code),
            status_code=exc.status,
            headers=headers,
        )

    @app.exception_handler(RagError)
    async def _rag_error(request: Request, exc: RagError) -> JSONResponse:
        status, kind = _rag_status(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        code = {"invalid_request_error": "invalid_setting", "server_error": None}.get(kind, kind)
        return _error(status, str(exc), kind, code=code)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return _error(
                400,
                "the request body is not valid JSON",
                "invalid_request_error",
                code="json_invalid",
            )
        first = errors[0] if errors else {}
        loc = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
        msg = (
            f"{loc}: {first.get('msg', 'invalid')}"
            if loc
            else str(first.get("msg", "invalid request"))
        )
        body = error_body(msg, "invalid_request_error", loc or None, "invalid_value")
        body["detail"] = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in errors]
        return JSONResponse(json.loads(json.dumps(body, default=str)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return JSONResponse(
            error_body(str(exc.detail), kind), status_code=exc.status_code, headers=exc.headers
        )

    # -------------------------------------------------------------- health and metrics
    @app.get("/healthz", tags=["service"])
    async def healthz() -> dict[str, Any]:
        """Answers at once, without touching the index or the model."""
        return {
            "status": "ok",
            "model": server.model_id,
            "fingerprint": server.fingerprint,
            "queue_depth": server.metrics.queue_depth,
        }

    @app.get("/metrics", tags=["service"], dependencies=auth, response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus text format."""
        return PlainTextResponse(
            server.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    # -------------------------------------------------------------- models and embeddings
    @app.get("/v1/models", tags=["openai"], dependencies=auth)
    async def models() -> dict[str, Any]:
        return {"object": "list", "data": [server.model_card(), server.chat_card()]}

    @app.get("/v1/models/{model_id}", tags=["openai"], dependencies=auth)
    async def model(model_id: str) -> dict[str, Any]:
        if model_id == CHAT_MODEL:
            return server.chat_card()
        if not server.accepts_model(model_id):
            raise APIError(404, f"no model {model_id!r} here", code="model_not_found")
        return server.model_card()

    @app.post("/v1/embeddings", tags=["openai"], dependencies=auth)
    async def embeddings(req: EmbeddingsRequest) -> Response:
        """OpenAI's embeddings endpoint; the vectors are the ones the index stores."""
        if not server.accepts_model(req.model):
            raise APIError(
                404,
                f"model {req.model!r} is not served here; use {server.model_id!r}",
                param="model",
                code="model_not_found",
            )
        if req.dimensions is not None and req.dimensions != server.embedder.dim:
            raise APIError(
                400,
                f"dimensions={req.dimensions} is not supported: {server.model_id} gives "
                f"{server.embedder.dim}-dimensional vectors only (leave dimensions out)",
                param="dimensions",
                code="unsupported_dimensions",
            )
        texts = [req.input] if isinstance(req.input, str) else req.input
        if not texts:
            raise APIError(400, "input is empty: send a text or a list of texts", param="input")
        if not all(isinstance(t, str) for t in texts):
            raise APIError(
                400,
                "token arrays are not accepted: send the texts themselves",
                param="input",
                code="unsupported_input",
            )
        texts_ = [str(t) for t in texts]
        if len(texts_) > server.settings.max_inputs:
            raise APIError(
                400,
                f"{len(texts_)} inputs in one request; the limit is {server.settings.max_inputs} "
                "(RAG_MAX_INPUTS)",
                param="input",
                code="too_many_inputs",
            )
        counts = await _count_tokens(server.embedder, texts_)
        limit = server.embedder.max_tokens
        if not req.truncate:
            for i, n in enumerate(counts):
                if n > limit:
                    raise APIError(
                        400,
                        f"input[{i}] has {n} tokens; {server.model_id} reads {limit}. Shorten "
                        'it, or send "truncate": true to embed its first '
                        f"{limit} tokens",
                        param="input",
                        code="input_too_long",
                    )
        used = [min(n, limit) for n in counts]  # the model reads no more than `limit`
        total = sum(used)
        if total > server.settings.max_request_tokens:
            raise APIError(
                413,
                f"the inputs come to {total} tokens; one request may ask for "
                f"{server.settings.max_request_tokens} (RAG_MAX_REQUEST_TOKENS): send them in "
                "several smaller requests",
                param="input",
                code="too_many_tokens",
            )
        vecs = await server.batcher.embed(texts_, total)
        data = [
            {"object": "embedding", "index": i, "embedding": _encode(v, req.encoding_format)}
            for i, v in enumerate(vecs)
        ]
        body = {
            "object": "list",
            "data": data,
            "model": server.model_id,
            "usage": {"prompt_tokens": total, "total_tokens": total},
            "model_fingerprint": server.fingerprint,
        }
        return Response(
            orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY),
            media_type="application/json",
            headers={"X-Model-Fingerprint": server.fingerprint},
        )

    # -------------------------------------------------------------- search and ask
    @app.post("/v1/search", tags=["rag"], dependencies=auth)
    async def search(req: SearchRequest) -> dict[str, Any]:
        hits = await run_in_threadpool(
            idx.search, req.query, req.k, mode=req.mode, path=req.path, file_types=req.file_types
        )
        return {"query": req.query, "hits": [h.to_dict() for h in hits]}

    @app.post("/v1/ask", tags=["rag"], dependencies=auth)
    async def ask(req: AskRequest) -> Any:
        """An answer with citations, or a refusal; `stream: true` sends Server-Sent Events:
        `delta` (raw text), `sentence` (checked, with citations), then `answer` and `done`."""
        kwargs: dict[str, Any] = {"mode": req.mode, "path": req.path, "file_types": req.file_types}
        if not req.stream:
            answer = await run_in_threadpool(idx.ask, req.question, req.k, **kwargs)
            return answer.to_dict()
        events = idx.ask_stream(req.question, req.k, **kwargs)
        return StreamingResponse(_ask_events(events), media_type="text/event-stream")

    @app.post("/v1/chat/completions", tags=["openai"], dependencies=auth)
    async def chat(req: ChatRequest) -> Any:
        """OpenAI chat completions, answered from the documents: the last user message is the
        question (rewritten with the one before it when it is a follow-up); the citations come
        in an extra `citations` field."""
        users = [_text(m.content) for m in req.messages if m.role == "user"]
        users = [u for u in users if u.strip()]
        if not users:
            raise APIError(400, "no user message with text in messages", param="messages")
        question = rewrite(users[-1], users[-2]) if len(users) > 1 else users[-1]
        kwargs: dict[str, Any] = {"mode": req.mode, "path": req.path, "file_types": req.file_types}
        cid = f"chatcmpl-{uuid.uuid4().hex}"
        created = int(time.time())
        if not req.stream:
            answer = await run_in_threadpool(idx.ask, question, req.k, **kwargs)
            content = answer.render()
            return {
                "id": cid,
                "object": "chat.completion",
                "created": created,
                "model": req.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content},
                        "finish_reason": "stop",
                        "logprobs": None,
                    }
                ],
                "usage": await _usage(server.embedder, question, content),
                **_rag_fields(answer, question),
            }
        events = idx.ask_stream(question, req.k, **kwargs)
        return StreamingResponse(
            _chat_chunks(events, cid, created, req.model, question, server.embedder),
            media_type="text/event-stream",
        )

    # -------------------------------------------------------------- documents
    @app.get("/v1/documents", tags=["documents"], dependencies=auth)
    async def documents() -> dict[str, Any]:
        docs = await run_in_threadpool(idx.documents)
        return {"object": "list", "data": [d.to_dict() for d in docs]}

    @app.post("/v1/documents", tags=["documents"], dependencies=auth)
    async def upload(
        files: Annotated[list[UploadFile], File(description="Files to ingest.")],
    ) -> Any:
        """Upload files and ingest them; a file with the name of an earlier upload replaces it."""
        names = []
        for f in files:
            name = safe_name(f.filename or "")
            if Path(name).suffix.lower() not in SUPPORTED_SUFFIXES:
                shown = Path(name).suffix or "(no extension)"
                raise APIError(
                    415,
                    f"{f.filename!r}: unsupported file type {shown} (supported: "
                    f"{', '.join(sorted(SUPPORTED_SUFFIXES))})",
                    type="unsupported_file",
                    param="files",
                    code="unsupported_file_type",
                )
            names.append(name)
        if not names:
            raise APIError(400, "no files in the request", param="files")
        report, stored = await run_in_threadpool(_ingest_uploads, idx, server.uploads, files, names)
        body = {"report": report.to_dict(), "summary": report.summary(), "documents": stored}
        if not stored and report.skipped:
            raise APIError(
                422,
                "; ".join(f"{Path(s).name}: {r}" for s, r in report.skipped),
                type="load_error",
                code="not_ingested",
            )
        return JSONResponse(body, status_code=201)

    @app.delete("/v1/documents/{doc_id}", tags=["documents"], dependencies=auth)
    async def delete(doc_id: str) -> dict[str, Any]:
        doc = next((d for d in await run_in_threadpool(idx.documents) if d.id == doc_id), None)
        if doc is None:
            raise APIError(
                404,
                f"no document with id {doc_id!r}",
                type="not_found_error",
                code="document_not_found",
            )
        removed = await run_in_threadpool(idx.remove, [doc.id])
        server.uploads.delete(doc.source)  # our own copy only; a user's own file is kept
        return {"deleted": True, "documents": [d.to_dict() for d in removed]}

    return app


# ------------------------------------------------------------------------------------ helpers
async def _count_tokens(embedder: Embedder, texts: list[str]) -> list[int]:
    if sum(len(t) for t in texts) < 20_000:
        return embedder.count_tokens(texts)
    return await run_in_threadpool(embedder.count_tokens, texts)


def _encode(vec: np.ndarray, fmt: str) -> np.ndarray | str:
    if fmt == "base64":
        return base64.b64encode(np.ascontiguousarray(vec, dtype="<f4").tobytes()).decode()
    return np.ascontiguousarray(vec, dtype=np.float32)  # orjson writes it as a list of floats


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(str(p.get("text", "")) for p in content if p.get("type", "text") == "text")


def _ingest_uploads(
    idx: RagIndex, uploads: Uploads, files: list[UploadFile], names: list[str]
) -> tuple[Any, list[dict[str, Any]]]:
    batch = Batch()
    try:
        for f, name in zip(files, names, strict=True):
            f.file.seek(0)
            uploads.store(name, f.file, batch)
        report = idx.ingest(batch.paths)
    except BaseException:
        batch.rollback()  # no stored copy the index does not hold; replaced copies come back
        raise
    batch.rollback(s for s, _ in report.skipped)
    batch.commit()
    sources = {str(p) for p in batch.paths} | {str(p.resolve()) for p in batch.paths}
    stored = [d.to_dict() for d in idx.documents() if d.source in sources]
    return report, stored


def _rag_fields(answer: Answer, question: str) -> dict[str, Any]:
    d = answer.to_dict()
    return {
        "citations": d["citations"],
        "refused": answer.refused,
        "standalone_question": question,
        "sentences": d["sentences"],
    }


async def _usage(embedder: Embedder, prompt: str, completion: str) -> dict[str, int]:
    p, c = await run_in_threadpool(embedder.count_tokens, [prompt, completion])
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}


def _sse(data: Any, event: str | None = None) -> str:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, ensure_ascii=False)}\n\n"


def _ask_events(events: Iterator[Any]) -> Iterator[str]:
    """Runs on the thread pool (StreamingResponse iterates a plain iterator there)."""
    try:
        for ev in events:
            if isinstance(ev, Delta):
                yield _sse({"text": ev.text}, "delta")
            elif isinstance(ev, Checked):
                yield _sse(
                    {
                        "text": ev.sentence.text,
                        "rendered": ev.sentence.rendered() if ev.kept else "",
                        "kept": ev.kept,
                        "citations": [c.__dict__ for c in ev.citations],
                    },
                    "sentence",
                )
            elif isinstance(ev, Answer):
                yield _sse(ev.to_dict(), "answer")
        yield _sse({}, "done")
    except RagError as exc:
        status, kind = _rag_status(exc)
        yield _sse({**error_body(str(exc), kind), "status": status}, "error")


def _chat_chunks(
    events: Iterator[Any],
    cid: str,
    created: int,
    model: str,
    question: str,
    embedder: Embedder,
) -> Iterator[str]:
    """OpenAI chat.completion.chunk events: checked sentences as content (raw model text is
    never sent: a chat client cannot take text back), then a last chunk with the citations."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
            **extra,
        }
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    sent: list[str] = []
    try:
        for ev in events:
            if isinstance(ev, Checked) and ev.kept:
                piece = ev.sentence.rendered()
                text = (" " if sent else "") + piece
                sent.append(piece)
                yield chunk({"content": text})
            elif isinstance(ev, Answer):
                final = ev.render()
                if " ".join(sent) != final:
                    # A refusal or a fallback answer: send what the non-streamed reply says.
                    rest = (
                        final[len(" ".join(sent)) :] if final.startswith(" ".join(sent)) else final
                    )
                    if sent and not final.startswith(" ".join(sent)):
                        rest = "\n\n" + final
                    yield chunk({"content": rest})
                p, c = embedder.count_tokens([question, final])
                usage = {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}
                yield chunk({}, "stop", usage=usage, **_rag_fields(ev, question))
    except RagError as exc:
        status, kind = _rag_status(exc)
        yield f"data: {json.dumps({**error_body(str(exc), kind), 'status': status})}\n\n"
    yield "data: [DONE]\n\n"
