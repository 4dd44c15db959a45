"""Calibrate the extractive answerer's refusal threshold on SQuAD 2.0 (answerable vs not).

    .venv/bin/python benchmarks/calibrate_refusal.py [--questions 600] [--seed 0]

All paragraphs of ../shared/datasets/squad2-dev/dev-v2.0-part1.json are indexed, one file each.
A stratified sample of questions (half answerable, half not) is asked with the threshold at 0,
so every question gets its best evidence score. For each threshold the script reports refusal
precision (refused questions that were unanswerable), refusal recall (unanswerable questions
refused), the share of answerable questions still answered, and the share of those answers
that contain a gold answer and cite the gold paragraph. The threshold with the best balanced
accuracy is the recommendation.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np
from common import DATASETS, machine, save

from rag.api import RagIndex
from rag.config import Settings
from rag.eval.metrics import normalize


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    data = json.loads((DATASETS / "squad2-dev" / "dev-v2.0-part1.json").read_text())["data"]
    work = Path(tempfile.mkdtemp(prefix="rag-squad-"))
    files = work / "paragraphs"
    files.mkdir()
    answerable, impossible = [], []
    for a, article in enumerate(data):
        for p, para in enumerate(article["paragraphs"]):
            name = f"{a:02d}_{p:03d}.txt"
            (files / name).write_text(para["context"])
            for qa in para["qas"]:
                item = {
                    "q": qa["question"],
                    "file": name,
                    "answers": [x["text"] for x in qa["answers"]],
                }
                (impossible if qa["is_impossible"] else answerable).append(item)
    rng = random.Random(args.seed)
    half = args.questions // 2
    sample = [(x, True) for x in rng.sample(answerable, half)] + [
        (x, False) for x in rng.sample(impossible, half)
    ]

    settings = Settings(index=work / "index", answer_threshold=0.0)
    t0 = time.perf_counter()
    idx = RagIndex.open(settings)
    idx.ingest([files])
    ingest_s = time.perf_counter() - t0

    rows = []
    t0 = time.perf_counter()
    for item, ok in sample:
        ans = idx.ask(item["q"])
        text = normalize(ans.text)
        contains = any(normalize(g) in text for g in item["answers"]) if ok else False
        cites_gold = any(Path(c.source).name == item["file"] for c in ans.citations)
        rows.append((ans.confidence, ok, contains, cites_gold))
    ask_s = time.perf_counter() - t0

    conf = np.array([r[0] for r in rows])
    ok = np.array([r[1] for r in rows])
    contains = np.array([r[2] for r in rows])
    gold = np.array([r[3] for r in rows])
    table = []
    for t in np.round(np.arange(0.20, 0.76, 0.025), 3):
        refused = conf < t
        tp = int((refused & ~ok).sum())
        prec = tp / max(int(refused.sum()), 1)
        rec = tp / max(int((~ok).sum()), 1)
        kept = ok & ~refused
        table.append(
            {
                "threshold": float(t),
                "refusal_precision": round(prec, 3),
                "refusal_recall": round(rec, 3),
                "answerable_answered": round(float(kept.sum() / ok.sum()), 3),
                "balanced_accuracy": round(float((rec + kept.sum() / ok.sum()) / 2), 3),
                "answered_contains_gold": round(
                    float(contains[kept].mean()) if kept.any() else 0, 3
                ),
                "answered_cites_gold_paragraph": round(
                    float(gold[kept].mean()) if kept.any() else 0, 3
                ),
            }
        )
    best = max(table, key=lambda r: r["balanced_accuracy"])
    result = {
        "dataset": "squad2-dev part1",
        "questions": len(rows),
        "answerable": int(ok.sum()),
        "seed": args.seed,
        "paragraphs": sum(len(a["paragraphs"]) for a in data),
        "ingest_s": round(ingest_s, 1),
        "ask_ms_mean": round(1000 * ask_s / len(rows), 1),
        "all_answered": {
            "contains_gold": round(float(contains[ok].mean()), 3),
            "cites_gold_paragraph": round(float(gold[ok].mean()), 3),
        },
        "recommended": best,
        "table": table,
        "machine": machine(),
    }
    print(save("refusal_squad2", result))
    print(json.dumps({k: v for k, v in result.items() if k not in ("table", "machine")}, indent=1))
    for r in table:
        print(r)


if __name__ == "__main__":
    main()
