"""The public entry point: an index folder with its embedder, ready to ingest and search."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from .answer import Answer, Answerer, StreamEvent, make_answerer
from .config import Settings
from .documents import SearchHit
from . import embeddings
from .embeddings import Embedder
from .ingest import IngestReport, TokenSplitter, ingest_paths, remove_documents
from .ingest.loaders import Limits
from .ingest.pipeline import ProgressFn, SkipFn
from .retrieve import Filters, Retriever
from .store import DocumentInfo, IndexStore

# v2: chunks are cut on spans, so their offsets are where they were cut. v1 placed repeated
# pieces (long runs of one character, a divider line, a base64 blob) at the wrong occurrence and
# left parts of such text in no chunk; an index it built may hold documents nobody can search in
# full, and unchanged files are never cut again, so it must be rebuilt (the error says how).
SPLITTER_VERSION = "recursive-tokens-v2"


def make_embedder(settings: Settings) -> Embedder:
    """ONNX Runtime or PyTorch, fp32 or int8, as the settings say (rag.embeddings)."""
    return embeddings.make_embedder(settings)


class RagIndex:
    """Ingest files into one index folder and search it. Collaborators are passed in."""

    def __init__(self, settings: Settings, embedder: Embedder, store: IndexStore) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.splitter = TokenSplitter(
            embedder.count_tokens,
            min(settings.chunk_tokens, embedder.max_tokens),
            settings.chunk_overlap,
        )
        self._answerer: Answerer | None = None
        self.retriever = Retriever(
            store,
            embedder,
            mode=settings.mode,
            candidates=settings.candidates,
            rrf_k=settings.rrf_k,
        )

    @classmethod
    def open(
        cls, settings: Settings, embedder: Embedder | None = None, *, create: bool = True
    ) -> RagIndex:
        """Open the index in `settings.index`; refuses one built with another model or chunking."""
        embedder = embedder or make_embedder(settings)
        store = IndexStore.open(
            settings.index, embedder.describe(), chunking_of(settings, embedder), create=create
        )
        return cls(settings, embedder, store)

    def ingest(
        self,
        paths: Sequence[Path | str],
        *,
        prune: bool = False,
        progress: ProgressFn | None = None,
        on_skip: SkipFn | None = None,
    ) -> IngestReport:
        return ingest_paths(
            [Path(p) for p in paths],
            self.store,
            self.embedder,
            self.splitter,
            max_file_bytes=self.settings.max_file_bytes,
            limits=Limits(
                self.settings.max_doc_chars,
                int(self.settings.max_expanded_mb * 1024 * 1024),
                self.settings.max_expansion_ratio,
            ),
            commit_every=self.settings.commit_every,
            prune=prune,
            progress=progress,
            on_skip=on_skip,
        )

    def remove(self, targets: Sequence[str]) -> list[DocumentInfo]:
        return remove_documents(self.store, targets)

    def search(
        self,
        query: str,
        k: int | None = None,
        *,
        mode: str | None = None,
        path: str | None = None,
        file_types: Sequence[str] | None = None,
    ) -> list[SearchHit]:
        filters = Filters(path, tuple(file_types) if file_types else None)
        return self.retriever.search(query, k or self.settings.top_k, mode=mode, filters=filters)

    def ask(
        self,
        question: str,
        k: int | None = None,
        *,
        mode: str | None = None,
        path: str | None = None,
        file_types: Sequence[str] | None = None,
    ) -> Answer:
        """Answer from the documents, citing the spans it rests on, or refuse."""
        for event in self.ask_stream(question, k, mode=mode, path=path, file_types=file_types):
            if isinstance(event, Answer):
                return event
        raise AssertionError("the answerer's stream ended without an Answer")

    def ask_stream(
        self,
        question: str,
        k: int | None = None,
        *,
        mode: str | None = None,
        path: str | None = None,
        file_types: Sequence[str] | None = None,
    ) -> Iterator[StreamEvent]:
        """The answer as it is written: Delta (raw text) and Checked (a sentence aligned to its
        sources, kept or dropped) events, then the Answer. CLI, app and HTTP all use this."""
        t0 = time.perf_counter()
        hits = self.search(question, k, mode=mode, path=path, file_types=file_types)
        retrieve_ms = round((time.perf_counter() - t0) * 1000, 1)
        for event in self.answerer.stream(question, hits):
            if isinstance(event, Answer):
                event.timings_ms["retrieve"] = retrieve_ms
                event.timings_ms["total"] = round((time.perf_counter() - t0) * 1000, 1)
            yield event

    @property
    def answerer(self) -> Answerer:
        if self._answerer is None:
            self._answerer = make_answerer(self.settings, self.embedder, self.store.term_counts)
        return self._answerer

    def documents(self) -> list[DocumentInfo]:
        return self.store.documents()

    def info(self) -> dict[str, Any]:
        m = self.store.manifest
        return {
            "index": str(self.store.path.resolve()),
            "format_version": m.format_version,
            "created_at": m.created_at,
            "embedding": m.embedding,
            "chunking": m.chunking,
            **self.store.counts(),
        }

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> RagIndex:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def chunking_of(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    return {
        "chunk_tokens": min(settings.chunk_tokens, embedder.max_tokens),
        "chunk_overlap": settings.chunk_overlap,
        "splitter": SPLITTER_VERSION,
    }
