"""The Gradio app: ask your documents, read the answer as it is written, and see exactly where
each sentence comes from.

Ask: the answer streams in (raw text shown grey until each sentence is checked against the
sources, then replaced by the checked sentence with its [n] markers); the Sources panel shows
each cited passage with the cited span highlighted, and clicking a marker brings its card into
view. Documents: upload (drag and drop, several files), list, remove. Settings: the answer
backend, retrieval mode and passage count of this browser tab, and the effective configuration.
"""

from __future__ import annotations

import html
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .answer import Answer, Answerer, Checked, Delta, make_answerer
from .answer.markup import markup_html, source_of
from .answer.sentences import split_sentences
from .api import RagIndex
from .chat import Conversation, LLMRewriter, Turn, rule_rewriter
from .config import AnswerBackend, Settings
from .errors import RagError
from .uploads import Batch, Uploads, distinct_names

log = logging.getLogger(__name__)

SAMPLE_DOCS = Path(__file__).resolve().parent.parent / "docs"
BACKENDS: tuple[AnswerBackend, ...] = ("extractive", "local", "openai")
MODES = ("hybrid", "dense", "keyword")
CLOSEST = 3  # passages shown with a refusal

CSS = """
#rag-sources { max-height: 760px; overflow-y: auto !important; }
#rag-sources .rag-source { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 8px 10px; margin: 0 0 8px 0; transition: box-shadow .3s; }
#rag-sources .rag-source.rag-focus { box-shadow: 0 0 0 3px var(--color-accent); }
#rag-sources blockquote { margin: 6px 0 0 0; padding-left: 8px; font-size: .92em;
  border-left: 3px solid var(--border-color-primary); white-space: pre-wrap; }
#rag-sources mark { background: #fde68a; color: #111; padding: 0 1px; }
#rag-sources details > summary { cursor: pointer; margin: 6px 0; }
#rag-sources .rag-path { color: var(--body-text-color-subdued); word-break: break-all; }
.rag-pending { color: var(--body-text-color-subdued); }
.rag-standalone, .rag-meta, .rag-note { color: var(--body-text-color-subdued); font-size: .88em; }
a.rag-cite { text-decoration: none; font-weight: 600; cursor: pointer; }
"""

# Clicking a citation marker brings its source card into view (and opens an earlier answer's
# group); capture phase, so the chat's own link handling never opens a new tab.
HEAD = """<script>
document.addEventListener("click", function (event) {
  var link = event.target && event.target.closest && event.target.closest("a.rag-cite");
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  var card = document.getElementById((link.getAttribute("href") || "").slice(1));
  if (!card) return;
  var group = card.closest("details");
  if (group) group.open = true;
  document.querySelectorAll(".rag-source.rag-focus").forEach(function (el) {
    el.classList.remove("rag-focus");
  });
  card.classList.add("rag-focus");
  card.scrollIntoView({behavior: "smooth", block: "center"});
}, true);
</script>"""


