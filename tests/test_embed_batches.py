"""How Embedder.embed groups texts into model calls: bounded by padded tokens, by count, and by
length spread, and never changing which vector belongs to which text."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest

from rag.embeddings import cheapest_calls

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


def test_calls_respect_the_token_and_count_bounds() -> None:
    emb = Recording()
    emb.batch_size, emb.batch_tokens, emb.call_tokens = 16, 300, 16
    texts = _texts(400)
    emb.embed(texts)
    assert sorted(t for call in emb.calls for t in call) == sorted(texts)  # each text once
    for call in emb.calls:
        widths = [min(n, emb.max_tokens) + 2 for n in emb.count_tokens(call)]
        assert len(call) <= 16
        assert len(call) == 1 or len(call) * max(widths) <= 300  # padded size bound
        assert widths == sorted(widths, reverse=True)


def _cost(widths: list[int], calls: list[tuple[int, int]], call_tokens: int) -> int:
    return sum(call_tokens + (hi - lo) * widths[lo] for lo, hi in calls)


def _all_cuts(n: int) -> list[list[tuple[int, int]]]:
    """Every way of cutting n sorted texts into consecutive calls."""
    out = []
    for mask in range(1 << max(0, n - 1)):
        cuts = [0] + [i + 1 for i in range(n - 1) if mask >> i & 1] + [n]
        out.append(list(itertools.pairwise(cuts)))
    return out


@pytest.mark.parametrize("seed", range(40))
def test_the_cuts_are_the_cheapest_within_the_bounds(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randrange(1, 11)
    widths = sorted((rng.randrange(3, 60) for _ in range(n)), reverse=True)
    call, max_texts, max_tokens = rng.choice([0, 4, 16, 64]), rng.randrange(1, 6), 150
    got = cheapest_calls(widths, call, max_texts, max_tokens)
    assert got[0][0] == 0 and got[-1][1] == n
    assert all(a[1] == b[0] for a, b in itertools.pairwise(got))

    def allowed(calls: list[tuple[int, int]]) -> bool:
        return all(
            hi - lo <= max_texts and (hi - lo == 1 or (hi - lo) * widths[lo] <= max_tokens)
            for lo, hi in calls
        )

    assert allowed(got)
    best = min(_cost(widths, c, call) for c in _all_cuts(n) if allowed(c))
    assert _cost(widths, got, call) == best


def test_a_dearer_call_means_fewer_fuller_calls() -> None:
    rng = random.Random(3)
    widths = sorted((rng.randrange(3, 120) for _ in range(200)), reverse=True)
    counts = [len(cheapest_calls(widths, c, 64, 2048)) for c in (0, 16, 64, 512)]
    assert counts == sorted(counts, reverse=True) and counts[0] > counts[-1]
    padded = [
        sum((hi - lo) * widths[lo] for lo, hi in cheapest_calls(widths, c, 64, 2048))
        for c in (0, 512)
    ]
    assert padded[0] == sum(widths) < padded[1]  # free calls: no padding at all


def test_a_text_longer_than_the_budget_gets_a_call_of_its_own() -> None:
    emb = Recording()
    emb.batch_tokens = 64
    long, short = " ".join(["w"] * 200), "a b c"
    emb.embed([short, long, short])
    assert emb.calls == [[long], [short, short]]


@pytest.mark.parametrize(("tokens", "call"), [(16, 0), (300, 16), (10_000, 512)])
def test_grouping_never_changes_a_texts_vector(tokens: int, call: int) -> None:
    texts = _texts(97, seed=1)
    one_by_one = np.stack([FakeEmbedder().embed([t])[0] for t in texts])
    emb = FakeEmbedder()
    emb.batch_tokens, emb.call_tokens = tokens, call
    assert np.array_equal(emb.embed(texts), one_by_one)


def test_no_texts_no_calls() -> None:
    emb = Recording()
    assert emb.embed([]).shape == (0, emb.dim)
    assert emb.calls == []


def test_the_removed_fill_setting_says_what_replaced_it(tmp_path, monkeypatch) -> None:
    from pydantic import ValidationError

    from rag.config import Settings

    with pytest.raises(ValidationError, match="embed_call_tokens"):
        Settings(embed_batch_fill=0.6)  # type: ignore[call-arg]
    monkeypatch.chdir(tmp_path)  # a rag.toml written for an older release
    (tmp_path / "rag.toml").write_text("embed_batch_fill = 0.6\n")
    with pytest.raises(ValidationError, match=r"no longer a setting.*embed_call_tokens"):
        Settings()
    (tmp_path / "rag.toml").write_text("embed_call_tokens = 32\n")
    assert Settings().embed_call_tokens == 32
