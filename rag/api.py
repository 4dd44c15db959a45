"""The public entry point: an index folder with its embedder, ready to ingest and search."""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import embeddings
from .config import Settings
from .documents import SearchHit
from .embeddings import Embedder
from .errors import QueryError
from .ingest import IngestReport, TokenSplitter, ingest_paths, remove_documents
from .ingest.loaders import Limits
from .ingest.pipeline import EmbedProgressFn, ProgressFn, SkipFn, Stage
from .retrieve import Filters, Retriever, check_glob, file_types_of
from .store import DocumentInfo, Store, open_store
from .text.markup import typed_text

if TYPE_CHECKING:  # the answer code loads on first use: `rag search` never needs it (0.1 s)
    from .answer import Answer, Answerer, AskEvent
    from .answer.llm import LLM

# v2: chunks are cut on spans, so their offsets are where they were cut. v1 placed repeated
# pieces (long runs of one character, a divider line, a base64 blob) at the wrong occurrence and
# left parts of such text in no chunk; an index it built may hold documents nobody can search in
# full, and unchanged files are never cut again, so it must be rebuilt (the error says how).
# v3: below paragraphs, chunks are cut where sentences begin (rag.text.sentences), not at
# every line break, so a PDF's or hard-wrapped file's chunks no longer begin or end inside a
# sentence. Unchanged files are never cut again, so an older index is rebuilt (the error says how).
SPLITTER_VERSION = "sentences-tokens-v5"


def make_embedder(settings: Settings) -> Embedder:
    """ONNX Runtime or PyTorch, fp32 or int8, as the settings say (rag.embeddings)."""
    return embeddings.make_embedder(settings)


def make_llm(settings: Settings) -> LLM:
    """The language model of the settings' backend (rag.answer.make_llm)."""
    from .answer import make_llm as make

    return make(settings)


@dataclass(frozen=True)
class Components:
    """Where an index's collaborators come from. The defaults build the real ones from the
    settings; tests pass fakes, and a program can pass its own embedder or language model."""

    embedder: Callable[[Settings], Embedder] = make_embedder
    llm: Callable[[Settings], LLM] = make_llm  # called only for the local and openai backends

    def answerer(self, settings: Settings, embedder: Embedder, store: Store) -> Answerer:
        from .answer import make_answerer

        llm = None if settings.backend == "extractive" else self.llm(settings)
        return make_answerer(settings, embedder, store.term_counts, llm)


