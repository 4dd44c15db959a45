"""The answer encoder (rag/answer/encoder.py): tuned layers shipped as float16 safetensors,
assembled with the packaged model's embeddings in the cache, run from ONNX; the answer model file
names it with its SHA-256, and a missing, changed or foreign file is refused with what to do."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.answer.encoder import ENCODER_FORMAT, assemble, encoder_of
from rag.answer.model import DEFAULT_PATH, AnswerModel, load_model
from rag.embeddings import packaged_model_path
from rag.errors import ConfigError
from rag.onnx_embed import file_sha256

from .conftest import shared


def _layers(
    path: Path, shift: float = 0.01, fmt: str = ENCODER_FORMAT, extra: dict | None = None
) -> Path:
    """Layers like train_encoder writes: two tensors of the packaged model, shifted."""
    from safetensors.numpy import load_file, save_file

    base = load_file(str(packaged_model_path() / "model.safetensors"))
    names = ["encoder.layer.5.output.dense.bias", "encoder.layer.0.attention.self.query.weight"]
    tensors = {n: (base[n] + shift).astype(np.float16) for n in names}
    save_file({**tensors, **(extra or {})}, str(path), metadata={"format": fmt})
    return path


def test_assembly_replaces_exactly_the_tuned_tensors(tmp_path: Path) -> None:
    from safetensors.numpy import load_file

    layers = _layers(tmp_path / "layers.safetensors")
    folder = assemble(layers, file_sha256(layers), tmp_path / "cache")
    assert folder.parent == tmp_path / "cache" / "answer-encoder"
    base = load_file(str(packaged_model_path() / "model.safetensors"))
    got = load_file(str(folder / "model.safetensors"))
    tuned = load_file(str(layers))
    assert set(got) == set(base)
    for name in base:
        want = tuned[name].astype(np.float32) if name in tuned else base[name]
        assert got[name].dtype == base[name].dtype and np.array_equal(got[name], want), name
    # The tokenizer and configuration are the packaged model's.
    for name in ("tokenizer.json", "config.json", "modules.json"):
        assert (folder / name).read_bytes() == (packaged_model_path() / name).read_bytes()
    # Built once: a second call reuses the folder.
    mtime = (folder / "model.safetensors").stat().st_mtime_ns
    assert assemble(layers, file_sha256(layers), tmp_path / "cache") == folder
    assert (folder / "model.safetensors").stat().st_mtime_ns == mtime


def test_a_missing_changed_or_foreign_encoder_is_refused_with_what_to_do(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(ConfigError, match="missing: restore it"):
        assemble(tmp_path / "nowhere.safetensors", "0" * 64, cache)
    layers = _layers(tmp_path / "layers.safetensors")
    with pytest.raises(ConfigError, match="not the one the answer model was trained with"):
        assemble(layers, "0" * 64, cache)
    other = _layers(tmp_path / "other.safetensors", fmt="something else")
    with pytest.raises(ConfigError, match=ENCODER_FORMAT):
        assemble(other, file_sha256(other), cache)
    odd = _layers(tmp_path / "odd.safetensors", extra={"head.weight": np.zeros(3, np.float16)})
    with pytest.raises(ConfigError, match="packaged model lacks"):
        assemble(odd, file_sha256(odd), cache)
    # Nothing half-built is left to be mistaken for an encoder.
    assert not any((cache / "answer-encoder").glob("*/assembled.json"))


def test_the_model_file_names_its_encoder_relative_to_itself(tmp_path: Path) -> None:
    import dataclasses

    layers = _layers(tmp_path / "layers.safetensors")
    model = dataclasses.replace(
        load_model(), encoder=layers, encoder_sha256=file_sha256(layers), meta={}
    )
    model.save(tmp_path / "model.json")
    data = json.loads((tmp_path / "model.json").read_text())
    assert data["encoder"] == {"file": "layers.safetensors", "sha256": file_sha256(layers)}
    again = load_model(tmp_path / "model.json")
    assert again.encoder == layers.resolve() and again.encoder_sha256 == file_sha256(layers)
    plain = dataclasses.replace(model, encoder=None, encoder_sha256="")
    assert "encoder" not in plain.to_json() and encoder_of(plain) is None


def test_the_shipped_model_names_a_shipped_encoder_under_25_mb() -> None:
    model: AnswerModel = load_model()
    assert model.encoder is not None and model.encoder.parent == DEFAULT_PATH.parent
    assert model.encoder.stat().st_size < 25 * 1024 * 1024
    assert file_sha256(model.encoder) == model.encoder_sha256


@pytest.mark.slow
def test_the_shipped_encoder_finds_answers_better_than_the_packaged_model() -> None:
    """Held-out SQuAD 2.0 articles (never trained on), within each question's own paragraph:
    the tuned encoder's most similar sentence holds the answer more often than the packaged
    model's (EVAL.md: 0.741 against 0.823 on all of them). Both from ONNX, same texts."""
    from rag.answer.train_encoder import Paragraphs, squad_paragraphs, top1
    from rag.config import Settings
    from rag.eval.data import is_heldout
    from rag.onnx_embed import OnnxEmbedder

    data = squad_paragraphs(shared("datasets", "squad2-dev", "dev-v2.0-part1.json"))
    some = Paragraphs(data.sentences, [a for a in data.asked if is_heldout(a.group)][:300])
    cache = Settings(**{}).cache_dir
    tuned = encoder_of(load_model(), cache)
    assert tuned is not None
    packaged = OnnxEmbedder(packaged_model_path(), cache_dir=cache)
    base, better = (top1(e.embed, some, lambda a: True) for e in (packaged, tuned))
    assert better >= base + 0.04, (base, better)


