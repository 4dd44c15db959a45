"""How Embedder.embed groups texts into model calls: bounded by padded tokens, by count, and by
length spread, and never changing which vector belongs to which text."""

from __future__ import annotations

import random

import numpy as np
import pytest

from .conftest import FakeEmbedder


class Recording(FakeEmbedder):
    def __init__(self) -> None:
        super().__init__()
        self.calls: list[list[str]] = []

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return super()._embed_batch(texts)


def _texts(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [
        " ".join(f"w{rng.randrange(500)}" for _ in range(rng.randrange(1, 120))) for _ in range(n)
    ]


def test_calls_respect_the_token_count_and_length_bounds() -> None:
    emb = Recording()
    emb.batch_size, emb.batch_tokens, emb.batch_fill = 16, 300, 0.6
    texts = _texts(400)
    emb.embed(texts)
    assert sorted(t for call in emb.calls for t in call) == sorted(texts)  # each text once
    for call in emb.calls:
        widths = [min(n, emb.max_tokens) + 2 for n in emb.count_tokens(call)]
        assert len(call) <= 16
        assert len(call) == 1 or len(call) * max(widths) <= 300  # padded size bound
        assert min(widths) >= 0.6 * max(widths)  # no short text padded far past its length
        assert widths == sorted(widths, reverse=True)


def test_a_text_longer_than_the_budget_gets_a_call_of_its_own() -> None:
    emb = Recording()
    emb.batch_tokens = 64
    long, short = " ".join(["w"] * 200), "a b c"
    emb.embed([short, long, short])
    assert emb.calls == [[long], [short, short]]


@pytest.mark.parametrize(("tokens", "fill"), [(16, 0.0), (300, 0.6), (10_000, 0.0)])
def test_grouping_never_changes_a_texts_vector(tokens: int, fill: float) -> None:
    texts = _texts(97, seed=1)
    one_by_one = np.stack([FakeEmbedder().embed([t])[0] for t in texts])
    emb = FakeEmbedder()
    emb.batch_tokens, emb.batch_fill = tokens, fill
    assert np.array_equal(emb.embed(texts), one_by_one)


def test_no_texts_no_calls() -> None:
    emb = Recording()
    assert emb.embed([]).shape == (0, emb.dim)
    assert emb.calls == []
