"""The page: three tabs (Ask, Documents, Settings) laid out with Gradio, their events wired to
rag.ui.chat and rag.ui.documents, and the app's launch."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..api import RagIndex
from ..config import AnswerBackend, Settings, is_loopback
from ..errors import ConfigError
from .chat import Answerers, Session, effective_config, stream_answer
from .documents import DocumentsTab, Preparing
from .render import launch_kwargs, sources_panel

BACKENDS: tuple[AnswerBackend, ...] = ("extractive", "local", "openai")
MODES = ("hybrid", "dense", "keyword")


def summary(backend: str, mode: str, k: float) -> str:
    return (
        f"Answers: **{backend}** · retrieval: **{mode}** · **{int(k)}** passages "
        "(change them under Settings)"
    )


def _ask_tab(settings: Settings) -> SimpleNamespace:
    import gradio as gr

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
    return SimpleNamespace(
        chat=chat, question=question, send=send, current=current, clear=clear, sources=sources
    )


def _documents_tab(docs: DocumentsTab) -> SimpleNamespace:
    import gradio as gr

    with gr.Tab("Documents") as tab:
        files = gr.File(
            file_count="multiple",
            label="Drop files here to index them (.txt .md .html .pdf .docx; scans and images "
            "(.png .jpg .tif) are read by OCR), several at once",
            elem_id="rag-upload",
        )
        status = gr.Markdown(elem_id="rag-upload-status")
        table = gr.Dataframe(
            headers=["file", "type", "chunks", "indexed", "id", "path"],
            value=docs.rows,
            interactive=False,
            elem_id="rag-documents",
        )
        with gr.Row():
            doc = gr.Dropdown(
                choices=docs.choices(), label="Document to remove", elem_id="rag-remove-choice"
            )
            rm = gr.Button("Remove from index", variant="stop", elem_id="rag-remove")
    return SimpleNamespace(tab=tab, files=files, status=status, table=table, doc=doc, rm=rm)


def _settings_tab(index: RagIndex) -> SimpleNamespace:
    import gradio as gr

    settings = index.settings
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
            mode = gr.Radio(list(MODES), value=settings.mode, label="Retrieval", elem_id="rag-mode")
            k = gr.Slider(
                1, 20, value=settings.top_k, step=1, label="Passages (top-k)", elem_id="rag-k"
            )
        gr.Markdown("Effective configuration of this tab (API keys are never shown):")
        config = gr.JSON(
            value=effective_config(index, settings.backend, settings.mode, settings.top_k),
            elem_id="rag-config",
        )
    return SimpleNamespace(backend=backend, mode=mode, k=k, config=config)


def _wire_ask(index: RagIndex, ask_ui: SimpleNamespace, tab: SimpleNamespace, session: Any) -> None:
    import gradio as gr

    answerers = Answerers(index)

    def ask(
        question: str, session: Session, backend: str, mode: str, k: float
    ) -> Iterator[tuple[Any, ...]]:
        # The box is emptied once, when the question is taken: what the user types while the
        # answer is written is the next question, not something to wipe at each update.
        box: Any = ""
        for messages, panel, state in stream_answer(
            index, answerers, question, session, backend, mode, int(k)
        ):
            yield messages, gr.update() if panel is None else panel, box, state
            box = gr.update()

    def new_conversation() -> tuple[Any, ...]:
        return [], sources_panel("", [], False), "", Session()

    inputs = [ask_ui.question, session, tab.backend, tab.mode, tab.k]
    outputs = [ask_ui.chat, ask_ui.sources, ask_ui.question, session]
    for trigger in (ask_ui.question.submit, ask_ui.send.click):
        trigger(
            ask,
            inputs,
            outputs,
            concurrency_limit=4,
            concurrency_id="ask",
            show_progress="hidden",
        )
    ask_ui.clear.click(new_conversation, None, outputs, queue=False)
    ask_ui.chat.clear(new_conversation, None, outputs, queue=False)  # the chat's own bin icon
    # One event for the three controls, handled in order: quick changes never leave an older
    # configuration on show.
    gr.on(
        [tab.backend.change, tab.mode.change, tab.k.change],
        lambda b, m, n: (effective_config(index, b, m, n), summary(b, m, n)),
        [tab.backend, tab.mode, tab.k],
        [tab.config, ask_ui.current],
        concurrency_limit=1,
        trigger_mode="always_last",
        show_progress="hidden",
    )


# How the document list is read anew outside an upload or removal: in their queue group, one at
# a time, so it is read after any upload sent before it and never shows an older list.
_READ_LIST: dict[str, Any] = {
    "concurrency_limit": 1,
    "concurrency_id": "ingest",
    "show_progress": "hidden",
}


def _wire_documents(docs: DocumentsTab, ui: SimpleNamespace) -> Any:
    """Upload and remove events; returns `refresh` (the table and the remove list, anew)."""
    import gradio as gr

    def refresh() -> tuple[Any, Any]:
        return docs.rows(), gr.update(choices=docs.choices(), value=None)

    # Gradio injects progress tracking through this default; it is its documented pattern.
    def upload(files: list[Any] | None, progress: Any = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        paths = [Path(f if isinstance(f, str) else f.name) for f in files or []]
        status = docs.upload(
            paths,
            progress=lambda done, steps, desc: progress((done, steps), desc=desc, unit="steps"),
            warn=gr.Warning,
        )
        return status, *refresh(), None

    def remove(doc_id: str | None) -> tuple[Any, ...]:
        return docs.remove(doc_id), *refresh()

    ui.files.upload(
        upload,
        [ui.files],
        [ui.status, ui.table, ui.doc, ui.files],
        concurrency_limit=1,
        concurrency_id="ingest",
    )
    ui.rm.click(remove, [ui.doc], [ui.status, ui.table, ui.doc], concurrency_id="ingest")
    # Opening the tab reads the list anew: another tab's upload or removal, an upload still
    # running when this page was reloaded, or `rag ingest` meanwhile. In the uploads' queue
    # group: a list read while an upload runs is read when it has finished.
    ui.tab.select(refresh, None, [ui.table, ui.doc], **_READ_LIST)
    return refresh


def build_app(index: RagIndex, preparing: Preparing | None = None) -> Any:
    import gradio as gr

    docs = DocumentsTab(index)
    with gr.Blocks(title="rag: ask your documents") as app:
        gr.Markdown("## Ask your documents")
        banner = gr.Markdown(preparing.banner() if preparing else "", elem_id="rag-banner")
        # Each page's load starts the timer only while the app is still being prepared: a page
        # opened later never ticks (see `on_load`).
        timer = gr.Timer(1.0, active=False)
        session = gr.State(Session())
        ask_ui = _ask_tab(index.settings)
        docs_ui = _documents_tab(docs)
        settings_ui = _settings_tab(index)
        _wire_ask(index, ask_ui, settings_ui, session)
        refresh = _wire_documents(docs, docs_ui)

        def prepared() -> bool:
            return preparing is None or preparing.finished.is_set()

        def on_load() -> tuple[Any, ...]:
            text = preparing.banner() if preparing else ""
            return text, gr.Timer(active=not prepared()), *refresh()

        app.load(on_load, None, [banner, timer, docs_ui.table, docs_ui.doc], queue=False)

        def tick() -> tuple[Any, ...]:
            return (preparing.banner() if preparing else ""), gr.Timer(active=not prepared())

        def refresh_when_prepared() -> tuple[Any, Any]:
            return refresh() if prepared() else (gr.update(), gr.update())

        # The banner ticks outside the queue; the document list it refreshes once the app is
        # prepared goes through the uploads' queue group, so it is read after any upload sent
        # before it and can never overwrite a newer list with an older one.
        timer.tick(tick, None, [banner, timer], queue=False, show_progress="hidden").then(
            refresh_when_prepared, None, [docs_ui.table, docs_ui.doc], **_READ_LIST
        )
    return app


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


def launch(
    settings: Settings, host: str = "127.0.0.1", port: int = 7860, *, allow_network: bool = False
) -> None:
    check_host(host, allow_network)
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    index = RagIndex.open(settings)
    preparing = Preparing(index)
    preparing.start()  # the page opens at once and shows the progress
    serve(index, host, port, preparing=preparing)


def check_host(host: str, allow_network: bool) -> None:
    """The app has no keys: on an address others can reach, anyone there could read, upload
    and remove the documents. That takes `allow_network`, said on purpose."""
    if not is_loopback(host) and not allow_network:
        raise ConfigError(
            f"the app on {host} would be open to anyone who can reach this machine: it has no "
            "keys, and lets a visitor read, upload and remove your documents. Keep the default "
            "127.0.0.1 (from another machine, use an SSH tunnel: ssh -L 7860:127.0.0.1:7860 "
            "HOST), or pass --allow-network if only people you trust can reach this address"
        )