def test_similarities_come_from_the_encoder_and_alignment_vectors_from_the_embedder() -> None:
    """With an answer encoder, the candidates' features read its similarities and no vector of
    the retrieval embedder is computed; the generative check (Aligner) embeds the candidates
    with the embedder it compares the written sentences with, when it needs them."""
    from rag.answer.align import Aligner
    from rag.answer.evidence import candidates, featurize
    from rag.answer.features import SENTENCE_FEATURES
    from rag.documents import SearchHit

    from .conftest import FakeEmbedder

    text = "Ruiz visited the port in May. The port handles grain. Bell praised the harbour."
    hit = SearchHit(1, "doc", "port.txt", "txt", 0, len(text), text, 1.0, rank=1)
    embedder, encoder = FakeEmbedder(), FakeEmbedder(dim=32)
    cands = candidates([hit])
    question = "When did Ruiz visit the port?"
    ev = featurize(question, cands, embedder, lambda terms: ({}, 10), encoder)
    assert embedder.embedded == [] and encoder.embedded[0] == question
    vecs = encoder.embed([question, *(c.text for c in cands)])
    sims = vecs[1:] @ vecs[0]
    col = ev.rows[:, SENTENCE_FEATURES.index("sim")]
    assert np.allclose(col, np.clip(sims, -1, 1)) and all(c.vec is None for c in cands)
    aligner = Aligner(embedder, cands, question)
    assert embedder.embedded == [c.text for c in cands]
    assert all(c.vec is not None and c.vec.shape == (64,) for c in cands)
    assert aligner.vecs.shape == (len(cands), 64)


def test_article_batches_keep_each_batch_in_one_article_and_every_question_once() -> None:
    from rag.answer.train_encoder import Asked, batches

    asked = [Asked(f"q{i}", [i], [0], f"article {i % 3}") for i in range(20)]
    plan = batches(asked, 4, seed=0, by_article=True)
    assert sorted(a.question for b in plan for a in b) == sorted(a.question for a in asked)
    assert all(len({a.group for a in b}) == 1 and 1 <= len(b) <= 4 for b in plan)
    assert plan == batches(asked, 4, seed=0, by_article=True)  # the same seed, the same plan
    mixed = batches(asked, 4, seed=0, by_article=False)
    assert any(len({a.group for a in b}) > 1 for b in mixed)


def test_targets_are_the_own_gold_and_other_paragraphs_sentences_holding_the_answer() -> None:
    from rag.answer.train_encoder import Asked, targets

    sentences = [
        "Paris is the capital.",  # 0: own paragraph, the gold one
        "It has many museums.",  # 1: own paragraph, mentions no answer
        "The capital, Paris, hosts the assembly.",  # 2: another paragraph, holds the answer
        "Lyon is further south.",  # 3: another paragraph
        "Paris appears here as well but is not gold.",  # 4: own paragraph, not gold
    ]
    a = Asked("What is the capital?", [0, 1, 4], [0], "France", ("Paris",))
    # Within its own paragraph only the answer-start sentences count, as SQuAD marks them.
    assert targets(a, [0, 1, 2, 3, 4], sentences) == [0, 2]
    assert targets(a, [3, 1, 0], sentences) == [2]


