"""The answer model's training examples: each training question retrieved over its data set's
index, its candidate sentences featurised and labelled (does it contain a gold answer), plus the
unanswerable kinds made here (rag.answer.train's docstring says which). Held-out articles and
passage titles (`rag.eval.data.is_heldout`) are never read."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..config import Settings
from ..documents import SearchHit
from ..embeddings import Embedder
from ..eval.data import QAItem, is_heldout, load_qa
from ..eval.metrics import normalize
from .evidence import Candidate, Evidence, candidates, featurize


class CachedEmbedder(Embedder):
    """Embeds each distinct text once: training meets the same sentences many times."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name, self.dim, self.max_tokens = inner.name, inner.dim, inner.max_tokens
        self.cache: dict[str, np.ndarray] = {}

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return self.inner._embed_batch(texts)

    def load(self, path: Path) -> None:
        """Vectors saved by an earlier run with the same model (plain arrays, no pickle)."""
        if path.is_file():
            data = np.load(path, allow_pickle=False)
            if str(data["fingerprint"]) == self.fingerprint:
                self.cache.update(zip(data["texts"].tolist(), data["vectors"], strict=True))

    def save(self, path: Path) -> None:
        texts = list(self.cache)
        vectors = np.stack([self.cache[t] for t in texts]) if texts else np.zeros((0, self.dim))
        np.savez(path, texts=np.array(texts), vectors=vectors, fingerprint=self.fingerprint)

    def embed(self, texts: Sequence[str], progress: Any = None) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if todo:
            for t, v in zip(todo, self.inner.embed(todo), strict=True):
                self.cache[t] = v
        return np.stack([self.cache[t] for t in texts])


@dataclass
class Example:
    """One question with its candidates' features and labels."""

    group: str
    answerable: bool
    kind: str  # squad, nq, wrong-corpus, swapped
    cands: list[Candidate]
    evidence: Evidence
    labels: np.ndarray
    question: str
    answers: list[str]


@dataclass
class Encoders:
    """The answer encoder being shipped (tuned on all training articles) and one tuned on each
    half's complement (rag.answer.train_encoder): a question of a set the encoders were tuned
    on gets its similarities from the encoder that never saw its article or title, as new
    questions will meet the shipped one; questions of other sets from the shipped one."""

    full: CachedEmbedder
    halves: tuple[CachedEmbedder, CachedEmbedder]
    tuned_on: frozenset[str] = frozenset({"squad"})  # the sets in the encoders' training data

    @classmethod
    def load(cls, full: Path, folds: Path, cache_dir: Path) -> Encoders:
        from ..onnx_embed import file_sha256
        from .encoder import answer_encoder
        from .train_encoder import tuned_sets

        def one(path: Path) -> CachedEmbedder:
            if not path.is_file():
                raise FileNotFoundError(f"{path}: train it with python -m rag.answer.train_encoder")
            return CachedEmbedder(answer_encoder(path, file_sha256(path), cache_dir))

        paths = [full, folds / "half-0.safetensors", folds / "half-1.safetensors"]
        encoders = [one(p) for p in paths]
        sets = {frozenset(tuned_sets(p)) for p in paths}
        if len(sets) != 1:
            raise ValueError(f"{full} and the folds in {folds} were tuned on different sets")
        return cls(encoders[0], (encoders[1], encoders[2]), sets.pop())

    def all(self) -> list[CachedEmbedder]:
        return [self.full, *self.halves]

    def of(self, kind: str) -> Callable[[QAItem], Embedder]:
        """The encoder for a question of set `kind` (squad, nq)."""
        from .train_encoder import encoder_half

        if kind in self.tuned_on:
            return lambda item: self.halves[encoder_half(item.group)]
        return lambda item: self.full


