"""The index: a store behind one protocol (protocol.py). The local store keeps SQLite (documents,
chunks, vectors) as the truth, FAISS and BM25 derived from it; the Milvus store (milvus.py, the
scale extra) keeps everything in a Milvus server or Milvus Lite."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from .manifest import FORMAT_VERSION, Manifest
from .protocol import Store
from .schema import DocumentInfo, DocumentWrite
from .sqlite_faiss import IndexStore

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "FORMAT_VERSION",
    "DocumentInfo",
    "DocumentWrite",
    "IndexStore",
    "Manifest",
    "Store",
    "open_store",
]


def open_store(
    settings: Settings,
    embedding: dict[str, Any],
    chunking: dict[str, Any],
    *,
    create: bool = True,
) -> Store:
    """The store the settings choose (RAG_STORE), opened or created (a new one records
    `chunking`); refuses an index built with another store, model or splitter version."""
    if settings.store == "milvus":
        from .milvus import MilvusStore  # the scale extra: imported only when asked for

        return MilvusStore.open(settings, embedding, chunking, create=create)
    return IndexStore.open(Path(settings.index), embedding, chunking, create=create)
