"""The learned answer model: two logistic regressions stored as plain JSON, evaluated with numpy.

- `sentence`: the probability that a candidate sentence answers the question (SENTENCE_FEATURES).
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

FORMAT = "rag-answer-model v1"
DEFAULT_PATH = Path(__file__).with_name("answer_model.json")


@dataclass(frozen=True)
class Linear:
    """Logistic regression on standardised features."""

    features: tuple[str, ...]
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    bias: float

    def prob(self, x: np.ndarray) -> np.ndarray:
        z = ((np.atleast_2d(x) - self.mean) / self.scale) @ self.coef + self.bias
        return 1.0 / (1.0 + np.exp(-np.clip(z, -30, 30)))

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "mean": [round(float(v), 6) for v in self.mean],
            "scale": [round(float(v), 6) for v in self.scale],
            "coef": [round(float(v), 6) for v in self.coef],
            "bias": round(float(self.bias), 6),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any], expected: tuple[str, ...]) -> Linear:
        if tuple(data["features"]) != expected:
            raise ConfigError(
                "the answer model was trained on other features than this code computes; "
                "retrain it: python -m rag.answer.train"
            )
        arrays = [np.asarray(data[k], dtype=float) for k in ("mean", "scale", "coef")]
        if any(a.shape != (len(expected),) for a in arrays):
            raise ConfigError("the answer model's weights do not match its feature list")
        return cls(expected, arrays[0], arrays[1], arrays[2], float(data["bias"]))


@dataclass(frozen=True)
class AnswerModel:
    sentence: Linear
    gate: Linear
    threshold: float  # gate probability below which the answer is a refusal
    keep_ratio: float  # runners-up kept when their probability is at least this share of the best
    meta: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "sentence": self.sentence.to_json(),
            "gate": self.gate.to_json(),
            "threshold": round(self.threshold, 4),
            "keep_ratio": round(self.keep_ratio, 4),
            "meta": self.meta,
        }

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1) + "\n", encoding="utf-8")


def load_model(path: Path | None = None) -> AnswerModel:
    """The model at `path` (default: the one shipped with rag), read once per process."""
    return _load(str((path or DEFAULT_PATH).resolve()))


@lru_cache(maxsize=4)
def _load(path: str) -> AnswerModel:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read the answer model {path}: {exc}") from exc
    if data.get("format") != FORMAT:
        raise ConfigError(f"{path} is not a {FORMAT!r} file (format: {data.get('format')!r})")
    return AnswerModel(
        Linear.from_json(data["sentence"], SENTENCE_FEATURES),
        Linear.from_json(data["gate"], GATE_FEATURES),
        float(data["threshold"]),
        float(data["keep_ratio"]),
        dict(data.get("meta", {})),
    )
