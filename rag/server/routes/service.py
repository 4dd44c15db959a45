"""Health and Prometheus metrics."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from ..state import AUTH, ServerDep

router = APIRouter()


@router.get("/healthz", tags=["service"])
async def healthz(server: ServerDep) -> dict[str, Any]:
    """Answers at once, without touching the index or the model."""
    return {
        "status": "ok",
        "model": server.model_id,
        "fingerprint": server.fingerprint,
        "queue_depth": server.metrics.queue_depth,
    }


@router.get("/metrics", tags=["service"], dependencies=AUTH, response_class=PlainTextResponse)
async def metrics(server: ServerDep) -> PlainTextResponse:
    """Prometheus text format."""
    return PlainTextResponse(
        server.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )
