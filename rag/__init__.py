"""rag: ask questions of your own documents, with every answer traced to its passages."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import RagIndex, make_embedder
    from .config import Settings
    from .documents import Chunk, Document, SearchHit, Section
    from .errors import RagError
    from .ingest import IngestReport
    from .retrieve import Filters

# Loaded on first use (PEP 562): `rag --help` or `rag search` imports this package, and must not
# pay for the parts of it that it does not use (the ingest loaders, the answerers, ...).
_EXPORTS = {
    "Chunk": ".documents",
    "Document": ".documents",
    "Filters": ".retrieve",
    "IngestReport": ".ingest",
    "RagError": ".errors",
    "RagIndex": ".api",
    "SearchHit": ".documents",
    "Section": ".documents",
    "Settings": ".config",
    "make_embedder": ".api",
}
__all__ = [
    "Chunk",
    "Document",
    "Filters",
    "IngestReport",
    "RagError",
    "RagIndex",
    "SearchHit",
    "Section",
    "Settings",
    "make_embedder",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'rag' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])
