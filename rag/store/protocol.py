"""What retrieval, ingestion, the answerers and the server need from an index: the store seam.

Two stores implement it: the local one (SQLite + FAISS + keyword postings in one folder,
sqlite_faiss.py) and Milvus (milvus.py), chosen by the `store` setting (RAG_STORE) and recorded
in the manifest. Chunk ids are int64 and meaningful only to the store that gave them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..documents import Document
from .manifest import Manifest
from .schema import DocumentInfo, DocumentWrite


@runtime_checkable
class Store(Protocol):
    manifest: Manifest
    dim: int

    @property
    def location(self) -> str:
        """Where the index lives, for people: a folder, or a Milvus URI and collection."""
        ...

    @property
    def generation(self) -> int:
        """A counter that grows with every committed write."""
        ...

    # ---- reads
    def snapshot(self) -> AbstractContextManager[Any]:
        """Reads inside see one state of the index (as far as the store can promise it)."""
        ...

    def document_state(self, source: str) -> tuple[str, str] | None:
        """(id, content hash) of the stored document for `source`, if any."""
        ...

    def documents(self) -> list[DocumentInfo]: ...

    def document(self, doc_id: str) -> Document:
        """The whole stored document; KeyError when there is none."""
        ...

    def vectors_by_text(self, doc_id: str) -> dict[str, np.ndarray]:
        """Stored vectors of a document's chunks keyed by text hash (unchanged text is reused)."""
        ...

    def vectors_by_content(self, content_hash: str) -> dict[str, np.ndarray]:
        """Stored vectors keyed by text hash of a document with exactly these bytes, if any: a
        renamed, moved or copied file is not embedded again."""
        ...

    def counts(self) -> dict[str, int]:
        """documents, chunks and generation."""
        ...

    def vector_count(self) -> int: ...

    def chunk_rows(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """doc_id, source, file_type, start, end, text, page, section of each live chunk, and
        ocr_confidence, page_breaks, section_breaks and ocr_by_page (as SearchHit has them); ids
        of chunks no longer in the index are left out."""
        ...

    # ---- search
    def dense_search(
        self,
        query: np.ndarray,
        k: int,
        path_glob: str | None = None,
        file_types: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        """(chunk id, score) by inner product with the normalised query, best first."""
        ...

    def keyword_search(
        self,
        query: str,
        k: int,
        path_glob: str | None = None,
        file_types: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        """(chunk id, score) by BM25 over Porter stems (store/keyword.py's analysis), best first."""
        ...

    def term_counts(self, words: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many chunks hold each word (stemmed as the keyword index does), and the total."""
        ...

    # ---- writes (inside `with store.writing():`)
    def writing(self) -> AbstractContextManager[Any]: ...

    def write(self, docs: Sequence[DocumentWrite], remove_ids: Iterable[str] = ()) -> None:
        """Store documents (replacing earlier versions) and remove others."""
        ...

    def remove(self, doc_ids: Iterable[str]) -> None: ...

    def move_document(self, old_source: str, new_source: str) -> str | None:
        """Re-point a document at a new path keeping its chunks; the new id, or None."""
        ...

    def flush(self) -> None: ...

    def close(self) -> None: ...