def ensure_sample_corpus(
    index: RagIndex,
    folder: Path = SAMPLE_DOCS,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> str | None:
    """Index the user guide when the index is empty, so a new user has something real to ask.
    Progress goes to the console, and to `on_progress(done, total, path)` (the page's banner)."""
    if index.store.counts()["documents"] or not folder.is_dir():
        return None
    from tqdm import tqdm

    bar = tqdm(unit="file", desc=f"indexing the user guide ({folder})")

    def progress(done: int, total: int, path: str) -> None:
        bar.total = total
        bar.update(1)
        if on_progress is not None:
            on_progress(done, total, path)

    report = index.ingest([folder], progress=progress)
    bar.close()
    return report.summary()


# ---------------------------------------------------------------------------- rendering


def _md(text: str) -> str:
    """Document or model text, shown literally in the chat (which renders Markdown and HTML)."""
    text = html.escape(text, quote=False)
    return re.sub(r"([\\`*_\[\]#|~$])", r"\\\1", text)


def card_id(turn: int, number: int) -> str:
    return f"source-{turn}-{number}"


def _markers(numbers: Sequence[int], turn: int) -> str:
    return "".join(
        f'<a class="rag-cite" href="#{card_id(turn, n)}" title="show source {n}">[{n}]</a>'
        for n in numbers
    )


def sentence_html(sentence: Any, turn: int, quotes: Sequence[str] = ()) -> str:
    """A checked sentence with clickable [n] markers, or flagged when nothing supports it. A
    sentence taken from a source shows that source's emphasis and links (`quotes`)."""
    source = source_of(sentence.text, quotes)
    text = markup_html(source) if source is not None else _md(sentence.text)
    if not sentence.supported:
        return f"{text} <em>[unsupported]</em>"
    marks = _markers(sentence.citations, turn)
    return f"{text} {marks}" if marks else text


def format_answer(answer: Answer, turn: int = 1) -> tuple[str, str]:
    """(chat reply, sources panel) for a finished answer: the sentences with [n] markers linked
    to their source cards, and each cited span highlighted in its passage; for a refusal, the
    closest passages."""
    if answer.refused:
        reply = _md(answer.text)
        if answer.passages:
            reply += " The closest passages are shown under Sources; none of them answers it."
        cards = [
            _card(f"closest-{turn}-{h.rank}", f"~{h.rank}", h.source, h.location(), h.text, None)
            for h in answer.passages[:CLOSEST]
        ]
        return reply, "\n".join(cards)
    quotes = {c.number: c.quote for c in answer.citations}
    parts = [sentence_html(s, turn, [quotes[n] for n in s.citations if n in quotes])
             for s in answer.sentences]  # fmt: skip
    reply = " ".join(parts)
    if answer.fallback:
        reply = (
            f'<div class="rag-note">Nothing the {html.escape(answer.backend)} model wrote is '
            "supported by your documents; these are the sentences that answer it.</div>\n\n" + reply
        )
    if answer.dropped:
        n = len(answer.dropped)
        reply += (
            f'\n\n<div class="rag-note">{n} sentence{"s" if n > 1 else ""} the model wrote '
            f"{'were' if n > 1 else 'was'} left out: no retrieved passage supports "
            f"{'them' if n > 1 else 'it'}.</div>"
        )
    return reply, citation_cards(answer.citations, answer.passages, turn)


def citation_cards(citations: Sequence[Any], passages: Sequence[Any], turn: int) -> str:
    cards = []
    for c in citations:
        hit = next((h for h in passages if h.chunk_id == c.chunk_id), None)
        if hit is not None and hit.start <= c.start and c.end <= hit.start + len(hit.text):
            passage, offset = hit.text, c.start - hit.start
        else:
            passage, offset = c.quote, 0
        mark = (offset, offset + len(c.quote))
        cards.append(
            _card(card_id(turn, c.number), str(c.number), c.source, c.location(), passage, mark)
        )
    return "\n".join(cards)


def _card(
    elem_id: str,
    label: str,
    source: str,
    location: str,
    passage: str,
    mark: tuple[int, int] | None,
) -> str:
    if mark is not None:
        a, b = mark
        body = (
            html.escape(passage[:a])
            + f"<mark>{html.escape(passage[a:b])}</mark>"
            + html.escape(passage[b:])
        )
    else:
        body = html.escape(passage)
    return (
        f'<div class="rag-source" id="{elem_id}"><b>[{html.escape(label)}] '
        f"{html.escape(Path(source).name)}</b> <small>{html.escape(location)}</small><br>"
        f'<small class="rag-path">{html.escape(source)}</small><blockquote>{body}</blockquote>'
        "</div>"
    )


def sources_panel(current: str, earlier: Sequence[tuple[str, str]], refused: bool) -> str:
    """The current answer's cards, then earlier answers' cards folded away (their markers still
    point at them)."""
    if not current and not earlier:
        return '<p class="rag-note">Sources of the answer appear here.</p>'
    head = "Closest passages (none answers the question)" if refused else "Sources"
    out = [f"<h4>{head}</h4>", current or '<p class="rag-note">(checking…)</p>']
    for question, cards in earlier:
        out.append(f"<details><summary>Earlier: {html.escape(question)}</summary>{cards}</details>")
    return "\n".join(out)


# ---------------------------------------------------------------------------- sessions


@dataclass
class Session:
    """One browser tab's conversation: chat messages, turns (for follow-ups), source cards."""

    messages: list[dict[str, str]] = field(default_factory=list)
    turns: list[Turn] = field(default_factory=list)
    cards: list[tuple[str, str]] = field(default_factory=list)  # (question, cards html)


class Answerers:
    """One answerer per backend, built on first use and shared by all tabs. Local models are
    not thread-safe, so their answers are written one at a time."""

    def __init__(self, index: RagIndex) -> None:
        self.index = index
        self._cache: dict[str, Answerer] = {}
        self._build = threading.Lock()
        self._local = threading.Lock()

    def get(self, backend: str) -> Answerer:
        with self._build:
            if backend not in self._cache:
                if backend == self.index.settings.backend:
                    self._cache[backend] = self.index.answerer
                else:
                    settings = self.index.settings.model_copy(update={"backend": backend})
                    self._cache[backend] = make_answerer(
                        settings, self.index.embedder, self.index.store.term_counts
                    )
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


def standalone_of(index: RagIndex, question: str, session: Session, answerer: Answerer) -> str:
    """The question to search for: follow-ups rewritten with the history, by the answering model
    when there is one (the rules when it fails), else by the rules."""
    conversation = Conversation(ask=lambda q: index.ask(q), turns=session.turns)
    llm = getattr(answerer, "llm", None)
    if llm is not None and session.turns:
        from .prompts import load_prompt

        try:
            conversation.rewriter = LLMRewriter(
                llm, load_prompt("rewrite", index.settings.prompts_dir)
            )
            return conversation.standalone(question)
        except RagError:
            pass
    conversation.rewriter = rule_rewriter
    return conversation.standalone(question)


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
    session = Session(list(session.messages), list(session.turns), list(session.cards))
    turn = len(session.turns) + 1
    session.messages.append({"role": "user", "content": _md(question)})
    session.messages.append({"role": "assistant", "content": '<span class="rag-pending">…</span>'})
    earlier = list(reversed(session.cards))
    yield session.messages, sources_panel("", earlier, False), session

    def show(body: str) -> None:
        # A new list each time: every update the page gets is a snapshot.
        session.messages = [*session.messages[:-1], {"role": "assistant", "content": body}]

    t0 = time.perf_counter()
    stage = "backend"
    try:
        answerer = answerers.get(backend)
        standalone = standalone_of(index, question, session, answerer)
        prefix = (
            f'<div class="rag-standalone">Searched for: “{_md(standalone)}”</div>\n\n'
            if standalone != question
            else ""
        )
        show(prefix + '<span class="rag-pending">searching…</span>')
        yield session.messages, None, session
        stage = "search"
        hits = index.search(standalone, k, mode=mode)
        stage = "backend"
        checked: list[str] = []
        cited: list[Any] = []
        pending = ""
        answer: Answer | None = None
        with answerers.lock(backend):
            for event in answerer.stream(standalone, hits):
                if isinstance(event, Delta):
                    pending += event.text
                elif isinstance(event, Checked):
                    # The checked sentence replaces its raw text; the model has already begun
                    # the next one (that is how it knew this one had ended): that stays raw.
                    spans = split_sentences(pending)
                    pending = pending[spans[-1].start :] if len(spans) > 1 else ""
                    if event.kept:
                        quotes = [c.quote for c in event.citations]
                        checked.append(sentence_html(event.sentence, turn, quotes))
                        cited += [c for c in event.citations if c not in cited]
                elif isinstance(event, Answer):
                    answer = event
                    break
                body = " ".join(checked)
                if pending:
                    body += f' <span class="rag-pending">{_md(pending)}</span>'
                show(prefix + body)
                cards = citation_cards(cited, hits, turn)
                yield session.messages, sources_panel(cards, earlier, False), session
        if answer is None:
            raise RagError("the answer backend stopped without an answer; please ask again")
        seconds = time.perf_counter() - t0
        answer.timings_ms["total"] = round(seconds * 1000, 1)
        done: Answer = answer
        Conversation(ask=lambda q: done, turns=session.turns).record(question, standalone, done)
        reply, cards = format_answer(done, turn)
        meta = (
            f'\n\n<div class="rag-meta">{html.escape(done.backend)} answer · {mode} '
            f"retrieval · {len(hits)} passages · {seconds:.1f} s</div>"
        )
        show(prefix + reply + meta)
        session.cards.append((question, cards))
        yield session.messages, sources_panel(cards, earlier, done.refused), session
    except RagError as exc:
        if stage == "backend":
            show(_backend_error(backend, exc))
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


class Preparing:
    """The app's start, in the background while the page is already open: an empty index gets
    the user guide (progress in the page's banner and the console), then the embedding model is
    loaded so the first question is answered quickly."""

    def __init__(self, index: RagIndex, folder: Path = SAMPLE_DOCS) -> None:
        self.index = index
        self.folder = folder
        self.indexing = not index.store.counts()["documents"] and folder.is_dir()
        self.done = 0
        self.total = 0
        self.current = ""
        self.summary: str | None = None
        self.error: str | None = None
        self.finished = threading.Event()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="rag-prepare", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        try:
            if self.indexing:
                self.summary = ensure_sample_corpus(self.index, self.folder, self._progress)
                if self.summary:
                    print(f"indexed the user guide: {self.summary}")
            warm_up(self.index)
        except Exception as exc:  # shown in the banner; the app stays usable
            log.exception("preparing the app failed")
            self.error = str(exc) or type(exc).__name__
        finally:
            self.finished.set()

    def _progress(self, done: int, total: int, path: str) -> None:
        self.done, self.total, self.current = done, total, Path(path).name

    def banner(self) -> str:
        if self.finished.is_set():
            if self.error:
                return f"**Could not prepare the index:** {_md(self.error)}"
            if self.summary:
                return (
                    f"The user guide is indexed ({_md(self.summary)}): ask it anything, or add "
                    "your own documents under Documents."
                )
            return ""
        if self.indexing:
            lead = "Indexing the user guide so there is something to ask:"
            if self.total and self.done >= self.total:  # read; the embeddings come last
                return f"{lead} all **{self.total}** files read, computing their embeddings…"
            total = self.total or "?"
            current = f" ({_md(self.current)})" if self.current else ""
            return f"{lead} **{self.done}/{total}** files read{current}…"
        return "Loading the embedding model…"


# ---------------------------------------------------------------------------- the app


def build_app(index: RagIndex, preparing: Preparing | None = None) -> Any:
    import gradio as gr

    settings = index.settings
    answerers = Answerers(index)
    uploads = Uploads.of(settings)
    uploads.migrate(index.store)  # uploads kept flat by earlier versions move into the layout

    def ask(
        question: str, session: Session, backend: str, mode: str, k: float
    ) -> Iterator[tuple[Any, ...]]:
        for messages, panel, state in stream_answer(
            index, answerers, question, session, backend, mode, int(k)
        ):
            yield messages, gr.update() if panel is None else panel, "", state

    def new_conversation() -> tuple[Any, ...]:
        return [], sources_panel("", [], False), "", Session()

    def documents() -> list[list[Any]]:
        return [
            [
                Path(d.source).name,
                d.file_type,
                d.n_chunks,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(d.updated_at)),
                d.id,
                d.source,
            ]
            for d in index.documents()
        ]

    def doc_choices() -> list[tuple[str, str]]:
        return [(f"{Path(d.source).name} ({d.id})", d.id) for d in index.documents()]

    def refresh() -> tuple[Any, Any]:
        return documents(), gr.update(choices=doc_choices(), value=None)

    # Gradio injects progress tracking through this default; it is its documented pattern.
    def upload(files: list[Any] | None, progress: Any = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        if not files:
            return "Drop files above to index them.", *refresh(), None
        skipped: list[str] = []
        sources = [Path(f if isinstance(f, str) else f.name) for f in files]
        batch = Batch()
        for src, name in zip(sources, distinct_names(s.name for s in sources), strict=True):
            try:
                uploads.store_file(name, src, batch)
            except OSError as exc:
                skipped.append(f"{src.name}: could not be stored in {uploads.root}: {exc.strerror}")
        paths = batch.paths

        def on_skip(source: str, reason: str) -> None:
            skipped.append(f"{Path(source).name}: {reason}")
            gr.Warning(f"{Path(source).name} was not indexed: {reason}")

        # One step per file read, and a last one for the embeddings (computed after reading).
        steps = len(paths) + 1
        progress((0, steps), desc="reading", unit="steps")

        def step(done: int, total: int, path: str) -> None:
            desc = f"read {Path(path).name}" if done < total else "computing embeddings"
            progress((done, steps), desc=desc, unit="steps")

        try:
            report = index.ingest(paths, progress=step, on_skip=on_skip)
        except RagError as exc:
            batch.rollback()
            return f"**Indexing failed:** {_md(str(exc))}", *refresh(), None
        except Exception as exc:  # a message in the page, never a traceback; the log has it
            batch.rollback()
            log.exception("indexing an upload failed")
            return f"**Indexing failed:** {_md(str(exc) or type(exc).__name__)}", *refresh(), None
        batch.rollback(s for s, _ in report.skipped)  # no stored copy the index does not hold
        batch.commit()
        lines = [f"**Indexed:** {_md(report.summary())}"]
        for s, r in report.skipped:
            line = f"{Path(s).name}: {r}"
            if line not in skipped:
                skipped.append(line)
        lines += [f"- ✗ not indexed: {_md(line)}" for line in skipped]
        return "\n".join(lines), *refresh(), None

    def remove(doc_id: str | None) -> tuple[Any, ...]:
        if not doc_id:
            return "Choose a document to remove.", *refresh()
        try:
            removed = index.remove([doc_id])
        except RagError as exc:
            return f"**Not removed:** {_md(str(exc))}", *refresh()
        for d in removed:
            uploads.delete(d.source)  # our own copy of an upload; a user's own file is kept
        names = ", ".join(Path(d.source).name for d in removed)
        return f"**Removed** {_md(names)} from the index.", *refresh()

    def summary(backend: str, mode: str, k: float) -> str:
        return (
            f"Answers: **{backend}** · retrieval: **{mode}** · **{int(k)}** passages "
            "(change them under Settings)"
        )

    with gr.Blocks(title="rag: ask your documents") as app:
        gr.Markdown("## Ask your documents")
        banner = gr.Markdown(preparing.banner() if preparing else "", elem_id="rag-banner")
        # Each page's load starts the timer only while the app is still being prepared: a page
        # opened later never ticks (see `on_load`).
        timer = gr.Timer(1.0, active=False)
        session = gr.State(Session())
        with gr.Tab("Ask"), gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chat = gr.Chatbot(
                    label="Conversation",
                    elem_id="rag-chat",
                    height=520,
                    latex_delimiters=[],
                    feedback_options=None,
                    placeholder="Ask a question about your documents. Every sentence of "
                    "the answer cites the passage it comes from.",
                )
                with gr.Row():
                    question = gr.Textbox(
                        label="Question",
                        elem_id="rag-question",
                        placeholder="e.g. Which file types are supported?",
                        scale=5,
                        autofocus=True,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, elem_id="rag-ask")
                with gr.Row():
                    current = gr.Markdown(summary(settings.backend, settings.mode, settings.top_k))
                    clear = gr.Button("New conversation", size="sm", scale=0)
            with gr.Column(scale=2):
                sources = gr.HTML(sources_panel("", [], False), elem_id="rag-sources")
        with gr.Tab("Documents"):
            files = gr.File(
                file_count="multiple",
                label="Drop files here to index them (.txt .md .html .pdf .docx), several at once",
                elem_id="rag-upload",
            )
            status = gr.Markdown(elem_id="rag-upload-status")
            table = gr.Dataframe(
                headers=["file", "type", "chunks", "indexed", "id", "path"],
                value=documents,
                interactive=False,
                elem_id="rag-documents",
            )
            with gr.Row():
                doc = gr.Dropdown(
                    choices=doc_choices(), label="Document to remove", elem_id="rag-remove-choice"
                )
                rm = gr.Button("Remove from index", variant="stop", elem_id="rag-remove")
        with gr.Tab("Settings"):
            with gr.Row():
                backend = gr.Radio(
                    list(BACKENDS),
                    value=settings.backend,
                    label="Answer backend",
                    info="extractive: sentences of your documents, no model; local: a small "
                    "GGUF model (llama.cpp); openai: an OpenAI-compatible server",
                    elem_id="rag-backend",
                )
                mode = gr.Radio(
                    list(MODES), value=settings.mode, label="Retrieval", elem_id="rag-mode"
                )
                k = gr.Slider(
                    1, 20, value=settings.top_k, step=1, label="Passages (top-k)", elem_id="rag-k"
                )
            gr.Markdown("Effective configuration of this tab (API keys are never shown):")
            config = gr.JSON(
                value=effective_config(index, settings.backend, settings.mode, settings.top_k),
                elem_id="rag-config",
            )

        ask_inputs = [question, session, backend, mode, k]
        ask_outputs = [chat, sources, question, session]
        for trigger in (question.submit, send.click):
            trigger(
                ask,
                ask_inputs,
                ask_outputs,
                concurrency_limit=4,
                concurrency_id="ask",
                show_progress="hidden",
            )
        clear.click(new_conversation, None, ask_outputs, queue=False)
        chat.clear(new_conversation, None, ask_outputs, queue=False)  # the chat's own bin icon
        # One event for the three controls, handled in order: quick changes never leave an
        # older configuration on show.
        gr.on(
            [backend.change, mode.change, k.change],
            lambda b, m, n: (effective_config(index, b, m, n), summary(b, m, n)),
            [backend, mode, k],
            [config, current],
            concurrency_limit=1,
            trigger_mode="always_last",
            show_progress="hidden",
        )
        files.upload(
            upload,
            [files],
            [status, table, doc, files],
            concurrency_limit=1,
            concurrency_id="ingest",
        )
        rm.click(remove, [doc], [status, table, doc], concurrency_id="ingest")

        def prepared() -> bool:
            return preparing is None or preparing.finished.is_set()

        def on_load() -> tuple[Any, ...]:
            text = preparing.banner() if preparing else ""
            return text, gr.Timer(active=not prepared()), *refresh()

        app.load(on_load, None, [banner, timer, table, doc], queue=False)

        def tick() -> tuple[Any, ...]:
            return (preparing.banner() if preparing else ""), gr.Timer(active=not prepared())

        def refresh_when_prepared() -> tuple[Any, Any]:
            return refresh() if prepared() else (gr.update(), gr.update())

        # The banner ticks outside the queue; the document list it refreshes once the app is
        # prepared goes through the uploads' queue group, so it is read after any upload sent
        # before it and can never overwrite a newer list with an older one.
        timer.tick(tick, None, [banner, timer], queue=False, show_progress="hidden").then(
            refresh_when_prepared,
            None,
            [table, doc],
            concurrency_limit=1,
            concurrency_id="ingest",
            show_progress="hidden",
        )
    return app


def _backend_error(backend: str, exc: Exception) -> str:
    return (
        f'<div class="rag-error"><b>The {html.escape(backend)} answer backend is not '
        f"available.</b> {html.escape(str(exc))}<br>Choose another answer backend under "
        "Settings, or fix its configuration (see docs/asking.md).</div>"
    )


def launch_kwargs() -> dict[str, Any]:
    """What every launch of the app passes: its CSS and the citation-click script."""
    return {"css": CSS, "head": HEAD}


def serve(
    index: RagIndex,
    host: str = "127.0.0.1",
    port: int | None = 7860,
    *,
    block: bool = True,
    preparing: Preparing | None = None,
) -> Any:
    """Build and start the app: local only, no share link, no analytics. Answers stream through
    the queue; up to four are written at once and an upload is indexed beside them."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    app = build_app(index, preparing)
    app.queue(default_concurrency_limit=4).launch(
        server_name=host,
        server_port=port,
        share=False,
        show_error=False,
        prevent_thread_lock=not block,
        quiet=not block,
        **launch_kwargs(),
    )
    return app


def launch(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    index = RagIndex.open(settings)
    preparing = Preparing(index)
    preparing.start()  # the page opens at once and shows the progress
    serve(index, host, port, preparing=preparing)


def warm_up(index: RagIndex) -> None:
    """Load the embedding model and the index's search structures before the first question,
    so that it does not wait for the model to load."""
    t0 = time.perf_counter()
    try:
        index.ask("What is this about?", 1)
    except RagError as exc:  # the app still opens; the chat shows the error when asked
        print(f"warming up failed: {exc}")
        return
    print(f"ready in {time.perf_counter() - t0:.1f} s (embedding model loaded)")
