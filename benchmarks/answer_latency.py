"""Time the extractive answerer alone (retrieval excluded) on held-out SQuAD 2.0 questions.

    .venv/bin/python benchmarks/answer_latency.py [--questions 200] [--label after]

Each question is retrieved first (not timed), then answered; the script reports the median and
p95 of the answer step and, within it, of the embedding call (the question and the candidate
sentences, which every version of the answerer makes: by the embedding model, or by the answer
model's own encoder where it has one). Run it from another checkout of rag (cd
there; it imports the rag it finds first) with another --label to compare versions on the same
questions: the difference of the medians is the latency a change adds. Results go to
benchmarks/results/answer_latency-<label>.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path.cwd()))  # the rag of the checkout this is run from

from rag.api import RagIndex
from rag.config import Settings
from rag.eval.data import load_qa, sample, write_documents

DATASETS = Path(__file__).resolve().parent.parent.parent / "shared" / "datasets"


class TimedEmbedder:
    """Wraps an embedder and adds up the time spent in `embed`."""

    def __init__(self, inner):  # type: ignore[no-untyped-def]
        self.inner = inner
        self.spent = 0.0

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)

    def embed(self, texts, progress=None):  # type: ignore[no-untyped-def]
        t = time.perf_counter()
        try:
            return self.inner.embed(texts)
        finally:
            self.spent += time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=200)
    ap.add_argument("--label", default="after")
    ap.add_argument("--work", type=Path, default=Path("/tmp/rag-answer-latency"))
    args = ap.parse_args()
    path = DATASETS / "squad2-dev" / "dev-v2.0-part1.json"
    qa = load_qa(path)
    from rag.eval.data import is_heldout  # the held-out split (absent in older checkouts)

    items = sample([i for i in qa.items if is_heldout(i.group)], args.questions, 0)
    write_documents(qa.documents, args.work / "documents")
    idx = RagIndex.open(Settings(index=args.work / "index"))
    try:
        idx.ingest([args.work / "documents"])
        hits = [idx.search(i.question) for i in items]
        timed = TimedEmbedder(idx.embedder)
        from rag.answer import make_answerer

        answerer = make_answerer(idx.settings, timed, idx.store.term_counts)  # type: ignore[arg-type]
        # The answer model's own encoder (absent in older checkouts and models) embeds instead.
        timers = [timed]
        if getattr(answerer, "encoder", None) is not None:
            answerer.encoder = TimedEmbedder(answerer.encoder)  # type: ignore[attr-defined]
            timers.append(answerer.encoder)  # type: ignore[attr-defined]
        answerer.answer(items[0].question, hits[0])  # loads the model file, warms the caches
        total, embed = [], []
        for item, h in zip(items, hits, strict=True):
            for timer in timers:
                timer.spent = 0.0
            t = time.perf_counter()
            answerer.answer(item.question, h)
            total.append((time.perf_counter() - t) * 1000)
            embed.append(sum(timer.spent for timer in timers) * 1000)
    finally:
        idx.close()
    rest = [t - e for t, e in zip(total, embed, strict=True)]
    result = {
        "label": args.label,
        "questions": len(items),
        "answer_ms_p50": round(float(np.median(total)), 1),
        "answer_ms_p95": round(float(np.percentile(total, 95)), 1),
        "embed_ms_p50": round(float(np.median(embed)), 1),
        "other_ms_p50": round(float(np.median(rest)), 1),
        "other_ms_p95": round(float(np.percentile(rest, 95)), 1),
    }
    out = Path(__file__).resolve().parent / "results" / f"answer_latency-{args.label}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