class RagIndex:
    """Ingest files into one index folder and search it. Collaborators are passed in: the
    settings, the embedder, the store, and `components` for the answerer it builds on first use."""

    def __init__(
        self,
        settings: Settings,
        embedder: Embedder,
        store: Store,
        components: Components | None = None,
    ) -> None:
        self.settings = settings
        self.embedder = embedder
        self.store = store
        self.components = components or Components()
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
        cls,
        settings: Settings,
        embedder: Embedder | None = None,
        *,
        components: Components | None = None,
        create: bool = True,
    ) -> RagIndex:
        """Open the index in `settings.index`; refuses one built with another model (and
        `ingest` refuses to add chunks cut another way than the index's)."""
        components = components or Components()
        embedder = embedder or components.embedder(settings)
        store = open_store(
            settings, embedder.describe(), chunking_of(settings, embedder), create=create
        )
        return cls(settings, embedder, store, components)

    def with_embedder(self, embedder: Embedder) -> RagIndex:
        """The same store and settings seen through another embedder of the same model (rag
        serve's batched one): a new object, this one is left as it is."""
        if embedder.fingerprint != self.embedder.fingerprint:
            raise ValueError("with_embedder needs an embedder of the same model")
        return RagIndex(self.settings, embedder, self.store, self.components)

    def ingest(
        self,
        paths: Sequence[Path | str],
        *,
        prune: bool = False,
        progress: ProgressFn | None = None,
        on_skip: SkipFn | None = None,
        on_note: SkipFn | None = None,
        ray: str | None = None,
        ray_workers: int | None = None,
        emptied_removes: bool = True,
        on_embed: EmbedProgressFn | None = None,
    ) -> IngestReport:
        """`ray`: load, split and embed on Ray actors (the scale extra, rag/ingest/on_ray.py):
        "local" starts a Ray on this machine, else a cluster's address; `ray_workers` actors
        (default: one per CPU). Files are still found, hashed and written here.
        `emptied_removes`: an indexed file that now holds no text (emptied) loses its document,
        as a deleted one does under `prune`; uploads pass False (the upload is refused and the
        copy it would have replaced stays, with its document). `on_embed(done, total)`: as each
        commit's chunks are embedded (not called for chunks Ray's workers embed)."""
        # New chunks must be cut as the index's are (searching never minds: rag search and ask
        # open an index whatever the chunk settings now say).
        self.store.manifest.check_chunking(
            chunking_of(self.settings, self.embedder), self.store.location
        )
        limits = Limits(
            self.settings.max_doc_chars,
            int(self.settings.max_expanded_mb * 1024 * 1024),
            self.settings.max_expansion_ratio,
            max_ocr_pages=self.settings.max_ocr_pages,
        )

        def run(stage: Stage | None = None) -> IngestReport:
            return ingest_paths(
                [Path(p) for p in paths],
                self.store,
                self.embedder,
                self.splitter,
                max_file_bytes=self.settings.max_file_bytes,
                limits=limits,
                commit_every=self.settings.commit_every,
                prune=prune,
                progress=progress,
                on_skip=on_skip,
                on_note=on_note,
                stage=stage,
                emptied_removes=emptied_removes,
                on_embed=on_embed,
            )

        if ray is None:
            return run()
        from .ingest.on_ray import ray_stage  # the scale extra: Ray only when asked for

        with ray_stage(
            ray,
            workers=ray_workers,
            factory=self.components.embedder,
            settings=self.settings,
            expected=self.embedder.describe(),
            splitter=self.splitter,
            max_file_bytes=self.settings.max_file_bytes,
            limits=limits,
        ) as stage:
            return run(stage)

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
        # "<b>What</b> is the **port**?" asks for the port.
        return self._search(typed_text(query) or query, k, mode, path, file_types)

    def _search(
        self,
        query: str,
        k: int | None,
        mode: str | None,
        path: str | None,
        file_types: Sequence[str] | None,
    ) -> list[SearchHit]:
        """`search` of a query whose markup is already stripped."""
        filters = Filters(
            check_glob(path) if path else None,
            file_types_of(file_types) if file_types else None,
        )
        return self.retriever.search(query, _k(k, self.settings.top_k), mode=mode, filters=filters)

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
        from .answer.types import final_answer

        return final_answer(
            self.ask_stream(question, k, mode=mode, path=path, file_types=file_types)
        )

    def ask_stream(
        self,
        question: str,
        k: int | None = None,
        *,
        mode: str | None = None,
        path: str | None = None,
        file_types: Sequence[str] | None = None,
        answerer: Answerer | None = None,
    ) -> Iterator[AskEvent]:
        """The answer as it is written: Retrieved (the passages), Delta (raw text) and Checked
        (a sentence aligned to its sources, kept or dropped) events, then the Answer. The CLI,
        the app and HTTP all use this (through rag.conversation for chats); `answerer` is
        another backend than the index's own (the app's per-tab choice)."""
        from .answer import Answer, Retrieved
        from .answer.instructions import drop_instruction_chunks

        t0 = time.perf_counter()
        k = _k(k, self.settings.top_k)
        question = typed_text(question) or question
        # Passages written to the assistant are no evidence (rag/answer/instructions.py): more
        # are fetched, so that planted ones do not push the real passages out of the top k.
        found = self._search(question, 3 * k, mode, path, file_types)
        hits = drop_instruction_chunks(found, k)
        retrieve_ms = round((time.perf_counter() - t0) * 1000, 1)
        yield Retrieved(hits)
        for event in (answerer or self.answerer).stream(question, hits):
            if isinstance(event, Answer):
                event.timings_ms["retrieve"] = retrieve_ms
                event.timings_ms["total"] = round((time.perf_counter() - t0) * 1000, 1)
            yield event

    @property
    def answerer(self) -> Answerer:
        if self._answerer is None:
            self._answerer = self.components.answerer(self.settings, self.embedder, self.store)
        return self._answerer

    def answerer_for(self, settings: Settings) -> Answerer:
        """A new answerer for other answer settings (another backend) over this index."""
        return self.components.answerer(settings, self.embedder, self.store)

    def documents(self) -> list[DocumentInfo]:
        return self.store.documents()

    def info(self) -> dict[str, Any]:
        m = self.store.manifest
        return {
            "index": self.store.location,
            "store": m.store,
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


def _k(k: int | None, default: int) -> int:
    """The passages to fetch: `default` when not given; below 1 is an error (0 gave the
    default, and -1 all but one of the index's chunks)."""
    if k is None:
        return default
    try:
        n = operator.index(k)  # an int, or numpy's
    except TypeError:
        n = 0
    if isinstance(k, bool) or n < 1:
        raise QueryError(f"k={k!r}: ask for at least 1 passage (or leave k out for {default})")
    return n


def chunking_of(settings: Settings, embedder: Embedder) -> dict[str, Any]:
    return {
        "chunk_tokens": min(settings.chunk_tokens, embedder.max_tokens),
        "chunk_overlap": settings.chunk_overlap,
        "splitter": SPLITTER_VERSION,
    }