def collect(
    items: list[QAItem],
    index: Any,
    embedder: CachedEmbedder,
    kind: str,
    label: bool | None,
    encoder: Callable[[QAItem], Embedder] | None = None,
) -> list[Example]:
    out = []
    t0 = time.perf_counter()
    for n, item in enumerate(items):
        hits: list[SearchHit] = index.search(item.question)
        cands = candidates(hits)
        if not cands:
            continue
        enc = encoder(item) if encoder else None
        ev = featurize(item.question, cands, embedder, index.store.term_counts, enc)
        golds = [normalize(a) for a in item.answers if normalize(a)]
        labels = np.array([any(g in normalize(c.text) for g in golds) for c in cands], float)
        answerable = item.answerable if label is None else label
        out.append(
            Example(
                item.group, answerable, kind, cands, ev, labels if answerable else labels * 0,
                item.question, item.answers,
            )
        )  # fmt: skip
        if (n + 1) % 200 == 0:
            print(f"  {kind}: {n + 1}/{len(items)} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return out


_NAME = re.compile(r"\b[A-Z][a-z]+(?: [A-Z][a-z]+)*")


def swap_names(items: list[QAItem], rng: random.Random) -> list[QAItem]:
    """Answerable questions with a name (not the first word) replaced by a name from a question
    about another article: what is asked is no longer in the documents."""
    names_by_group: dict[str, list[str]] = {}
    for it in items:
        for m in _NAME.finditer(it.question[1:]):
            names_by_group.setdefault(it.group, []).append(m.group())
    groups = sorted(names_by_group)
    out = []
    for it in items:
        found = [m for m in _NAME.finditer(it.question) if m.start() > 0]
        others = [g for g in groups if g != it.group]
        if not found or not others:
            continue
        m = rng.choice(found)
        new = rng.choice(names_by_group[rng.choice(others)])
        if new.lower() in it.question.lower():
            continue
        q = it.question[: m.start()] + new + it.question[m.end() :]
        out.append(QAItem(it.id + "-swap", q, False, [], group=it.group))
    return out


def training_examples(
    squad_path: Path,
    nq_path: Path,
    squad_questions: int = 3000,
    nq_questions: int | None = None,
    synthetic: int = 400,
    embed_cache: Path | None = None,
    encoders: Encoders | None = None,
) -> tuple[list[Example], str]:
    """The training examples (and the embedding model's fingerprint): a sample of the SQuAD 2.0
    and NQ-open training questions, and `synthetic` of each made-up unanswerable kind (names
    swapped; asked of the wrong corpus, both ways). The same arguments give the same examples.
    `embed_cache`: an .npz of sentence vectors, read first and written after."""
    from ..eval.answers import open_eval_index

    rng = random.Random(0)
    settings = Settings(**{})  # RAG_* environment and rag.toml, as the CLI reads them
    squad, nq = load_qa(squad_path, "squad"), load_qa(nq_path, "nq")
    sq_items = [i for i in squad.items if not is_heldout(i.group)]
    nq_items = [i for i in nq.items if not is_heldout(i.group)]
    sq_items = rng.sample(sq_items, min(squad_questions, len(sq_items)))
    nq_items = rng.sample(nq_items, min(nq_questions or len(nq_items), len(nq_items)))
    sq_idx, _, _ = open_eval_index(squad, squad_path, settings)
    emb = CachedEmbedder(sq_idx.embedder)
    caches = [emb, *(encoders.all() if encoders else [])]
    if embed_cache:
        for c in caches:
            c.load(_cache_file(embed_cache, c, emb))
    n = synthetic
    answerable = [i for i in sq_items if i.answerable]
    by_squad = encoders.of("squad") if encoders else None
    by_nq = encoders.of("nq") if encoders else None
    try:
        train = collect(sq_items, sq_idx, emb, "squad", None, by_squad)
        swapped = swap_names(answerable, rng)
        some = rng.sample(swapped, min(n, len(swapped)))
        train += collect(some, sq_idx, emb, "swapped", False, by_squad)
        train += collect(rng.sample(nq_items, n), sq_idx, emb, "wrong-corpus", False, by_nq)
        nq_idx, _, _ = open_eval_index(nq, nq_path, settings, embedder=sq_idx.embedder)
        try:
            train += collect(nq_items, nq_idx, emb, "nq", None, by_nq)
            some = rng.sample(answerable, n)
            train += collect(some, nq_idx, emb, "wrong-corpus", False, by_squad)
        finally:
            nq_idx.close()
    finally:
        sq_idx.close()
    if embed_cache:
        for c in caches:
            c.save(_cache_file(embed_cache, c, emb))
    return train, emb.fingerprint


def _cache_file(path: Path, cache: CachedEmbedder, retrieval: CachedEmbedder) -> Path:
    """`path` for the retrieval embedder's vectors, a sibling named by fingerprint for others."""
    if cache is retrieval:
        return path
    return path.with_name(f"{path.stem}-{cache.fingerprint}{path.suffix}")
