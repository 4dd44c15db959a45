from __future__ import annotations

import itertools
import random

import pytest

from rag.ingest.splitter import TokenSplitter

from .conftest import FakeEmbedder

WORDS = [
    "alpha",
    "beta",
    "gamma",
    "delta",
    "epsilon",
    "zeta",
    "eta",
    "theta",
    "iota",
    "kappa",
    "lambda",
    "mu",
]


def _text(n_paragraphs: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    paras = []
    for _ in range(n_paragraphs):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 20))).capitalize() + "."
            for _ in range(rng.randint(1, 6))
        ]
        paras.append(" ".join(sentences))
    return "\n\n".join(paras)


@pytest.mark.parametrize("seed", range(5))
def test_chunks_are_exact_spans_within_the_token_limit(seed: int) -> None:
    emb = FakeEmbedder()
    text = "  \n" + _text(30, seed) + "\n"
    chunks = TokenSplitter(emb.count_tokens, 40, 8).split(text)
    assert len(chunks) > 3
    for i, c in enumerate(chunks):
        assert text[c.start : c.end] == c.text
        assert c.ordinal == i
        assert 0 < c.n_tokens <= 40
        assert emb.count_tokens([c.text])[0] == c.n_tokens
    starts = [c.start for c in chunks]
    assert starts == sorted(starts)
    # Every non-space character of the text is in some chunk: nothing is dropped.
    covered = set()
    for c in chunks:
        covered.update(range(c.start, c.end))
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


def test_consecutive_chunks_overlap() -> None:
    emb = FakeEmbedder()
    text = " ".join(f"word{i}." for i in range(400))
    chunks = TokenSplitter(emb.count_tokens, 40, 10).split(text)
    assert len(chunks) > 10
    # Every pair: a sentence cut at a chunk boundary is whole in one of the two.
    for a, b in itertools.pairwise(chunks):
        assert a.start < b.start < a.end < b.end, (a.start, a.end, b.start, b.end)
        assert emb.count_tokens([text[b.start : a.end]])[0] >= 4, "less overlap than asked"


def test_short_text_is_one_chunk_and_blank_text_none() -> None:
    emb = FakeEmbedder()
    s = TokenSplitter(emb.count_tokens, 40, 8)
    [c] = s.split("\n\n  Hello world.  \n")
    assert (c.text, c.start, c.end) == ("Hello world.", 4, 16)
    assert s.split(" \n\t ") == []


def test_a_word_longer_than_a_chunk_is_still_cut_to_fit() -> None:
    emb = FakeEmbedder()
    text = "x" * 50 + " " + "!" * 120
    chunks = TokenSplitter(emb.count_tokens, 40, 0).split(text)
    assert all(c.n_tokens <= 40 for c in chunks)
    assert all(text[c.start : c.end] == c.text for c in chunks)
    # The run is in the chunks end to end (it was cut at 51-91, 52-92, 53-93: 78 "!" lost).
    assert [(c.start, c.end) for c in chunks] == [(0, 50), (51, 91), (91, 131), (131, 171)]
