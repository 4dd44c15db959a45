"""The splitter over generated documents: every character a user could search for is in a chunk.

Documents mix prose with what real files hold and a word-by-word splitter handles worst: long
unbroken runs ("!!!!", "====" rules), URLs, base64 blobs, CJK without spaces, odd whitespace.
A seeded generator (not hypothesis) keeps the 1,000 documents the same on every run; a failure
names the seed that reproduces it.
"""

from __future__ import annotations

import base64
import random
import re
from collections.abc import Callable

import pytest

from rag.ingest.splitter import TokenSplitter

WORDS = [
    "kiln",
    "glaze",
    "firmware",
    "the",
    "of",
    "a",
    "to",
    "bicycle",
    "chain",
    "winter",
    "citation",
    "index",
    "vector",
]
_PIECE = re.compile(r"\w+|[^\w\s]")


def subword_count(texts: list[str]) -> list[int]:
    """Like a word-piece tokenizer, fast: a word costs one token per 4 characters, punctuation
    one each. Not additive across joins ("ab" + "cd" is 2 tokens apart, 1 together), as real
    tokenizers are not, so the splitter's overshoot path runs too."""
    return [sum(-(-len(p) // 4) for p in _PIECE.findall(t)) for t in texts]


def overshooting_count(texts: list[str]) -> list[int]:
    """As above, but a word of 8 characters or more costs one token more than its letters: the
    sum of the parts' counts can be below the whole's, so merged pieces overshoot the limit and
    the splitter must cut them again (inside a word when one alone is too long)."""
    return [
        sum(len(p) + 1 if len(p) >= 8 else -(-len(p) // 4) for p in _PIECE.findall(t))
        for t in texts
    ]


def _prose(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(3, 30))]
    return " ".join(words).capitalize() + rng.choice([".", "!", "?", ";", ",", ""])


def _run(rng: random.Random) -> str:
    return rng.choice("!=-_*#.x~") * rng.randint(20, 400)


def _url(rng: random.Random) -> str:
    path = "/".join(rng.choice(WORDS) + str(rng.randint(0, 999)) for _ in range(rng.randint(1, 12)))
    query = "&".join(
        f"{rng.choice(WORDS)}={rng.randint(0, 10**6)}" for _ in range(rng.randint(0, 6))
    )
    return f"https://example.org/{path}?{query}"


def _blob(rng: random.Random) -> str:
    return base64.b64encode(rng.randbytes(rng.randint(30, 1500))).decode()


def _cjk(rng: random.Random) -> str:
    text = "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(rng.randint(5, 300)))
    return text + rng.choice(["。", "、", "", "！"])


def _rule(rng: random.Random) -> str:
    return rng.choice(["* * *", "| --- | --- |", ". . . .", "-- " * rng.randint(5, 60)])


def _repeat(rng: random.Random) -> str:
    return " ".join([rng.choice(WORDS)] * rng.randint(10, 200))  # the same word again and again


PARTS: list[Callable[[random.Random], str]] = [_prose] * 6 + [
    _run,
    _url,
    _blob,
    _cjk,
    _rule,
    _repeat,
]
GAPS = [" ", " ", "  ", "\n", "\n\n", "\t", " \n  \n", "\r\n", "\u3000", "\xa0", ""]


def document(seed: int) -> str:
    rng = random.Random(seed)
    parts = [rng.choice(PARTS)(rng) for _ in range(rng.randint(1, 40))]
    return rng.choice(["", "  \n"]) + "".join(p + rng.choice(GAPS) for p in parts)


def check(text: str, splitter: TokenSplitter, count: Callable[[list[str]], list[int]]) -> None:
    chunks = splitter.split(text)
    covered = bytearray(len(text))
    for i, c in enumerate(chunks):
        assert c.ordinal == i
        assert 0 <= c.start < c.end <= len(text), (c.start, c.end)
        assert text[c.start : c.end] == c.text
        assert c.text == c.text.strip(), "a chunk starts or ends with whitespace"
        assert c.n_tokens == count([c.text])[0] <= splitter.chunk_tokens, c.text[:80]
        covered[c.start : c.end] = b"\1" * (c.end - c.start)
    lost = [i for i, ch in enumerate(text) if not covered[i] and not ch.isspace()]
    assert not lost, (
        f"{len(lost)} characters in no chunk, first at {lost[0]}: {text[lost[0] :][:40]!r}"
    )
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)


def test_every_character_of_1000_generated_documents_is_in_a_chunk() -> None:
    for seed in range(1000):
        text = document(seed)
        rng = random.Random(-seed)
        limit = rng.randint(6, 64)
        count = subword_count if seed % 2 else overshooting_count
        splitter = TokenSplitter(count, limit, rng.randint(0, limit // 3))
        try:
            check(text, splitter, count)
        except AssertionError as exc:
            raise AssertionError(f"document(seed={seed}), limit {limit}: {exc}") from exc


@pytest.mark.parametrize(
    ("text", "limit"),
    [
        ("x" * 50 + " " + "!" * 120, 40),  # was (51,91), (52,92), (53,93): 78 "!" in no chunk
        ("Intro line.\n" + "=" * 100 + "\nBody text here.", 10),
        ("ab " * 300, 7),  # identical pieces everywhere: each must be placed where it was cut
    ],
)
def test_runs_of_one_character_are_covered_end_to_end(text: str, limit: int) -> None:
    splitter = TokenSplitter(subword_count, limit, 2)
    check(text, splitter, subword_count)
    chunks = splitter.split(text)
    assert chunks[-1].end == len(text.rstrip())


@pytest.mark.slow
def test_real_tokenizer_chunks_cover_generated_documents_and_fit_the_model() -> None:
    from rag.embeddings import SentenceTransformerEmbedder

    count = SentenceTransformerEmbedder().count_tokens
    for seed in range(60):
        text = document(seed)
        limit = random.Random(seed).choice([32, 64, 128, 254])
        try:
            check(text, TokenSplitter(count, limit, limit // 8), count)
        except AssertionError as exc:
            raise AssertionError(f"document(seed={seed}), limit {limit}: {exc}") from exc
