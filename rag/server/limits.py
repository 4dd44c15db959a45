"""The request-size limit and per-request metrics, as one ASGI middleware."""

from __future__ import annotations

import json
import time
from contextlib import suppress

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .errors import error_body
from .metrics import Metrics


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
