"""From files to stored chunks: loaders, the token-sized splitter, and the ingest pipeline."""

from .discover import discover
from .pipeline import IngestReport, ingest_paths
from .removal import remove_documents
from .splitter import TokenSplitter

__all__ = ["IngestReport", "TokenSplitter", "discover", "ingest_paths", "remove_documents"]
