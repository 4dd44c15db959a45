"""Errors as the OpenAI API shapes them: {"error": {"message", "type", "param", "code"}}, a 4xx
status for anything the client can fix, and the RagError hierarchy mapped onto statuses."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import (
    ConfigError,
    DocumentNotFoundError,
    EmbeddingError,
    GenerationError,
    IndexLockedError,
    IndexMismatchError,
    LoadError,
    QueryError,
    RagError,
    UnsupportedFileError,
)

log = logging.getLogger("rag.server")


class APIError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.headers = headers or {}
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


def json_error(
    status: int, message: str, type: str, param: str | None = None, code: str | None = None
):
    return JSONResponse(error_body(message, type, param, code), status_code=status)


# Each rag error's status, error type and code, the first class that matches.
_RAG_STATUS: list[tuple[type[RagError], int, str, str | None]] = [
    (DocumentNotFoundError, 404, "not_found_error", "not_found_error"),
    (UnsupportedFileError, 415, "unsupported_file", "unsupported_file"),
    (LoadError, 422, "load_error", "load_error"),
    # A setting of the server's own (its prompts, answer model, store): nothing the client can
    # fix (client input is checked by the request schemas before it reaches a ConfigError).
    (ConfigError, 500, "server_error", "invalid_setting"),
    (QueryError, 400, "invalid_request_error", "invalid_value"),
    (IndexLockedError, 409, "index_locked", "index_locked"),
    # The server's chunk settings are not the index's: its operator's to fix, said plainly.
    (IndexMismatchError, 500, "server_error", "index_mismatch"),
    (EmbeddingError, 503, "model_error", "model_error"),
    (GenerationError, 503, "model_error", "model_error"),
]


# Pydantic's names for the members of the request schemas' union fields, as a client reads them
# (token arrays are refused later with their own message).
_UNION_TAGS = {
    "str": "a string",
    "list[str]": "a list of strings",
    "list[int]": None,
    "list[list[int]]": None,
    "list[dict[str,any]]": "a list of content parts",
}


def rag_error(exc: RagError) -> tuple[int, dict[str, Any]]:
    """The status and the OpenAI-shaped body of a rag error (responses and stream events)."""
    for cls, status, kind, code in _RAG_STATUS:
        if isinstance(exc, cls):
            return status, error_body(str(exc), kind, code=code)
    return 500, error_body(str(exc), "server_error")


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves the app in the OpenAI shape, never as a traceback."""

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else {}
        return JSONResponse(
            error_body(exc.message, exc.type, exc.param, exc.code),
            status_code=exc.status,
            headers={**headers, **exc.headers},
        )

    @app.exception_handler(RagError)
    async def _rag_error(request: Request, exc: RagError) -> JSONResponse:
        status, body = rag_error(exc)
        if status >= 500:
            log.error("%s %s: %s", request.method, request.url.path, exc)
        return JSONResponse(body, status_code=status)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        if any(e.get("type") == "json_invalid" for e in errors):
            return json_error(
                400,
                "the request body is not valid JSON",
                "invalid_request_error",
                code="json_invalid",
            )
        first = errors[0] if errors else {}
        parts = [p for p in first.get("loc", ()) if p != "body"]
        union = next((i for i, p in enumerate(parts) if p in _UNION_TAGS), None)
        if union is not None:
            # A field that takes one of several types: say which, not pydantic's member tags
            # ("input.str: Input should be a valid string").
            parts = parts[:union]
            loc = ".".join(str(p) for p in parts)
            tags = []
            for e in errors:
                at = [p for p in e.get("loc", ()) if p != "body"]
                if len(at) > union and at[:union] == parts:
                    tags.append(at[union])
            kinds = [k for t in dict.fromkeys(tags) if (k := _UNION_TAGS.get(t))]
            msg = f"{loc}: expected {' or '.join(kinds)}"
        else:
            loc = ".".join(str(p) for p in parts)
            loc = loc or str((first.get("ctx") or {}).get("param") or "")
            text = str(first.get("msg", "invalid request")).removeprefix("Value error, ")
            if "Expected UploadFile" in text:  # a form field where a file belongs
                text = "expected a file, got a text field: send each file as a file part "
                text += "(curl -F 'files=@report.pdf')"
            msg = f"{loc}: {text}" if loc else text
        body = error_body(msg, "invalid_request_error", loc or None, "invalid_value")
        body["detail"] = [{k: e[k] for k in ("loc", "msg", "type") if k in e} for e in errors]
        return JSONResponse(json.loads(json.dumps(body, default=str)), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        kind = "not_found_error" if exc.status_code == 404 else "invalid_request_error"
        return JSONResponse(
            error_body(str(exc.detail), kind), status_code=exc.status_code, headers=exc.headers
        )
