"""Retrieval quality on a BEIR folder: nDCG@10, MRR@10, recall@1/5/10/100 for each mode.

Documents are written one file each and ingested like a user's folder (into a cached index, so
a second run only checks hashes). Chunks are ranked, and each document takes the rank of its
best chunk. Metrics come from ranx. `whole_documents` adds the published MTEB protocol for a
dense model (title + text embedded as one input, truncated by the model, exact cosine search):
on the full SciFact test set it must give all-MiniLM-L6-v2's published 0.645, the check that the
metric code and data handling are right.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ..api import SPLITTER_VERSION, RagIndex
from ..config import Settings
from ..embeddings import Embedder
from .data import BeirSet, beir_documents, beir_file_name, load_beir, sample, write_documents

METRICS = ["ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10", "recall@100"]
MODES = ("dense", "keyword", "hybrid")
WHOLE = "dense, whole documents (MTEB protocol)"
PUBLISHED = {  # ../shared/datasets/README.md
    "scifact": {
        "BM25 (BEIR paper)": 0.665,
        "BM25 (MTEB, bm25s)": 0.687,
        "all-MiniLM-L6-v2 (MTEB)": 0.645,
        "BM25 + MiniLM cross-encoder (BEIR paper)": 0.688,
    }
}

Progress = Callable[[str, int, int], None]


def eval_retrieval(
    folder: Path,
    settings: Settings,
    *,
    modes: tuple[str, ...] = MODES,
    limit: int | None = None,
    corpus_limit: int | None = None,
    sample_seed: int = 0,
    whole_documents: bool = False,
    work: Path | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    data = load_beir(folder)
    qids = sample(sorted(data.queries), limit, sample_seed)
    doc_ids = _corpus_subset(data, qids, corpus_limit, sample_seed)
    work = work or settings.cache_dir / "eval" / _work_name(data.name, settings, doc_ids, data)
    write_documents(beir_documents(data, doc_ids), work / "documents")
    idx = RagIndex.open(settings.model_copy(update={"index": work / "index"}), embedder)
    try:
        t0 = time.perf_counter()
        idx.ingest([work / "documents"], prune=True)
        ingest_s = time.perf_counter() - t0
        name_to_id = {beir_file_name(d): d for d in doc_ids}
        runs: dict[str, dict[str, dict[str, float]]] = {}
        latency: dict[str, list[float]] = {}
        for mode in modes:
            runs[mode], latency[mode] = {}, []
            for i, q in enumerate(qids):
                t = time.perf_counter()
                hits = idx.search(data.queries[q], settings.candidates, mode=mode)
                latency[mode].append((time.perf_counter() - t) * 1000)
                runs[mode][q] = _doc_run([Path(h.source).name for h in hits], name_to_id)
                if progress:
                    progress(mode, i + 1, len(qids))
        if whole_documents:
            runs[WHOLE] = _whole_documents(idx.embedder, data, qids, doc_ids, progress)
        chunks = idx.store.counts().get("chunks", 0)
    finally:
        idx.close()
    table = score_runs(runs, {q: data.qrels[q] for q in qids})
    for mode, values in latency.items():
        if values:
            table[mode]["latency_ms_p50"] = round(float(np.percentile(values, 50)), 2)
            table[mode]["latency_ms_p95"] = round(float(np.percentile(values, 95)), 2)
    return {
        "kind": "retrieval",
        "dataset": data.name,
        "queries": len(qids),
        "documents": len(doc_ids),
        "documents_in_corpus": len(data.corpus),
        "chunks": chunks,
        "limit": limit,
        "corpus_limit": corpus_limit,
        "sample_seed": sample_seed,
        "ingest_s": round(ingest_s, 1),
        "results": table,
        "latency_samples_ms": {m: [round(x, 2) for x in v] for m, v in latency.items() if v},
        "published_ndcg@10": PUBLISHED.get(data.name, {}),
        "metrics": {f"{run}/{m}": v for run, row in table.items() for m, v in row.items()},
    }


def score_runs(
    runs: dict[str, dict[str, dict[str, float]]], qrels: dict[str, dict[str, int]]
) -> dict[str, dict[str, float]]:
    """ranx's metrics for each run (a query with no results scores zero)."""
    from ranx import Qrels, Run, evaluate

    out = {}
    for name, run in runs.items():
        filled = {q: (run.get(q) or {"__none__": 0.0}) for q in qrels}
        scores = evaluate(Qrels(qrels), Run(filled), METRICS, make_comparable=True)
        out[name] = {m: round(float(v), 4) for m, v in scores.items()}
    return out


def _doc_run(sources: list[str], name_to_id: dict[str, str], depth: int = 100) -> dict[str, float]:
    """Documents ranked by their best chunk; scores fall with rank."""
    out: dict[str, float] = {}
    for name in sources:
        did = name_to_id.get(name)
        if did is not None and did not in out:
            out[did] = float(depth + 1 - len(out))
            if len(out) == depth:
                break
    return out


def _whole_documents(
    embedder: Embedder,
    data: BeirSet,
    qids: list[str],
    doc_ids: list[str],
    progress: Progress | None,
) -> dict[str, dict[str, float]]:
    texts = [f"{data.corpus[d]['title']} {data.corpus[d]['text']}".strip() for d in doc_ids]
    if progress:
        progress(WHOLE, 0, len(qids))
    dvecs = embedder.embed(texts)  # the model truncates each input to what it reads
    qvecs = embedder.embed([data.queries[q] for q in qids])
    run: dict[str, dict[str, float]] = {}
    for q, qv in zip(qids, qvecs, strict=True):
        sims = dvecs @ qv
        top = np.argsort(-sims)[:100]
        run[q] = {doc_ids[i]: float(sims[i]) for i in top}
    if progress:
        progress(WHOLE, len(qids), len(qids))
    return run


def _corpus_subset(
    data: BeirSet, qids: list[str], corpus_limit: int | None, seed: int
) -> list[str]:
    """All documents, or the judged documents of the chosen queries plus random others."""
    if corpus_limit is None or corpus_limit >= len(data.corpus):
        return sorted(data.corpus)
    judged = sorted({d for q in qids for d in data.qrels[q] if d in data.corpus})
    others = sorted(set(data.corpus) - set(judged))
    extra = max(0, corpus_limit - len(judged))
    return sorted(judged + random.Random(seed).sample(others, min(extra, len(others))))


def _work_name(name: str, settings: Settings, doc_ids: list[str], data: BeirSet) -> str:
    scope = "all" if len(doc_ids) == len(data.corpus) else f"{len(doc_ids)}docs"
    model = (settings.model_path.name if settings.model_path else "minilm").replace("/", "_")
    chunking = f"{settings.chunk_tokens}-{settings.chunk_overlap}-{SPLITTER_VERSION}"
    return f"{name}-{scope}-{model}-{chunking}"  # a new splitter gets a new index, not a refusal
