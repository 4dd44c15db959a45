"""Search, and answers with citations (JSON or Server-Sent Events)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ...answer import Answer
from ...answer.types import Checked, Delta
from ...conversation import Conversation
from ...errors import RagError
from ..errors import error_body, rag_error
from ..schemas import AskRequest, SearchRequest
from ..state import AUTH, ServerDep

router = APIRouter()
log = logging.getLogger("rag.server")


@router.post("/v1/search", tags=["rag"], dependencies=AUTH)
async def search(req: SearchRequest, server: ServerDep) -> dict[str, Any]:
    hits = await run_in_threadpool(
        server.index.search,
        req.query,
        req.k,
        mode=req.mode,
        path=req.path,
        file_types=req.file_types,
    )
    return {"query": req.query, "hits": [h.to_dict() for h in hits]}


@router.post("/v1/ask", tags=["rag"], dependencies=AUTH)
async def ask(req: AskRequest, server: ServerDep) -> Any:
    """An answer with citations, or a refusal; `stream: true` sends Server-Sent Events:
    `delta` (raw text), `sentence` (checked, with citations), then `answer` and `done`."""
    kwargs: dict[str, Any] = {"mode": req.mode, "path": req.path, "file_types": req.file_types}
    conversation = Conversation(server.index)
    if not req.stream:
        answer = await run_in_threadpool(conversation.ask, req.question, req.k, **kwargs)
        return answer.to_dict()
    events = conversation.stream(req.question, req.k, **kwargs)
    return StreamingResponse(_ask_events(events), media_type="text/event-stream")


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
        status, body = rag_error(exc)
        yield _sse({**body, "status": status}, "error")
    except Exception as exc:  # the headers are sent: an error event, never a cut-off stream
        log.exception("ask stream failed")
        body = error_body(f"the answer failed: {type(exc).__name__}", "server_error")
        yield _sse({**body, "status": 500}, "error")
