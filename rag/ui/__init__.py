"""The Gradio app: ask your documents, read the answer as it is written, and see exactly where
each sentence comes from.

Ask: the answer streams in (raw text shown grey until each sentence is checked against the
sources, then replaced by the checked sentence with its [n] markers); the Sources panel shows
each cited passage with the cited span highlighted, and clicking a marker brings its card into
view. Documents: upload (drag and drop, several files), list, remove. Settings: the answer
backend, retrieval mode and passage count of this browser tab, and the effective configuration.

The package: render.py (answers and source cards as HTML), chat.py (a tab's session and the
answer stream), documents.py (uploads, the user guide on a first start), layout.py (the page).
"""

from .chat import Answerers, Session, effective_config, stream_answer
from .documents import SAMPLE_DOCS, DocumentsTab, Preparing, ensure_sample_corpus, warm_up
from .layout import BACKENDS, MODES, build_app, launch, serve
from .render import (
    CSS,
    HEAD,
    card_id,
    citation_cards,
    format_answer,
    launch_kwargs,
    md,
    sentence_html,
    sources_panel,
)

__all__ = [
    "BACKENDS",
    "CSS",
    "HEAD",
    "MODES",
    "SAMPLE_DOCS",
    "Answerers",
    "DocumentsTab",
    "Preparing",
    "Session",
    "build_app",
    "card_id",
    "citation_cards",
    "effective_config",
    "ensure_sample_corpus",
    "format_answer",
    "launch",
    "launch_kwargs",
    "md",
    "sentence_html",
    "serve",
    "sources_panel",
    "stream_answer",
    "warm_up",
]
