"""rag serve: the HTTP API (see docs/http-api.md)."""

from ..config import Settings
from .app import check_bind, create_app, is_loopback
from .batcher import EmbeddingBatcher
from .metrics import Metrics

__all__ = ["EmbeddingBatcher", "Metrics", "check_bind", "create_app", "is_loopback", "serve"]


def serve(settings: Settings, *, access_log: bool = True) -> None:
    """Run the API with uvicorn on settings.host:settings.port until interrupted."""
    import uvicorn

    check_bind(settings)
    app = create_app(settings)
    uvicorn.run(
        app, host=settings.host, port=settings.port, access_log=access_log, log_level="info"
    )
