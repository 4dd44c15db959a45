"""rag: ask questions of your own documents, with every answer traced to its passages."""

from .api import RagIndex, make_embedder
from .config import Settings
from .documents import Chunk, Document, SearchHit, Section
from .errors import RagError
from .ingest import IngestReport
from .retrieve import Filters

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
