"""The learned answer model, stored as plain JSON and evaluated with numpy.

- `sentence`: the probability that a candidate sentence answers the question (SENTENCE_FEATURES):
  gradient-boosted trees (LightGBM's LambdaRank, trained by rag.answer.train) whose summed
  leaf values a fitted sigmoid turns into a probability, or a logistic regression.
- `gate`: the probability that the best evidence answers the question at all (GATE_FEATURES);
  below `threshold` the answer is a refusal. The threshold was chosen for a stated target on
  predictions for questions the model was not trained on, and is recorded in the file with the
  curve it was chosen from.

The file is data, not code: no pickle, a format line checked on load. `python -m
rag.answer.train` writes it from the shared data sets (see that module for the command).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ConfigError
from .features import GATE_FEATURES, SENTENCE_FEATURES

FORMAT = "rag-answer-model v2"
_READS = ("rag-answer-model v1", FORMAT)  # v1: a logistic regression for both parts
DEFAULT_PATH = Path(__file__).with_name("answer_model.json")


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))


@dataclass(frozen=True)
class Linear:
    """Logistic regression on standardised features."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    bias: float

    def prob(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(((np.atleast_2d(x) - self.mean) / self.scale) @ self.coef + self.bias)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "linear",
            "features": list(self.features),
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "coef": [round(float(v), 6) for v in self.coef],
            "bias": round(float(self.bias), 6),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], expected: tuple[str, ...]) -> Linear:
        _check_features(data, expected)
        arrays = [np.asarray(data[k], dtype=float) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(expected),) for a in arrays):
            raise ConfigError("the answer model's weights do not match its feature list")
        return cls(expected, arrays[0], arrays[1], arrays[2], float(data["bias"]))


@dataclass(frozen=True, eq=False)
class Trees:
    """Gradient-boosted regression trees, every tree's nodes in flat arrays: a node with
    feature -1 is a leaf holding `value`; any other sends a row left when its feature is <=
    `threshold` (LightGBM's numerical split; the features here are never missing). The trees'
    summed values s become a probability 1 / (1 + exp(-(a s + b))), a and b fitted on scores of
    questions the trees were not trained on."""

    features: tuple[str, ...]
    feature: np.ndarray  # int, per node
    threshold: np.ndarray
    left: np.ndarray  # int, per node
    right: np.ndarray
    value: np.ndarray
    roots: np.ndarray  # int, the first node of each tree
    depth: int  # the longest path from a root to a leaf
    a: float
    b: float

    def raw(self, x: np.ndarray) -> np.ndarray:
        x = np.atleast_2d(np.asarray(x, dtype=float))
        rows = np.arange(len(x))[:, None]
        node = np.broadcast_to(self.roots, (len(x), len(self.roots))).copy()
        for _ in range(self.depth):
            f = self.feature[node]
            inner = f >= 0
            if not inner.any():
                break
            left = x[rows, np.where(inner, f, 0)] <= self.threshold[node]
            node = np.where(inner, np.where(left, self.left[node], self.right[node]), node)
        return self.value[node].sum(axis=1)

    def prob(self, x: np.ndarray) -> np.ndarray:
        return sigmoid(self.a * self.raw(x) + self.b)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "trees",
            "features": list(self.features),
            "feature": self.feature.tolist(),
            "threshold": [float(v) for v in self.threshold],  # exact: a split must not move
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "value": [float(f"{v:.7g}") for v in self.value],
            "roots": self.roots.tolist(),
            "depth": self.depth,
            "a": self.a,
            "b": self.b,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], expected: tuple[str, ...]) -> Trees:
        _check_features(data, expected)
        ints = [np.asarray(data[k], dtype=np.int64) for k in ("feature", "left", "right")]
        floats = [np.asarray(data[k], dtype=float) for k in ("threshold", "value")]
        roots = np.asarray(data["roots"], dtype=np.int64)
        n = len(ints[0])
        inner = ints[0] >= 0
        if (
            any(len(a) != n for a in [*ints, *floats])
            or ints[0].max(initial=-1) >= len(expected)
            or (roots < 0).any()
            or (roots >= n).any()
            or ((ints[1][inner] <= 0) | (ints[1][inner] >= n)).any()
            or ((ints[2][inner] <= 0) | (ints[2][inner] >= n)).any()
        ):
            raise ConfigError("the answer model's trees are malformed; retrain it")
        return cls(
            expected, ints[0], floats[0], ints[1], ints[2], floats[1], roots,
            int(data["depth"]), float(data["a"]), float(data["b"]),
        )  # fmt: skip

    @classmethod
    def from_lightgbm(
        cls, dump: dict[str, Any], features: tuple[str, ...], a: float, b: float
    ) -> Trees:
        """From LightGBM's `Booster.dump_model()`."""
        feature: list[int] = []
        threshold: list[float] = []
        left: list[int] = []
        right: list[int] = []
        value: list[float] = []
        roots: list[int] = []
        depth = 0

        def add(node: dict[str, Any], level: int) -> int:
            nonlocal depth
            i = len(feature)
            feature.append(-1)
            threshold.append(0.0)
            left.append(-1)
            right.append(-1)
            value.append(0.0)
            if "leaf_value" in node:
                value[i] = float(node["leaf_value"])
                depth = max(depth, level)
                return i
            if node.get("decision_type", "<=") != "<=":
                raise ValueError(f"unsupported split {node.get('decision_type')!r}")
            feature[i], threshold[i] = int(node["split_feature"]), float(node["threshold"])
            left[i] = add(node["left_child"], level + 1)
            right[i] = add(node["right_child"], level + 1)
            return i

        for tree in dump["tree_info"]:
            roots.append(add(tree["tree_structure"], 0))
        return cls(
            features, np.array(feature), np.array(threshold), np.array(left), np.array(right),
            np.array(value), np.array(roots), depth, float(a), float(b),
        )  # fmt: skip


