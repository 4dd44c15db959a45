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
from ..api import SPLITTER_VERSION, RagIndex
from ..config import Settings
from ..embeddings import Embedder
from .data import QAFormat, QASet, Split, load_qa, sample, split_items, write_documents
from .metrics import score_answer, summarise

Progress = Callable[[str, int, int], None]


def open_eval_index(
    qa: QASet,
    path: Path,
    settings: Settings,
    *,
    corpus: Path | None = None,
    work: Path | None = None,
    embedder: Embedder | None = None,
) -> tuple[RagIndex, Settings, float]:
    """The index a question set is asked of, brought up to date: its own documents, or the
    `corpus` folder, each in a scratch index keyed by the data (an evaluation never changes the
    user's index); a set with neither is asked of the index in the settings, read only.
    Returns the index, its settings and the seconds ingestion took."""
    if qa.documents or corpus is not None:
        key = str(Path(corpus if corpus is not None else path).resolve())
        digest = hashlib.sha256(key.encode()).hexdigest()[:8]
        name = qa.name if qa.documents else f"corpus-{Path(key).name}"
        # Keyed by the splitter too: an index cut by another one is refused, not reused.
        scratch = f"{name}-{digest}-{settings.chunk_tokens}-{SPLITTER_VERSION}"
        work = work or settings.cache_dir / "eval" / scratch
        folder = write_documents(qa.documents, work / "documents") if qa.documents else corpus
        index_settings = settings.model_copy(update={"index": work / "index"})
    else:
        folder, index_settings = None, settings
    idx = RagIndex.open(index_settings, embedder, create=folder is not None)
    t0 = time.perf_counter()
    if folder is not None:
        try:
            idx.ingest([folder], prune=True)
        except BaseException:
            idx.close()
            raise
    return idx, index_settings, time.perf_counter() - t0


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
    split: Split = "all",
) -> dict[str, Any]:
    qa = load_qa(path, fmt)
    items = sample(split_items(qa.items, split), limit, sample_seed)
    idx, index_settings, ingest_s = open_eval_index(
        qa, path, settings, corpus=corpus, work=work, embedder=embedder
    )
    try:
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
                row["confidence"] = round(answer.confidence, 4)
                rows.append(row)
                if progress:
                    progress(backend, i + 1, len(items))
            summary = summarise(rows, latencies)
            first = [r["first_token_ms"] for r in rows if r["first_token_ms"] is not None]
            if first:
                import numpy as np

                summary["first_token_ms_p50"] = round(float(np.percentile(first, 50)), 1)
            results[backend] = {"summary": summary, "rows": rows, "curve": gate_curve(rows)}
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
        "split": split,
        "sample_seed": sample_seed,
        "ingest_s": round(ingest_s, 1),
        "backends": list(backends),
        "results": {b: r["summary"] for b, r in results.items()},
        "rows": {b: r["rows"] for b, r in results.items()},
        "gate_curve": {b: r["curve"] for b, r in results.items()},
        "metrics": {f"{b}/{m}": v for b, r in results.items() for m, v in r["summary"].items()},
    }


def gate_curve(rows: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Refusal precision and recall, and the share of answerable questions answered, had the
    gate refused below each threshold: where to move `answer_threshold` for another balance.
    Empty when the set has no unanswerable questions or the backend reports no confidence."""
    bad = [r for r in rows if not r["answerable"]]
    good = [r for r in rows if r["answerable"]]
    if not bad or not good:
        return []
    out = []
    for t in [round(0.05 * i, 2) for i in range(1, 20)]:
        refused_bad = sum(r["confidence"] < t for r in bad)
        refused_good = sum(r["confidence"] < t for r in good)
        refused = refused_bad + refused_good
        out.append(
            {
                "threshold": t,
                "refusal_precision": round(refused_bad / refused, 4) if refused else 1.0,
                "refusal_recall": round(refused_bad / len(bad), 4),
                "answerable_answered": round(1 - refused_good / len(good), 4),
            }
        )
    return out


def curve_table(curve: list[dict[str, float]]) -> str:
    lines = [
        "| gate threshold | refusal precision | refusal recall | answerable answered |",
        "|---|---|---|---|",
    ]
    for row in curve:
        lines.append(
            f"| {row['threshold']:.2f} | {row['refusal_precision']:.3f} | "
            f"{row['refusal_recall']:.3f} | {row['answerable_answered']:.3f} |"
        )
    return "\n".join(lines)
