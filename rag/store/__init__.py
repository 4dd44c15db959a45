"""The index on disk: SQLite (documents, chunks, FTS5) is the truth; FAISS is derived from it."""

from .manifest import FORMAT_VERSION, Manifest
from .sqlite_faiss import DocumentInfo, DocumentWrite, IndexStore

__all__ = ["FORMAT_VERSION", "DocumentInfo", "DocumentWrite", "IndexStore", "Manifest"]