def test_nq_paragraphs_target_the_sentences_holding_the_answer_text(tmp_path: Path) -> None:
    from rag.answer.train_encoder import merged, nq_paragraphs, squad_paragraphs

    shared_passage = "Ada Lovelace wrote notes. The notes describe an algorithm. She died in 1852."
    rows = [
        {
            "question": "who wrote the notes",
            "answers": ["Ada  Lovelace"],  # compared normalised: spacing and case do not matter
            "ctxs": [{"title": "Notes", "text": shared_passage}],
        },
        {
            "question": "when did she die",
            "answers": ["1852"],
            "ctxs": [{"title": "Notes", "text": shared_passage}],
        },
        {"question": "no answer in its passage", "answers": ["Babbage"], "ctxs": [
            {"title": "Other", "text": "A first sentence. A second one."}
        ]},
        {"question": "one sentence only", "answers": ["x"], "ctxs": [
            {"title": "Short", "text": "x marks it"}
        ]},
    ]  # fmt: skip
    path = tmp_path / "nq.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    data = nq_paragraphs(path)
    assert [a.question for a in data.asked] == ["who wrote the notes", "when did she die"]
    assert len(data.sentences) == 3 + 2 + 1  # the shared passage is split once
    first, second = data.asked
    assert first.sentences == second.sentences == [0, 1, 2]
    assert (first.gold, second.gold) == ([0], [2]) and first.group == "Notes"
    assert first.kind == "nq" and first.answers == ("Ada  Lovelace",)
    # Merged behind another set, its rows move and still point at the same sentences.
    squad = {"data": [{"title": "T", "paragraphs": [{"context": "One. Two.", "qas": [
        {"id": "1", "question": "q?", "answers": [{"text": "Two", "answer_start": 5}]}
    ]}]}]}  # fmt: skip
    (tmp_path / "squad.json").write_text(json.dumps(squad))
    both = merged(squad_paragraphs(tmp_path / "squad.json"), data)
    assert [both.sentences[k] for k in both.asked[0].sentences] == ["One.", "Two."]
    assert [a.kind for a in both.asked] == ["squad", "nq", "nq"]
    moved = both.asked[2]
    assert [both.sentences[k] for k in moved.sentences] == data.sentences[:3]
    assert both.sentences[moved.sentences[moved.gold[0]]] == "She died in 1852."


def test_questions_of_a_set_the_encoders_learnt_from_are_scored_by_the_other_half(
    tmp_path: Path,
) -> None:
    """Training the trees: a question whose set (and so whose article or title) an encoder
    was tuned on must get its similarities from the half encoder that never saw it; the
    encoder files say which sets they learnt from."""
    from rag.answer.train_data import Encoders
    from rag.answer.train_encoder import encoder_half, tuned_sets
    from rag.eval.data import QAItem

    from .conftest import FakeEmbedder

    old = _layers(tmp_path / "old.safetensors")  # written before files named their sets
    assert tuned_sets(old) == ["squad"]
    new = tmp_path / "new.safetensors"
    from safetensors.numpy import load_file, save_file

    save_file(load_file(str(old)), str(new), metadata={"sets": json.dumps(["nq", "squad"])})
    assert tuned_sets(new) == ["nq", "squad"]
    full, h0, h1 = FakeEmbedder(), FakeEmbedder(), FakeEmbedder()
    groups = [f"title {i}" for i in range(40)]
    item = {h: QAItem("q", "q?", True, group=next(g for g in groups if encoder_half(g) == h))
            for h in (0, 1)}  # fmt: skip
    squad_only = Encoders(full, (h0, h1))  # type: ignore[arg-type]
    assert squad_only.of("squad")(item[0]) is h0 and squad_only.of("squad")(item[1]) is h1
    assert squad_only.of("nq")(item[0]) is full  # never tuned on NQ: the shipped one
    both = Encoders(full, (h0, h1), frozenset({"squad", "nq"}))  # type: ignore[arg-type]
    assert both.of("nq")(item[0]) is h0 and both.of("nq")(item[1]) is h1
