"""/mcp on rag serve: rag.mcp's tools over streamable HTTP, behind the same API keys as the rest.

The MCP endpoint is a plain ASGI app (the SDK's), so FastAPI's `Depends(authorize)` cannot guard
it; `KeyRequired` makes the same check in front of it. The Origin/Host guard of security.py and
the body limit already wrap the whole app, /mcp included, so the SDK's own DNS-rebinding check is
turned off rather than run with a second, different list of allowed hosts.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

from fastapi.security.utils import get_authorization_scheme_param
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from ..mcp import RagMCP
from .state import Server, require_key

PATH = "/mcp"


class KeyRequired:
    """Lets a request through only with `Authorization: Bearer <one of the keys>` (any request
    when no keys are set); otherwise the 401 of every other route."""

    def __init__(self, app: ASGIApp, keys: list[str]) -> None:
        self.app = app
        self.keys = keys

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scheme, given = get_authorization_scheme_param(
                Headers(scope=scope).get("authorization")
            )
            # Raised before anything is sent: the app's APIError handler writes the 401.
            require_key(self.keys, given if scheme.lower() == "bearer" else "")
        await self.app(scope, receive, send)


def mcp_route(server: Server) -> tuple[Route, Callable[[], AbstractAsyncContextManager[None]]]:
    """The /mcp route, and what the app's lifespan must run around serving it."""
    mcp = RagMCP(server.index)
    # Stateless: each POST stands alone (the tools keep no state between calls), so no session
    # table grows with clients and any worker can answer any request.
    mcp.streamable_http_app(
        streamable_http_path=PATH,
        stateless_http=True,
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )
    manager = mcp.session_manager
    endpoint = KeyRequired(StreamableHTTPASGIApp(manager), server.keys)
    return Route(PATH, endpoint, include_in_schema=False), manager.run
