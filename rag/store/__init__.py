"""The index on disk: SQLite (documents, chunks, vectors) is the truth; FAISS and BM25 derive from it."""

from .manifest import FORMAT_VERSION, Manifest
from .sqlite_faiss import DocumentInfo, DocumentWrite, IndexStore

__all__ = ["FORMAT_VERSION", "DocumentInfo", "DocumentWrite", "IndexStore", "Manifest"]
