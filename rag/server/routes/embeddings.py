"""Models and OpenAI-compatible embeddings: the vectors are the ones the index stores."""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.routing import Match, Route
from starlette.types import Scope

from ...embeddings import Embedder
from ..errors import APIError
from ..schemas import CHAT_MODEL, EmbeddingsRequest
from ..state import AUTH, Server, ServerDep, require_key

router = APIRouter()


@router.get("/v1/models", tags=["openai"], dependencies=AUTH)
async def models(server: ServerDep) -> dict[str, Any]:
    return {"object": "list", "data": [server.model_card(), server.chat_card()]}


@router.get("/v1/models/{model_id}", tags=["openai"], dependencies=AUTH)
async def model(model_id: str, server: ServerDep) -> dict[str, Any]:
    if model_id == CHAT_MODEL:
        return server.chat_card()
    if not server.accepts_model(model_id):
        raise APIError(404, f"no model {model_id!r} here", code="model_not_found")
    return server.model_card()


@router.post("/v1/embeddings", tags=["openai"], dependencies=AUTH)
async def embeddings(req: EmbeddingsRequest, server: ServerDep) -> Response:
    """OpenAI's embeddings endpoint; the vectors are the ones the index stores."""
    return await embed(server, req)


class DirectRoute(Route):
    """POST /v1/embeddings with a JSON body, served without FastAPI's per-request work
    (dependency solving, the body validated through its model field, the walk through every
    route): one text a request is this endpoint's hardest load, and on a small machine each
    millisecond the server's process spends is one the model does not get. Measured with an
    instant model (benchmarks/server_overhead.py), this path costs the server's process 0.67 ms
    of CPU a request against 1.0 through FastAPI (BENCHMARKS.md, "HTTP embeddings").

    The same middleware (size limit, metrics, Origin/Host guard), key check, body schema, errors
    and response apply (tests/test_server_direct.py holds the two paths to the same replies).
    A body that is not declared JSON goes on to FastAPI's route, which also gives the OpenAPI
    schema; so does everything when OpenTelemetry is on (its spans are FastAPI's)."""

    def __init__(self) -> None:
        super().__init__("/v1/embeddings", _direct, methods=["POST"], include_in_schema=False)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is Match.FULL and not _declared_json(scope):
            return Match.NONE, {}
        # FastAPI's router sets scope["route"] from here only (its own routes put it there):
        # the metrics name requests by it.
        return match, {**child, "route": self} if match is not Match.NONE else child


def _declared_json(scope: Scope) -> bool:
    """Whether the Content-Type is JSON, as FastAPI reads it (application/json or +json)."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            kind = value.decode("latin-1").split(";", 1)[0].strip().lower()
            main, _, sub = kind.partition("/")
            return main == "application" and (sub == "json" or sub.endswith("+json"))
    return False


async def _direct(request: Request) -> Response:
    server: Server = request.app.state.server
    scheme, key = get_authorization_scheme_param(request.headers.get("authorization"))
    require_key(server.keys, key if scheme.lower() == "bearer" else "")
    # The body as FastAPI reads and checks it, so that every mistake gets the same 400 or 422.
    body = await request.body()
    if not body:
        missing = {"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}
        raise RequestValidationError([missing])
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ]
        ) from None
    except ValueError:  # bytes that are not UTF-8 (or -16, -32) text
        raise HTTPException(400, "There was an error parsing the body") from None
    try:
        req = EmbeddingsRequest.model_validate(data, from_attributes=True)  # as FastAPI does
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]
        raise RequestValidationError(errors) from None
    return await embed(server, req)


async def embed(server: Server, req: EmbeddingsRequest) -> Response:
    """The reply to a valid request (both routes)."""
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
        raise APIError(
            400,
            "input is empty: send a text or a list of texts",
            param="input",
            code="invalid_value",
        )
    if not all(isinstance(t, str) for t in texts):
        raise APIError(
            400,
            "token arrays are not accepted: send the texts themselves",
            param="input",
            code="unsupported_input",
        )
    texts_ = [str(t) for t in texts]
    empty = next((i for i, t in enumerate(texts_) if not t), None)
    if empty is not None:  # as OpenAI's: an empty string has nothing to embed
        raise APIError(
            400,
            f"input[{empty}] is an empty string: send text to embed, or leave it out",
            param="input",
            code="invalid_value",
        )
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


async def _count_tokens(embedder: Embedder, texts: list[str]) -> list[int]:
    if sum(len(t) for t in texts) < 20_000:
        return embedder.count_tokens(texts)
    return await run_in_threadpool(embedder.count_tokens, texts)


def _encode(vec: np.ndarray, fmt: str) -> np.ndarray | str:
    if fmt == "base64":
        return base64.b64encode(np.ascontiguousarray(vec, dtype="<f4").tobytes()).decode()
    return np.ascontiguousarray(vec, dtype=np.float32)  # orjson writes it as a list of floats
