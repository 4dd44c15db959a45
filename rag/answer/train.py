"""Train the answer model (rag/answer/answer_model.json) from the shared data sets.

    .venv/bin/python -m rag.answer.train --squad ../shared/datasets/squad2-dev/dev-v2.0-part1.json \\
        --nq ../shared/datasets/nq-open-oracle/nq-open-oracle-part1.jsonl

Only the training split is read (rag.eval.data.is_heldout: about 30% of SQuAD articles and NQ
passage titles are held out); report figures with `rag eval answers --split heldout`.

1. Every training question is retrieved from its set's index, as `rag eval answers` does, and its
   candidate sentences get their features (features.py). A sentence is a positive when it
   contains a gold answer (SQuAD normalisation), the measure the evaluation uses.
2. Questions with no answer: SQuAD 2.0's unanswerable ones, and two kinds made here: questions
   asked of the wrong corpus (NQ questions of the SQuAD index and the reverse), and answerable
   questions whose name was swapped for a name from another article (the key entity is absent).
3. The sentence model ranks each question's candidates: gradient-boosted trees trained with
   LightGBM's LambdaRank (`--sentence trees`, the default; LightGBM is needed to train, not to
   answer: the trees are stored as arrays in the JSON file) or a logistic regression
   (`--sentence linear`, Newton's method, L2). Its predictions for each article come from a
   model fitted without that article (5 folds by article), so the gate, trained next on those
   predictions, sees scores like the ones it will meet on new questions. The trees' scores
   become probabilities through a sigmoid fitted on those out-of-fold scores.
4. The gate's threshold is chosen on its own out-of-fold predictions: the highest threshold that
   refuses at most `--target-refused` of each set's answerable questions (default: the answered
   shares issue 10 asks for, NQ-open 95% and SQuAD 2.0 90%). The runner-up ratio likewise:
   the one with the most answers containing gold while answers stay within 2 sentences on
   average. Both are written into the model file with the curves they come from.
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..eval.metrics import normalize
from .evidence import apply_model
from .extractive import ExtractiveAnswerer
from .features import GATE_FEATURES, SENTENCE_FEATURES
from .model import DEFAULT_PATH, AnswerModel, Linear, Scorer, Trees, sigmoid
from .train_data import Example, training_examples

# LambdaRank trees for the sentence model, chosen out of fold on the training articles among
# (15 leaves, 300 rounds), (31 leaves, 200 rounds, bagging) and binary log-loss trees
# (EVAL.md, "The answer model"). One thread and a fixed seed: the same data gives the same file.
TREE_PARAMS: dict[str, Any] = {
    "objective": "lambdarank",
    "num_leaves": 15,
    "learning_rate": 0.05,
    "min_data_in_leaf": 40,
    "lambda_l2": 1.0,
    "num_threads": 1,
    "seed": 0,
    "deterministic": True,
    "verbose": -1,
}
TREE_ROUNDS = 300
# The gate: binary log-loss trees, smaller (it learns from one row a question); out of fold on
# the training articles they refuse more wrong-corpus questions than the logistic gate (0.80
# against 0.64 at the same share of answerable questions refused).
GATE_PARAMS: dict[str, Any] = {
    **TREE_PARAMS,
    "objective": "binary",
    "num_leaves": 7,
    "min_data_in_leaf": 30,
}
GATE_ROUNDS = 200


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1.0, iters: int = 30) -> Linear:
    """L2-regularised logistic regression on standardised features, by Newton's method."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([(x - mean) / scale, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[-1] = 0.0  # the bias is not shrunk
    for _ in range(iters):
        p = sigmoid(z @ w)
        grad = z.T @ (p - y) + reg * w
        hess = (z * (p * (1 - p))[:, None]).T @ z + np.diag(reg + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-7:
            break
    if x.shape[1] == len(SENTENCE_FEATURES):
        names = tuple(SENTENCE_FEATURES)
    elif x.shape[1] == len(GATE_FEATURES):
        names = tuple(GATE_FEATURES)
    else:
        names = tuple(f"x{i}" for i in range(x.shape[1]))
    return Linear(names, mean, scale, w[:-1], float(w[-1]))


def folds(groups: list[str], k: int = 5) -> list[int]:
    names = sorted(set(groups))
    random.Random(0).shuffle(names)
    fold = {g: i % k for i, g in enumerate(names)}
    return [fold[g] for g in groups]


def fit_sentence(examples: list[Example], kind: str, l2: float) -> Scorer:
    """The sentence model fitted on the answerable `examples`; trees give raw scores (a=1, b=0)
    until calibrate() sets their sigmoid."""
    fit = [e for e in examples if e.answerable]
    x = np.vstack([e.evidence.rows for e in fit])
    y = np.concatenate([e.labels for e in fit])
    if kind == "linear":
        return fit_logistic(x, y, l2)
    import lightgbm

    data = lightgbm.Dataset(x, y, group=[len(e.labels) for e in fit])
    booster = lightgbm.train(TREE_PARAMS, data, TREE_ROUNDS)
    return Trees.from_lightgbm(booster.dump_model(), SENTENCE_FEATURES, 1.0, 0.0)


def fit_gate(x: np.ndarray, ok: np.ndarray, kind: str, l2: float) -> Scorer:
    if kind == "linear":
        return fit_logistic(x, ok.astype(float), l2)
    import lightgbm

    booster = lightgbm.train(GATE_PARAMS, lightgbm.Dataset(x, ok.astype(float)), GATE_ROUNDS)
    return Trees.from_lightgbm(booster.dump_model(), GATE_FEATURES, 1.0, 0.0)


def calibrate(trees: Trees, a: float, b: float) -> Trees:
    return dataclasses.replace(trees, a=a, b=b)


def oof_sentence_probs(
    train: list[Example], l2: float, kind: str = "linear"
) -> tuple[list[np.ndarray], tuple[float, float]]:
    """Each question's candidate probabilities from a model fitted without its article, and
    for trees the sigmoid (a, b) fitted on those out-of-fold scores ((1, 0) for linear)."""
    fold_of = folds([e.group for e in train])
    raw: list[np.ndarray] = [np.zeros(0)] * len(train)
    for k in range(5):
        model = fit_sentence([e for e, f in zip(train, fold_of, strict=True) if f != k], kind, l2)
        for i, (e, f) in enumerate(zip(train, fold_of, strict=True)):
            if f == k:
                rows = e.evidence.rows
                raw[i] = model.raw(rows) if isinstance(model, Trees) else model.prob(rows)
    a, b = 1.0, 0.0
    if kind != "linear":
        fit = [i for i, e in enumerate(train) if e.answerable]
        platt = fit_logistic(
            np.concatenate([raw[i] for i in fit])[:, None],
            np.concatenate([train[i].labels for i in fit]),
            0.0,
        )
        a = float(platt.coef[0] / platt.scale[0])
        b = float(platt.bias - a * platt.mean[0])
        raw = [sigmoid(a * r + b) for r in raw]
    probs = [apply_model(e.cands, e.evidence, p) for e, p in zip(train, raw, strict=True)]
    return probs, (a, b)


def choose_threshold(
    p: np.ndarray, ok: np.ndarray, target: float | dict[str, float], kinds: Sequence[str] = ()
) -> tuple[float, list[dict]]:
    """The highest threshold that refuses at most `target` of the answerable questions: of all
    of them (a number), or of each kind named (kind -> share, `kinds` giving each question's)."""
    targets = target if isinstance(target, dict) else {"": target}
    kind = np.array(kinds) if len(kinds) else np.full(len(p), "")
    curve = []
    for t in np.round(np.arange(0.02, 0.99, 0.01), 2):
        refused = p < t
        row = {
            "threshold": float(t),
            "answerable_refused": round(float(refused[ok].mean()), 4),
            "unanswerable_refused": round(float(refused[~ok].mean()), 4),
            "refusal_precision": round(float((~ok[refused]).mean()), 4) if refused.any() else 1,
        }
        for k in targets:
            if k:
                row[f"{k}_answerable_refused"] = round(float(refused[ok & (kind == k)].mean()), 4)
        curve.append(row)
    fine = [
        c
        for c in curve
        if all(c[f"{k}_answerable_refused" if k else "answerable_refused"] <= v
               for k, v in targets.items())
    ]  # fmt: skip
    return (max(c["threshold"] for c in fine) if fine else 0.02), curve


def parse_targets(text: str) -> float | dict[str, float]:
    """ "0.08" (of all answerable questions) or "nq=0.05,squad=0.10" (of each set's)."""
    if "=" not in text:
        return float(text)
    return {k.strip(): float(v) for k, v in (part.split("=") for part in text.split(","))}


def choose_keep_ratio(
    train: list[Example], gate: np.ndarray, threshold: float
) -> tuple[float, list]:
    sweep = []
    for ratio in (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0):
        sel = _Selector(ratio)
        contains, sentences, n, answered = 0, 0, 0, 0
        for e, g in zip(train, gate, strict=True):
            if not e.answerable or e.kind not in ("squad", "nq"):
                continue
            n += 1
            chosen = sel.select(e.question, e.cands, g) if g >= threshold else []
            text = normalize(" ".join(c.text for c in chosen))
            contains += bool(chosen) and any(normalize(a) in text for a in e.answers if a.strip())
            sentences += len(chosen)
            answered += bool(chosen)
        sweep.append(
            {
                "keep_ratio": ratio,
                "contains_gold": round(contains / max(n, 1), 4),
                "sentences_per_answer": round(sentences / max(answered, 1), 3),
            }
        )
    fine = [s for s in sweep if s["sentences_per_answer"] <= 2.0] or sweep[-1:]
    return max(fine, key=lambda s: s["contains_gold"])["keep_ratio"], sweep


class _Selector(ExtractiveAnswerer):
    """The extractive answerer's selection alone, with a given runner-up ratio."""

    def __init__(self, keep_ratio: float) -> None:
        self.threshold, self.max_sentences, self.keep_ratio = 0.0, 3, keep_ratio


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--squad", type=Path, required=True)
    ap.add_argument("--nq", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=DEFAULT_PATH)
    ap.add_argument("--squad-questions", type=int, default=3000, help="training sample")
    ap.add_argument("--nq-questions", type=int, default=None, help="training sample")
    ap.add_argument("--synthetic", type=int, default=400, help="of each made-up unanswerable kind")
    ap.add_argument(
        "--target-refused",
        type=parse_targets,
        default="nq=0.05,squad=0.10",
        help="share of answerable questions the gate may refuse: 0.08, or per set",
    )
    ap.add_argument("--l2", type=float, default=1.0)
    ap.add_argument("--sentence", choices=("trees", "linear"), default="trees")
    ap.add_argument("--gate", choices=("trees", "linear"), default="trees")
    ap.add_argument(
        "--embed-cache", type=Path, default=None, help="an .npz of sentence vectors, reused"
    )
    ap.add_argument(
        "--encoder",
        type=Path,
        default=None,
        help="the answer encoder's tuned layers (rag.answer.train_encoder's --out): the model's "
        "similarities come from it; default: the retrieval embedder's",
    )
    ap.add_argument(
        "--encoder-folds",
        type=Path,
        default=None,
        help="the folder of half-0/half-1.safetensors (train_encoder's --folds-dir), needed "
        "with --encoder: training questions are scored by the half that never saw them",
    )
    args = ap.parse_args(argv)
    encoders = None
    if args.encoder is not None:
        if args.encoder_folds is None:
            ap.error("--encoder needs --encoder-folds (the trees must not learn on similarities "
                     "the encoder was tuned on)")  # fmt: skip
        from ..config import Settings
        from .train_data import Encoders

        encoders = Encoders.load(args.encoder, args.encoder_folds, Settings(**{}).cache_dir)
    t0 = time.perf_counter()
    train, fingerprint = training_examples(
        args.squad, args.nq, args.squad_questions, args.nq_questions, args.synthetic,
        args.embed_cache, encoders,
    )  # fmt: skip
    collect_s = time.perf_counter() - t0
    model = train_model(train, args.target_refused, args.l2, args.sentence, args.gate)
    model.meta.update(
        command="python -m rag.answer.train " + " ".join(sys.argv[1:] if argv is None else argv),
        collect_s=round(collect_s),
        embedding_model=fingerprint,
    )
    if args.encoder is not None:
        from ..onnx_embed import file_sha256

        model = dataclasses.replace(
            model, encoder=args.encoder.resolve(), encoder_sha256=file_sha256(args.encoder)
        )
        sets = sorted(encoders.tuned_on) if encoders else []
        model.meta["answer_encoder"] = {
            "file": args.encoder.name,
            "tuned_on": sets,
            "folds": f"half-0/half-1: each training question of {' and '.join(sets)} scored by "
            "the encoder tuned without its article or title",
        }
    model.save(args.out)
    print(f"wrote {args.out}: threshold {model.threshold}, keep_ratio {model.keep_ratio}")


def train_model(
    train: list[Example],
    target: float | dict[str, float],
    l2: float,
    sentence_kind: str = "trees",
    gate_kind: str = "trees",
) -> AnswerModel:
    probs, (a, b) = oof_sentence_probs(train, l2, sentence_kind)
    gx = np.vstack([e.evidence.gate_x(p) for e, p in zip(train, probs, strict=True)])
    ok = np.array([e.answerable for e in train])
    fold_of = folds([e.group for e in train])
    gate_oof = np.zeros(len(train))
    for k in range(5):
        m = np.array(fold_of) != k
        gate_oof[~m] = fit_gate(gx[m], ok[m], gate_kind, l2).prob(gx[~m])
    threshold, curve = choose_threshold(gate_oof, ok, target, [e.kind for e in train])
    keep_ratio, sweep = choose_keep_ratio(train, gate_oof, threshold)
    sentence = fit_sentence(train, sentence_kind, l2)
    if isinstance(sentence, Trees):
        sentence = calibrate(sentence, a, b)
    gate = fit_gate(gx, ok, gate_kind, l2)
    by_kind = {}
    for kind in sorted({e.kind for e in train}):
        sel = np.array([e.kind == kind for e in train])
        by_kind[kind] = {
            "questions": int(sel.sum()),
            "answerable": int((sel & ok).sum()),
            "refused_at_threshold": round(float((gate_oof[sel] < threshold).mean()), 4),
        }
    top1 = [
        float(e.labels[int(np.argmax(p))] > 0)
        for e, p in zip(train, probs, strict=True)
        if e.answerable and e.labels.any()
    ]
    meta = {
        "trained_on": by_kind,
        "target": "at most "
        + (
            ", ".join(f"{v:.0%} of {k} answerable" for k, v in target.items())
            if isinstance(target, dict)
            else f"{target:.0%} of answerable"
        )
        + " training questions refused (out of fold)",
        "oof_top1_sentence_contains_gold": round(float(np.mean(top1)), 4),
        "gate_curve_oof": curve,
        "keep_ratio_sweep_oof": sweep,
        "l2": l2,
        "sentence_model": sentence_kind,
        "gate_model": gate_kind,
    }
    if isinstance(sentence, Trees):
        meta["trees"] = {"params": TREE_PARAMS, "rounds": TREE_ROUNDS, "sigmoid": [a, b]}
    if isinstance(gate, Trees):
        meta["gate_trees"] = {"params": GATE_PARAMS, "rounds": GATE_ROUNDS}
    return AnswerModel(sentence, gate, threshold, keep_ratio, meta)


if __name__ == "__main__":
    main()
