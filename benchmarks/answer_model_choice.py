"""Which learner for the answer model (EVAL.md, "The answer model"): logistic regression or
gradient-boosted trees, for the sentence model and for the gate, compared out of fold on the
training articles only (5 folds by article, as rag.answer.train chooses its threshold). The
held-out articles are never read here.

- sentence: of the answerable questions whose retrieved passages hold a gold answer, the share
  whose best-scored sentence contains one (per set: SQuAD 2.0, NQ-open).
- gate: with the threshold that refuses at most 5% of NQ's and 10% of SQuAD's answerable
  questions (the shipped target),
  the share refused of each kind of question: answerable ones, SQuAD 2.0's unanswerable ones,
  questions asked of the wrong corpus, questions with a name swapped.

    .venv/bin/python benchmarks/answer_model_choice.py     # about 15 minutes on 2 cores
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import numpy as np
from common import DATASETS, RESULTS, ROOT  # type: ignore[import-not-found]

sys.path.insert(0, str(ROOT))

from rag.answer import train as T
from rag.answer.evidence import apply_model
from rag.answer.train_data import training_examples

BINARY = {
    "objective": "binary",
    "num_leaves": 31,
    "feature_fraction": 0.8,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
}
SENTENCE_MODELS: dict[str, tuple[str, dict[str, Any], int]] = {
    "logistic": ("linear", {}, 0),
    "trees, log-loss (31 leaves, 200 rounds, bagging)": ("trees", BINARY, 200),
    "trees, LambdaRank (15 leaves, 300 rounds; shipped)": ("trees", {}, T.TREE_ROUNDS),
}


TARGET = T.parse_targets("nq=0.05,squad=0.10")  # rag.answer.train's default


def collect() -> list[T.Example]:
    """The training examples exactly as rag.answer.train collects them (default arguments)."""
    return training_examples(
        DATASETS / "squad2-dev" / "dev-v2.0-part1.json",
        DATASETS / "nq-open-oracle" / "nq-open-oracle-part1.jsonl",
    )[0]


def sentence_probs(train: list[T.Example], kind: str, params: dict, rounds: int) -> list:
    saved = dict(T.TREE_PARAMS), T.TREE_ROUNDS
    T.TREE_PARAMS.update(params)
    T.TREE_ROUNDS = rounds or T.TREE_ROUNDS
    try:
        probs, _ = T.oof_sentence_probs(train, 1.0, kind)
    finally:
        T.TREE_PARAMS.clear()
        T.TREE_PARAMS.update(saved[0])
        T.TREE_ROUNDS = saved[1]
    return probs


def top1(train: list[T.Example], probs: list) -> dict[str, float]:
    hits: dict[str, list[float]] = {}
    for e, p in zip(train, probs, strict=True):
        if e.answerable and e.labels.any():
            p = apply_model(e.cands, e.evidence, p)
            hits.setdefault(e.kind, []).append(float(e.labels[int(np.argmax(p))] > 0))
    return {k: round(float(np.mean(v)), 4) for k, v in hits.items()}


def gate_refusals(train: list[T.Example], probs: list, kind: str) -> dict[str, float]:
    gx = np.vstack([e.evidence.gate_x(p) for e, p in zip(train, probs, strict=True)])
    ok = np.array([e.answerable for e in train])
    fold = np.array(T.folds([e.group for e in train]))
    g = np.zeros(len(train))
    for k in range(5):
        m = fold != k
        g[~m] = T.fit_gate(gx[m], ok[m], kind, 1.0).prob(gx[~m])
    threshold, _ = T.choose_threshold(g, ok, TARGET, [e.kind for e in train])
    kinds = np.array([e.kind if e.answerable or e.kind != "squad" else "squad-unanswerable"
                      for e in train])  # fmt: skip
    out = {"threshold": threshold}
    for name in ("nq", "squad"):
        sel = ok & np.array([e.kind == name for e in train])
        out[f"{name}-answerable"] = round(float((g[sel] < threshold).mean()), 4)
    for name in ("squad-unanswerable", "wrong-corpus", "swapped"):
        out[name] = round(float((g[kinds == name] < threshold).mean()), 4)
    return out


def main() -> None:
    t0 = time.perf_counter()
    train = collect()
    print(f"collected {len(train)} questions in {time.perf_counter() - t0:.0f} s", flush=True)
    sentence: dict[str, dict[str, float]] = {}
    shipped: list = []
    for name, (kind, params, rounds) in SENTENCE_MODELS.items():
        probs = sentence_probs(train, kind, params, rounds)
        sentence[name] = top1(train, probs)
        print(name, sentence[name], flush=True)
        shipped = probs
    gate = {kind: gate_refusals(train, shipped, kind) for kind in ("linear", "trees")}
    print(gate)
    result = {
        "questions": len(train),
        "sentence_top1_contains_gold_oof": sentence,
        "gate_refused_oof_at_8pct": gate,
        "gate_on": "the shipped sentence model's out-of-fold probabilities",
        "seconds": round(time.perf_counter() - t0),
    }
    out = RESULTS / "answer_model_choice.json"
    RESULTS.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
