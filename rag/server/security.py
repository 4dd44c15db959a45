"""What keeps web pages and rebinding DNS names off a keyless rag serve, and keys out of logs.

Without API keys, rag serve trusts whoever reaches it, which is only the local machine (it refuses
to bind anything else). Two ways around that go through the user's own browser:
- a page on any site can POST a multipart form to http://127.0.0.1:PORT/v1/documents (a form post
  needs no CORS preflight) and plant documents; its request carries that site's `Origin`;
- a DNS name the attacker controls can be rebound to 127.0.0.1, after which the page reads the
  API as "same origin"; its requests carry the attacker's name in `Host`.
So, when no keys are set, a request must name a loopback host (or one in `allowed_hosts`), and a
state-changing request from a browser must come from the server's own origin (or one in
`cors_origins`). With keys, neither check applies: a browser never adds a bearer key by itself.
"""

from __future__ import annotations

import json
import logging
import re
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import Settings, is_loopback

_SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def loopback_name(host: str) -> bool:
    """localhost, *.localhost (RFC 6761 keeps it on the machine) or a loopback address."""
    host = host.strip("[]").lower().rstrip(".")
    return host.endswith(".localhost") or is_loopback(host)


def _host_only(value: str) -> str:
    """'example.com:8000' -> 'example.com'; '[::1]:8000' -> '::1'."""
    parsed = urlsplit(f"//{value}")
    return (parsed.hostname or "").lower()


class OriginAndHostGuard:
    """Refuses (403) a foreign Host on any request and a foreign Origin on state-changing ones."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str], allowed_origins: list[str]) -> None:
        self.app = app
        self.hosts = {h.lower().rstrip(".") for h in allowed_hosts}
        self.origins = {o.rstrip("/").lower() for o in allowed_origins}
        self._hosts_seen: dict[str, bool] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host_header = headers.get("host", "")
        if not self._host_allowed(host_header):
            await _refuse(
                send,
                f"Host {host_header!r} is not allowed: rag serve without API keys answers "
                "loopback names only (add the name to RAG_ALLOWED_HOSTS to allow it)",
                "host_not_allowed",
            )
            return
        origin = headers.get("origin")
        if (
            origin is not None
            and scope["method"] not in _SAFE_METHODS
            and not self._same_site(origin, host_header, scope)
        ):
            await _refuse(
                send,
                f"cross-site request from Origin {origin!r} refused: without API keys, only "
                "the server's own pages may change it (add the origin to RAG_CORS_ORIGINS, "
                "or set RAG_API_KEYS)",
                "cross_origin_request",
            )
            return
        await self.app(scope, receive, send)

    def _host_allowed(self, host_header: str) -> bool:
        """Whether a Host header is let through; remembered, since every request of a client
        sends the same one (parsing it was 4% of the server's CPU under /v1/embeddings load)."""
        allowed = self._hosts_seen.get(host_header)
        if allowed is None:
            host = _host_only(host_header)
            # No Host at all (HTTP/1.0) is no browser: a rebinding page always sends one.
            allowed = (
                not host_header or loopback_name(host) or host in self.hosts or "*" in self.hosts
            )
            if len(self._hosts_seen) < 1024:  # a client sending endless names fills no memory
                self._hosts_seen[host_header] = allowed
        return allowed

    def _same_site(self, origin: str, host_header: str, scope: Scope) -> bool:
        origin = origin.rstrip("/").lower()
        if origin in self.origins or "*" in self.origins:
            return True
        own = f"{scope.get('scheme', 'http')}://{host_header}".lower()
        return origin == own


async def _refuse(send: Send, message: str, code: str) -> None:
    body = {"error": {"message": message, "type": "permission_error", "param": None, "code": code}}
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def install_guards(app: Starlette, settings: Settings) -> None:
    """Add the Origin/Host guard (only when no API keys are set) and CORS (only when origins
    are configured) to a FastAPI/Starlette app."""
    add = app.add_middleware
    if not settings.api_keys:
        add(
            OriginAndHostGuard,
            allowed_hosts=list(settings.allowed_hosts),
            allowed_origins=list(settings.cors_origins),
        )
    if settings.cors_origins:  # outside the guard: a preflight is answered by CORS
        add(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Model-Fingerprint"],
        )


_SECRET_QUERY = re.compile(r"(?i)([?&](?:api[_-]?key|key|token|access_token|password)=)[^&\s\"]*")


def redact(text: str) -> str:
    """A URL (or a log line) with the values of key-like query parameters replaced by ***."""
    return _SECRET_QUERY.sub(r"\1***", text)


class RedactSecrets(logging.Filter):
    """On uvicorn's access log: a key sent as `?api_key=...` is never written out."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        record.msg = redact(str(record.msg))
        return True
