"""The Gradio app: ask your documents and see exactly where each sentence of the answer comes from."""

from __future__ import annotations

import html
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .answer import Answer
from .api import RagIndex
from .config import Settings
from .errors import RagError

SAMPLE_DOCS = Path(__file__).resolve().parent.parent / "docs"


def ensure_sample_corpus(index: RagIndex, folder: Path = SAMPLE_DOCS) -> str | None:
    """Index the user guide when the index is empty, so a new user has something real to ask."""
    if index.store.counts()["documents"] or not folder.is_dir():
        return None
    from tqdm import tqdm

    bar = tqdm(unit="file", desc=f"indexing the user guide ({folder})")

    def progress(done: int, total: int, _: str) -> None:
        bar.total = total
        bar.update(1)

    report = index.ingest([folder], progress=progress)
    bar.close()
    return report.summary()


def format_answer(answer: Answer) -> tuple[str, str]:
    """(chat reply, sources panel): the answer with [n] markers, and each cited span quoted in
    its passage; for a refusal, the closest passages."""
    if answer.refused:
        reply = answer.text
        if answer.passages:
            reply += " The closest passages are shown beside."
        return reply, _cards(
            [(h.rank, h.source, h.location(), h.text, None) for h in answer.passages[:3]]
        )
    cards = []
    for c in answer.citations:
        hit = next((h for h in answer.passages if h.chunk_id == c.chunk_id), None)
        passage = hit.text if hit else c.quote
        offset = (c.start - hit.start) if hit else 0
        cards.append((c.number, c.source, c.location(), passage, (offset, offset + len(c.quote))))
    return answer.render(), _cards(cards)


def _cards(items: Sequence[tuple[int, str, str, str, tuple[int, int] | None]]) -> str:
    out = []
    for number, source, location, passage, mark in items:
        if mark is not None:
            a, b = mark
            body = (
                html.escape(passage[:a])
                + f"<mark>{html.escape(passage[a:b])}</mark>"
                + html.escape(passage[b:])
            )
        else:
            body = html.escape(passage)
        out.append(
            f'<div class="rag-source" id="source-{number}"><b>[{number}] '
            f"{html.escape(Path(source).name)}</b> <small>{html.escape(location)}</small><br>"
            f"<small>{html.escape(source)}</small><blockquote>{body}</blockquote></div>"
        )
    return "\n".join(out)


def build_app(index: RagIndex) -> Any:
    import gradio as gr

    settings = index.settings

    def ask(question: str, history: list[dict[str, str]], mode: str, k: int):
        history = list(history or [])
        if not question.strip():
            return history, gr.update(), ""
        history.append({"role": "user", "content": question})
        try:
            reply, sources = format_answer(index.ask(question, int(k), mode=mode))
        except RagError as exc:
            reply, sources = f"Error: {exc}", ""
        history.append({"role": "assistant", "content": reply})
        return history, sources, ""

    def list_docs() -> list[list[Any]]:
        return [
            [
                d.id,
                Path(d.source).name,
                d.file_type,
                d.n_chunks,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(d.updated_at)),
                d.source,
            ]
            for d in index.documents()
        ]

    # Gradio injects progress tracking through this default; it is its documented pattern.
    def upload(files: list[Any] | None, progress: Any = gr.Progress()) -> tuple[str, Any]:  # noqa: B008
        if not files:
            return "Choose files first.", list_docs()
        paths = [Path(f if isinstance(f, str) else f.name) for f in files]
        try:
            report = index.ingest(
                paths, progress=lambda d, t, p: progress((d, t), desc=f"indexing {Path(p).name}")
            )
        except RagError as exc:
            return f"Error: {exc}", list_docs()
        lines = [report.summary()]
        lines += [f"- skipped {Path(s).name}: {r}" for s, r in report.skipped]
        return "\n".join(lines), list_docs()

    def remove(doc_id: str) -> tuple[str, Any]:
        try:
            removed = index.remove([doc_id.strip()])
        except RagError as exc:
            return f"Error: {exc}", list_docs()
        return f"Removed {', '.join(Path(d.source).name for d in removed)}", list_docs()

    with gr.Blocks(title="rag: ask your documents") as app:
        gr.Markdown("## Ask your documents")
        with gr.Tab("Ask"):
            with gr.Row():
                with gr.Column(scale=3):
                    chat = gr.Chatbot(label="Conversation", height=460)
                    question = gr.Textbox(
                        label="Question", placeholder="e.g. Which file types are supported?"
                    )
                    with gr.Row():
                        mode = gr.Dropdown(
                            ["hybrid", "dense", "keyword"], value=settings.mode, label="Retrieval"
                        )
                        k = gr.Slider(1, 20, value=settings.top_k, step=1, label="Passages")
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    sources = gr.HTML()
            question.submit(ask, [question, chat, mode, k], [chat, sources, question])
        with gr.Tab("Documents"):
            files = gr.File(file_count="multiple", label="Add files (.txt .md .html .pdf .docx)")
            add = gr.Button("Index files")
            status = gr.Markdown()
            table = gr.Dataframe(
                headers=["id", "file", "type", "chunks", "updated", "path"],
                value=list_docs,
                interactive=False,
            )
            with gr.Row():
                doc_id = gr.Textbox(label="Document id or path to remove")
                rm = gr.Button("Remove")
            add.click(upload, [files], [status, table])
            rm.click(remove, [doc_id], [status, table])
        with gr.Tab("Settings"):
            gr.JSON(value=lambda: {"settings": settings.model_dump(mode="json"), **index.info()})
    return app


def launch(settings: Settings, host: str = "127.0.0.1", port: int = 7860) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    index = RagIndex.open(settings)
    summary = ensure_sample_corpus(index)
    if summary:
        print(f"indexed the user guide: {summary}")
    app = build_app(index)
    app.queue(default_concurrency_limit=4).launch(
        server_name=host, server_port=port, share=False, show_error=False
    )
