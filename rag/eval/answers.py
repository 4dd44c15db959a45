"""Answer quality on a question set, for one or more answer backends.

The set's documents (SQuAD paragraphs, NQ gold passages) are written one file each and ingested
into a cached index; a set without documents (the seed format, or one made by `rag eval
generate`) is asked of a folder given as `corpus`, or of the index in the settings. Each question
is retrieved once and every backend answers from the same hits, so differences are the backends'.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..answer import make_answerer
from ..api import RagIndex
from ..config import Settings
from ..embeddings import Embedder
from .data import QAFormat, load_qa, sample, write_documents
from .metrics import score_answer, summarise

Progress = Callable[[str, int, int], None]


def eval_answers(
    path: Path,
    settings: Settings,
    *,
    backends: tuple[str, ...] = ("extractive",),
    fmt: QAFormat | None = None,
    limit: int | None = None,
    sample_seed: int = 0,
    corpus: Path | None = None,
    work: Path | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    qa = load_qa(path, fmt)
    items = sample(qa.items, limit, sample_seed)
    if qa.documents:
        digest = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:8]
        work = work or settings.cache_dir / "eval" / f"{qa.name}-{digest}-{settings.chunk_tokens}"
        folder: Path | None = write_documents(qa.documents, work / "documents")
        index_settings = settings.model_copy(update={"index": work / "index"})
    else:
        folder = corpus
        index_settings = settings
    idx = RagIndex.open(index_settings, embedder, create=folder is not None)
    try:
        ingest_s = 0.0
        if folder is not None:
            t0 = time.perf_counter()
            idx.ingest([folder], prune=qa.documents != {})
            ingest_s = time.perf_counter() - t0
        hits, retrieve_ms = [], []
        for i, item in enumerate(items):
            t = time.perf_counter()
            hits.append(idx.search(item.question))
            retrieve_ms.append((time.perf_counter() - t) * 1000)
            if progress:
                progress("retrieve", i + 1, len(items))
        results: dict[str, Any] = {}
        for backend in backends:
            answerer = make_answerer(
                index_settings.model_copy(update={"backend": backend}),
                idx.embedder,
                idx.store.term_counts,
            )
            rows, latencies = [], []
            for i, (item, h) in enumerate(zip(items, hits, strict=True)):
                t = time.perf_counter()
                answer = answerer.answer(item.question, h)
                ms = (time.perf_counter() - t) * 1000 + retrieve_ms[i]
                latencies.append(ms)
                row = score_answer(item, answer, [x.source for x in h])
                row["latency_ms"] = round(ms, 1)
                row["first_token_ms"] = answer.timings_ms.get("first_token")
                row["answer"] = answer.render()
                rows.append(row)
                if progress:
                    progress(backend, i + 1, len(items))
            summary = summarise(rows, latencies)
            first = [r["first_token_ms"] for r in rows if r["first_token_ms"] is not None]
            if first:
                import numpy as np

                summary["first_token_ms_p50"] = round(float(np.percentile(first, 50)), 1)
            results[backend] = {"summary": summary, "rows": rows}
    finally:
        idx.close()
    return {
        "kind": "answers",
        "dataset": qa.name,
        "format": qa.format,
        "questions": len(items),
        "answerable": sum(i.answerable for i in items),
        "documents": len(qa.documents) or None,
        "limit": limit,
        "sample_seed": sample_seed,
        "ingest_s": round(ingest_s, 1),
        "backends": list(backends),
        "results": {b: r["summary"] for b, r in results.items()},
        "rows": {b: r["rows"] for b, r in results.items()},
        "metrics": {f"{b}/{m}": v for b, r in results.items() for m, v in r["summary"].items()},
    }
