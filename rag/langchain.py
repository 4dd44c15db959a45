"""Adapters so the index plugs into LangChain code: an Embeddings and a BaseRetriever."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document as LCDocument
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .api import RagIndex
from .embeddings import Embedder


class RagEmbeddings(Embeddings):
    """The index's own embedder as a LangChain Embeddings: same vectors, same normalisation."""

    def __init__(self, embedder: Embedder) -> None:
        self.embedder = embedder

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.embedder.embed(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.embedder.embed_query(text).tolist()


class RagRetriever(BaseRetriever):
    """Searches a RagIndex; each LangChain Document carries its citation in the metadata."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    index: RagIndex
    k: int = 5
    mode: str | None = None
    path: str | None = None
    file_types: list[str] | None = None

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun
    ) -> list[LCDocument]:
        hits = self.index.search(
            query, self.k, mode=self.mode, path=self.path, file_types=self.file_types
        )
        docs = []
        for h in hits:
            meta: dict[str, Any] = h.to_dict()
            meta.pop("text")
            docs.append(LCDocument(page_content=h.text, metadata=meta, id=str(h.chunk_id)))
        return docs
