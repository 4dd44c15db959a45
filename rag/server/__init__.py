"""rag serve: the HTTP API (see docs/http-api.md)."""

import logging

from ..config import Settings
from .app import check_bind, create_app, is_loopback
from .batcher import EmbeddingBatcher
from .metrics import Metrics
from .security import RedactSecrets

SHUTDOWN_GRACE_S = 2

__all__ = ["EmbeddingBatcher", "Metrics", "check_bind", "create_app", "is_loopback", "serve"]


def serve(settings: Settings, *, access_log: bool = True) -> None:
    """Run the API with uvicorn on settings.host:settings.port until interrupted."""
    import uvicorn

    check_bind(settings)
    app = create_app(settings)
    # A key sent as ?api_key=... must not reach the access log in clear.
    logging.getLogger("uvicorn.access").addFilter(RedactSecrets())
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        access_log=access_log,
        log_level="info",
        # On SIGTERM, requests still running after this many seconds are cancelled and the
        # shutdown (batcher, model process) goes on: a long upload must not keep it waiting.
        timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
    )
