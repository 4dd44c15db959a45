"""OpenAI chat completions, answered from the documents through one Conversation."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from ...answer import Answer
from ...answer.types import Checked
from ...conversation import Conversation
from ...embeddings import Embedder
from ...errors import RagError
from ..errors import APIError, error_body, rag_error
from ..schemas import CHAT_MODEL, MAX_QUESTION_CHARS, ChatRequest
from ..state import AUTH, Server, ServerDep

router = APIRouter()
log = logging.getLogger("rag.server")


@router.post("/v1/chat/completions", tags=["openai"], dependencies=AUTH)
async def chat(req: ChatRequest, server: ServerDep) -> Any:
    """OpenAI chat completions, answered from the documents: the last user message is the
    question (rewritten with the one before it when it is a follow-up); the citations come
    in an extra `citations` field."""
    if req.model != CHAT_MODEL:
        raise APIError(
            404,
            f"model {req.model!r} is not served here; this server's chat model is "
            f"{CHAT_MODEL!r} (GET /v1/models)",
            param="model",
            code="model_not_found",
        )
    users = [_text(m.content) for m in req.messages if m.role == "user"]
    users = [u for u in users if u.strip()]
    if not users:
        raise APIError(400, "no user message with text in messages", param="messages")
    # Each user message is a question (earlier ones are rewritten with the history): the same
    # limit as /v1/ask's question, so a pasted book is a 400, not minutes of embedding.
    long = next((i for i, u in enumerate(users) if len(u) > MAX_QUESTION_CHARS), None)
    if long is not None:
        raise APIError(
            400,
            f"user message {long + 1} has {len(users[long]):,} characters; a question may have "
            f"{MAX_QUESTION_CHARS:,}: ask about the documents instead of sending them (upload "
            "files with POST /v1/documents)",
            param="messages",
            code="question_too_long",
        )
    # The history is the request's own: earlier questions are made standalone in turn (off
    # the event loop: a follow-up's rewrite may read the index to tell who speaks in it).
    conversation, question = await run_in_threadpool(_standalone, server, users)
    kwargs: dict[str, Any] = {"mode": req.mode, "path": req.path, "file_types": req.file_types}
    cid = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if not req.stream:
        answer = await run_in_threadpool(conversation.ask, users[-1], req.k, **kwargs)
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
    events = conversation.stream(users[-1], req.k, **kwargs)
    return StreamingResponse(
        _chat_chunks(events, cid, created, req.model, question, server.embedder),
        media_type="text/event-stream",
    )


def _standalone(server: Server, users: list[str]) -> tuple[Conversation, str]:
    conversation = Conversation.from_questions(server.index, users[:-1])
    return conversation, conversation.standalone(users[-1])


def _text(content: str | list[dict[str, Any]] | None) -> str:
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    return " ".join(str(p.get("text", "")) for p in content if p.get("type", "text") == "text")


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
        status, body = rag_error(exc)
        yield f"data: {json.dumps({**body, 'status': status})}\n\n"
    except Exception as exc:  # the headers are sent: say so in the stream, and end it properly
        log.exception("chat stream failed")
        body = error_body(f"the answer failed: {type(exc).__name__}", "server_error")
        yield f"data: {json.dumps({**body, 'status': 500})}\n\n"
    yield "data: [DONE]\n\n"
