"""Retrieval: dense, keyword (BM25) and hybrid (reciprocal rank fusion), with filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .documents import FILE_TYPES, SearchHit
from .embeddings import Embedder
from .errors import QueryError
from .store import Store

MODES = ("dense", "keyword", "hybrid")


@dataclass(frozen=True)
class Filters:
    """Restrict a search to documents whose path matches a glob and/or of given file types."""

    path: str | None = None
    file_types: tuple[str, ...] | None = None

    @property
    def empty(self) -> bool:
        return not self.path and not self.file_types


def file_types_of(names: Sequence[str]) -> tuple[str, ...]:
    """The stored file types that a user's names mean: "pdf", ".PDF", "htm" (html), "png"
    (image: all pictures are one type). An unknown name was a filter that silently matched
    nothing ("no matching passages"); it is an error that lists the types."""
    from .ingest.loaders import SUPPORTED_SUFFIXES

    kinds = set(FILE_TYPES)
    out: list[str] = []
    for name in names:
        key = name.strip().lower().lstrip(".")
        kind = SUPPORTED_SUFFIXES.get(f".{key}") or (key if key in kinds else None)
        if kind is None:
            known = ", ".join(sorted({s.lstrip(".") for s in SUPPORTED_SUFFIXES} | kinds))
            raise QueryError(f"unknown file type {name!r}: use one of {known}")
        if kind not in out:
            out.append(kind)
    return tuple(out)


def check_glob(pattern: str) -> str:
    """A path pattern whose `[` opens a set that never closes ("[[", "report[1.pdf") matched
    nothing without a word; it is an error that says so."""
    i, n = 0, len(pattern)
    while i < n:
        if pattern[i] == "[":
            j = i + 1
            if j < n and pattern[j] in "!^":
                j += 1
            if j < n and pattern[j] == "]":  # "[]...]": a ] first is one of the set
                j += 1
            close = pattern.find("]", j)
            if close < 0:
                raise QueryError(
                    f"path pattern {pattern!r}: the [ at character {i + 1} is never closed "
                    "(a set of characters is written [abc]; for a literal [ write [[]"
                )
            i = close + 1
        else:
            i += 1
    return pattern


def rrf(rankings: dict[str, Sequence[int]], k: int = 60) -> list[tuple[int, float, dict[str, int]]]:
    """Reciprocal rank fusion: score(d) = sum over rankings of 1 / (k + rank of d)."""
    scores: dict[int, float] = {}
    ranks: dict[int, dict[str, int]] = {}
    for name, ids in rankings.items():
        for rank, cid in enumerate(ids, 1):
            scores[cid] = scores.get(cid, 0.0) + 1.0 / (k + rank)
            ranks.setdefault(cid, {})[name] = rank
    # Ties (same fused score) go to the better best-rank, then the lower id, so order is stable.
    order = sorted(scores, key=lambda c: (-scores[c], min(ranks[c].values()), c))
    return [(c, scores[c], ranks[c]) for c in order]


class Retriever:
    """Searches one index with one embedder; stateless apart from them."""

    def __init__(
        self,
        store: Store,
        embedder: Embedder,
        *,
        mode: str = "hybrid",
        candidates: int = 50,
        rrf_k: int = 60,
    ) -> None:
        self.store = store
        self.embedder = embedder
        self.mode = _check_mode(mode)
        self.candidates = candidates
        self.rrf_k = rrf_k

    def search(
        self,
        query: str,
        k: int = 5,
        *,
        mode: str | None = None,
        filters: Filters | None = None,
    ) -> list[SearchHit]:
        mode = _check_mode(mode or self.mode)
        filters = filters or Filters()
        if not query.strip():
            return []
        pool = max(k, self.candidates)
        results: dict[str, list[tuple[int, float]]] = {}
        # The query is embedded outside the snapshot, so a slow model never holds up a writer.
        qvec = self.embedder.embed_query(query) if mode in ("dense", "hybrid") else None
        # Both retrievers and the hydration read one generation: an ingest that commits while a
        # search runs is seen by all of it or none of it.
        with self.store.snapshot():
            if qvec is not None:
                results["dense"] = self.store.dense_search(
                    qvec, pool, filters.path, filters.file_types
                )
            if mode in ("keyword", "hybrid"):
                results["keyword"] = self.store.keyword_search(
                    query, pool, filters.path, filters.file_types
                )
            if mode == "hybrid":
                fused = rrf({n: [c for c, _ in r] for n, r in results.items()}, self.rrf_k)[:k]
            else:
                fused = [(c, s, {mode: i}) for i, (c, s) in enumerate(results[mode][:k], 1)]
            return self._hydrate(fused)

    def _hydrate(self, fused: list[tuple[int, float, dict[str, int]]]) -> list[SearchHit]:
        rows = self.store.chunk_rows([c for c, _, _ in fused])
        hits = []
        for rank, (cid, score, ranks) in enumerate(fused, 1):
            r = rows.get(cid)
            if r is None:  # removed between the search and now: never return a stale chunk
                continue
            hits.append(
                SearchHit(
                    chunk_id=cid,
                    doc_id=r["doc_id"],
                    source=r["source"],
                    file_type=r["file_type"],
                    start=r["start"],
                    end=r["end"],
                    text=r["text"],
                    score=score,
                    rank=rank,
                    page=r["page"],
                    section=r["section"],
                    ranks=ranks,
                    ocr_confidence=r.get("ocr_confidence"),
                    page_breaks=r.get("page_breaks", []),
                    section_breaks=r.get("section_breaks", []),
                    ocr_by_page=r.get("ocr_by_page", {}),
                )
            )
        return hits


def _check_mode(mode: str) -> str:
    if mode not in MODES:
        raise QueryError(f"unknown retrieval mode {mode!r}: use one of {', '.join(MODES)}")
    return mode
