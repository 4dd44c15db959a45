"""The Ask tab's state and its answer stream: one browser tab's session, the answerers shared by
all tabs, and the chat as the answer is written (through rag.conversation)."""

from __future__ import annotations

import html
import logging
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

from ..answer import Answer, Answerer, Checked, Delta, Retrieved
from ..api import RagIndex
from ..chat import Turn
from ..config import MAX_QUESTION_CHARS
from ..conversation import Conversation, Rewritten
from ..errors import RagError
from ..text.sentences import split_sentences
from .render import backend_error, citation_cards, format_answer, md, sentence_html, sources_panel

log = logging.getLogger("rag.ui")


@dataclass
class Session:
    """One browser tab's conversation: chat messages, turns (for follow-ups), source cards."""

    messages: list[dict[str, str]] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    cards: list[tuple[str, str]] = field(default_factory=list)  # (question, cards html)


class Answerers:
    """One answerer per backend, built on first use and shared by all tabs. Local models are
    not thread-safe, so their answers are written one at a time."""

    def __init__(self, index: RagIndex, built: dict[str, Answerer] | None = None) -> None:
        self.index = index
        self._cache: dict[str, Answerer] = dict(built or {})  # backend -> answerer
        self._build = threading.Lock()
        self._local = threading.Lock()

    def get(self, backend: str) -> Answerer:
        with self._build:
            if backend not in self._cache:
                if backend == self.index.settings.backend:
                    self._cache[backend] = self.index.answerer
                else:
                    settings = self.index.settings.model_copy(update={"backend": backend})
                    self._cache[backend] = self.index.answerer_for(settings)
            return self._cache[backend]

    def lock(self, backend: str) -> AbstractContextManager[Any]:
        """Held while an answer is written: the local model's answers one at a time."""
        return self._local if backend == "local" else nullcontext()


def effective_config(index: RagIndex, backend: str, mode: str, k: int) -> dict[str, Any]:
    """What this tab answers with: the settings, this tab's choices applied, no secrets."""
    data = index.settings.model_dump(mode="json")
    data.update(backend=backend, mode=mode, top_k=int(k))
    data["openai_api_key"] = "set" if index.settings.openai_api_key else "not set"
    if backend == "extractive":
        for key in [k for k in data if k.startswith(("llm_", "openai_"))]:
            data.pop(key)
    elif backend == "local":
        for key in [k for k in data if k.startswith("openai_")]:
            data.pop(key)
    return {"answering": data, "index": index.info()}


@dataclass
class _Live:
    """The answer while it is written: checked sentences with markers, then the raw text the
    model has written since the last one, shown grey."""

    turn: int
    prefix: str = ""  # "Searched for: ..." of a follow-up
    hits: list[Any] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    cited: list[Any] = field(default_factory=list)
    pending: str = ""

    def add(self, event: Any) -> None:
        if isinstance(event, Delta):
            self.pending += event.text
        elif isinstance(event, Checked):
            # The checked sentence replaces its raw text; the model has already begun the next
            # one (that is how it knew this one had ended): that stays raw.
            spans = split_sentences(self.pending)
            self.pending = self.pending[spans[-1].start :] if len(spans) > 1 else ""
            if event.kept:
                quotes = [c.quote for c in event.citations]
                self.checked.append(sentence_html(event.sentence, self.turn, quotes))
                self.cited += [c for c in event.citations if c not in self.cited]

    def body(self) -> str:
        body = " ".join(self.checked)
        if self.pending:
            body += f' <span class="rag-pending">{md(self.pending)}</span>'
        return self.prefix + body

    def cards(self) -> str:
        return citation_cards(self.cited, self.hits, self.turn)


def stream_answer(
    index: RagIndex,
    answerers: Answerers,
    question: str,
    session: Session,
    backend: str,
    mode: str,
    k: int,
) -> Iterator[tuple[list[dict[str, str]], str | None, Session]]:
    """The chat as the answer is written: (messages, sources panel or None when unchanged, the
    new session) after each event. Raw text shows grey until its sentence is checked, then the
    checked sentence with its markers replaces it (or it disappears when dropped)."""
    question = (question or "").strip()
    if not question:
        yield session.messages, None, session
        return
    if len(question) > MAX_QUESTION_CHARS:
        session = Session(list(session.messages), list(session.turns), list(session.cards))
        session.messages.append(
            {
                "role": "assistant",
                "content": f"This question has {len(question):,} characters; ask in at most "
                f"{MAX_QUESTION_CHARS:,}. To ask about a text this long, add it on the "
                "Documents tab and ask about it here.",
            }
        )
        yield session.messages, None, session
        return
    session = Session(list(session.messages), list(session.turns), list(session.cards))
    live = _Live(turn=len(session.turns) + 1)
    session.messages.append({"role": "user", "content": md(question)})
    session.messages.append({"role": "assistant", "content": '<span class="rag-pending">…</span>'})
    earlier = list(reversed(session.cards))
    yield session.messages, sources_panel("", earlier, False), session

    def show(body: str) -> None:
        # A new list each time: every update the page gets is a snapshot.
        session.messages = [*session.messages[:-1], {"role": "assistant", "content": body}]

    t0 = time.perf_counter()
    stage = "backend"  # the rewrite and the answer are the backend's; the search is between
    try:
        conversation = Conversation(index, answerer=answerers.get(backend), turns=session.turns)
        answer: Answer | None = None
        with answerers.lock(backend):
            for event in conversation.stream(question, k, mode=mode):
                if isinstance(event, Rewritten):
                    if event.standalone != question:
                        live.prefix = (
                            '<div class="rag-standalone">Searched for: '
                            f"“{md(event.standalone)}”</div>\n\n"
                        )
                    show(live.prefix + '<span class="rag-pending">searching…</span>')
                    yield session.messages, None, session
                    stage = "search"
                elif isinstance(event, Retrieved):
                    live.hits, stage = event.hits, "backend"
                elif isinstance(event, Answer):
                    answer = event
                    break
                else:
                    live.add(event)
                    show(live.body())
                    yield session.messages, sources_panel(live.cards(), earlier, False), session
        if answer is None:
            raise RagError("the answer backend stopped without an answer; please ask again")
        seconds = time.perf_counter() - t0
        answer.timings_ms["total"] = round(seconds * 1000, 1)
        reply, cards = format_answer(answer, live.turn)  # the conversation kept the turn
        meta = (
            f'\n\n<div class="rag-meta">{html.escape(answer.backend)} answer · {mode} '
            f"retrieval · {len(live.hits)} passages · {seconds:.1f} s</div>"
        )
        show(live.prefix + reply + meta)
        session.cards.append((question, cards))
        yield session.messages, sources_panel(cards, earlier, answer.refused), session
    except RagError as exc:
        if stage == "backend":
            show(backend_error(backend, exc))
        else:
            show(f'<div class="rag-error">Could not search: {html.escape(str(exc))}</div>')
        yield session.messages, sources_panel("", earlier, False), session
    except Exception as exc:  # never a traceback in the page; the log has it
        log.exception("answering %r failed", question)
        show(
            '<div class="rag-error">Something went wrong while answering: '
            f"{html.escape(str(exc) or type(exc).__name__)}</div>"
        )
        yield session.messages, sources_panel("", earlier, False), session