Scorer = Linear | Trees


def _check_features(data: dict[str, Any], expected: tuple[str, ...]) -> None:
    if tuple(data["features"]) != expected:
        raise ConfigError(
            "the answer model was trained on other features than this code computes; "
            "retrain it: python -m rag.answer.train"
        )


def scorer_from_json(data: dict[str, Any], expected: tuple[str, ...]) -> Scorer:
    if data.get("kind", "linear") == "trees":
        return Trees.from_json(data, expected)
    return Linear.from_json(data, expected)


@dataclass(frozen=True)
class AnswerModel:
    sentence: Scorer
    gate: Scorer
    threshold: float  # gate probability below which the answer is a refusal
    keep_ratio: float  # runners-up kept when their probability is at least this share of the best
    meta: dict[str, Any]
    # The tuned layers whose similarities the sentence model was trained on (encoder.py), and
    # their SHA-256; None: the similarities are the retrieval embedder's.
    encoder: Path | None = None
    encoder_sha256: str = ""

    def to_json(self, folder: Path | None = None) -> dict[str, Any]:
        """The file's content; `folder`: where it is written (the encoder is named from there)."""
        out: dict[str, Any] = {
            "format": FORMAT,
            "sentence": self.sentence.to_json(),
            "gate": self.gate.to_json(),
            "threshold": round(self.threshold, 4),
            "keep_ratio": round(self.keep_ratio, 4),
        }
        if self.encoder is not None:
            file = self.encoder.resolve()
            if folder is not None and file.parent == folder.resolve():
                name = file.name
            else:
                name = str(file)
            out["encoder"] = {"file": name, "sha256": self.encoder_sha256}
        out["meta"] = self.meta
        return out

    def save(self, path: Path) -> None:
        text = json.dumps(self.to_json(path.parent), indent=1) + "\n"
        path.write_text(text, encoding="utf-8")


def load_model(path: Path | None = None) -> AnswerModel:
    """The model at `path` (default: the one shipped with rag), read once per process."""
    return _load(str((path or DEFAULT_PATH).resolve()))


@lru_cache(maxsize=4)
def _load(path: str) -> AnswerModel:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the answer model {path}: {exc}") from exc
    if data.get("format") not in _READS:
        raise ConfigError(f"{path} is not a {FORMAT!r} file (format: {data.get('format')!r})")
    enc = data.get("encoder")
    return AnswerModel(
        scorer_from_json(data["sentence"], SENTENCE_FEATURES),
        scorer_from_json(data["gate"], GATE_FEATURES),
        float(data["threshold"]),
        float(data["keep_ratio"]),
        dict(data.get("meta", {})),
        (Path(path).parent / enc["file"]).resolve() if enc else None,
        str(enc["sha256"]) if enc else "",
    )
