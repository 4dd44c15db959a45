"""The learned answer model: its file, its training, the echo rule, short answers, the gate
curve, the held-out split and the scratch index of `rag eval answers --corpus` (fake embedder)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from rag.answer.features import GATE_FEATURES, SENTENCE_FEATURES, restates
from rag.answer.model import DEFAULT_PATH, FORMAT, Trees, load_model
from rag.answer.short import find_short
from rag.answer.train import choose_threshold, fit_logistic, folds, parse_targets
from rag.answer.train_data import swap_names
from rag.config import Settings
from rag.errors import ConfigError
from rag.eval.answers import eval_answers, gate_curve
from rag.eval.data import QAItem, is_heldout, split_items

from .conftest import FakeEmbedder, write


def test_the_shipped_model_is_json_data_that_matches_the_features() -> None:
    assert DEFAULT_PATH.stat().st_size < 25 * 1024 * 1024
    data = json.loads(DEFAULT_PATH.read_text())
    assert data["format"] == FORMAT
    model = load_model()
    assert model.sentence.features == SENTENCE_FEATURES
    assert model.gate.features == GATE_FEATURES
    assert 0 < model.threshold < 1 and 0 < model.keep_ratio <= 1
    # The threshold comes with the curve it was chosen from, and the target it was chosen for.
    assert model.meta["gate_curve_oof"] and "answerable" in model.meta["target"]
    p = model.sentence.prob(np.zeros((3, len(SENTENCE_FEATURES))))
    assert p.shape == (3,) and np.all((p > 0) & (p < 1))


def test_a_model_file_of_another_format_or_features_is_refused(tmp_path: Path) -> None:
    data = json.loads(DEFAULT_PATH.read_text())
    write(tmp_path / "old.json", json.dumps({**data, "format": "something else"}))
    with pytest.raises(ConfigError, match="format"):
        load_model(tmp_path / "old.json")
    data["gate"]["features"] = data["gate"]["features"][:-1]
    write(tmp_path / "other.json", json.dumps(data))
    with pytest.raises(ConfigError, match="retrain"):
        load_model(tmp_path / "other.json")


def test_logistic_regression_learns_and_ranks_by_the_informative_feature() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, len(GATE_FEATURES)))
    y = (x[:, 0] + 0.1 * rng.normal(size=400) > 0).astype(float)
    model = fit_logistic(x, y)
    p = model.prob(x)
    assert ((p > 0.5) == (y > 0)).mean() > 0.95
    assert np.argmax(np.abs(model.coef)) == 0


def test_trees_stored_as_json_score_as_lightgbm_does(tmp_path: Path) -> None:
    # The shipped model's trees are evaluated by numpy alone; LightGBM (a dev dependency) is
    # only needed to train them. Same scores, and the same after a JSON round trip.
    import lightgbm

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, len(SENTENCE_FEATURES)))
    y = ((x[:, 0] + x[:, 1] * x[:, 2]) > 0).astype(float)
    params = {"num_leaves": 15, "verbose": -1, "num_threads": 1, "min_data_in_leaf": 5}
    for objective, group in (("lambdarank", [20] * 100), ("binary", None)):
        data = lightgbm.Dataset(x, y, group=group)
        booster = lightgbm.train({**params, "objective": objective}, data, 40)
        trees = Trees.from_lightgbm(booster.dump_model(), SENTENCE_FEATURES, 1.0, 0.0)
        write(tmp_path / "t.json", json.dumps(trees.to_json()))
        again = Trees.from_json(json.loads((tmp_path / "t.json").read_text()), SENTENCE_FEATURES)
        test = rng.normal(size=(500, len(SENTENCE_FEATURES)))
        want = booster.predict(test, raw_score=True)
        np.testing.assert_allclose(trees.raw(test), want, atol=1e-9)
        np.testing.assert_allclose(again.raw(test), want, atol=1e-5)
        if objective == "binary":
            np.testing.assert_allclose(again.prob(test), booster.predict(test), atol=1e-5)
    broken = trees.to_json()
    broken["left"][0] = 10**6
    with pytest.raises(ConfigError, match="malformed"):
        Trees.from_json(broken, SENTENCE_FEATURES)


def test_the_threshold_meets_each_sets_target() -> None:
    # Gate probabilities of answerable questions from two sets, one scored lower: a target per
    # set binds on the set the gate is harsher with.
    p = np.array([0.2, 0.4, 0.6, 0.8, 0.35, 0.45, 0.55, 0.65, 0.1, 0.3])
    ok = np.array([True] * 8 + [False] * 2)
    kinds = ["nq"] * 4 + ["squad"] * 4 + ["squad"] * 2
    assert parse_targets("nq=0.25,squad=0.5") == {"nq": 0.25, "squad": 0.5}
    assert parse_targets("0.08") == 0.08
    t, curve = choose_threshold(p, ok, {"nq": 0.25, "squad": 0.5}, kinds)
    assert t == 0.4  # 0.41 would refuse 2 of nq's 4
    row = next(c for c in curve if c["threshold"] == t)
    assert row["nq_answerable_refused"] == 0.25 and row["squad_answerable_refused"] == 0.25
    t_all, _ = choose_threshold(p, ok, 0.25)
    assert t_all == 0.4


def test_folds_keep_each_group_in_one_fold() -> None:
    groups = [f"article{i % 7}" for i in range(70)]
    f = folds(groups)
    assert {
        len({k for g, k in zip(groups, f, strict=True) if g == name}) for name in set(groups)
    } == {1}
    assert len(set(f)) == 5


def test_swapped_questions_name_something_from_another_article() -> None:
    import random

    items = [
        QAItem("1", "What did Mattis promise Japan?", True, ["x"], group="a"),
        QAItem("2", "When was Oxygen named by Lavoisier?", True, ["y"], group="b"),
    ]
    out = swap_names(items, random.Random(0))
    assert out and all(not i.answerable for i in out)
    assert out[0].question != items[0].question and out[0].group == "a"


@pytest.mark.parametrize(
    ("sentence", "echo"),
    [
        ("Update on what Mattis promised Japan and what Austin said about Korea.", True),
        ("Readers keep asking: what did Mattis promise Japan?", True),
        ("Mattis told Onodera the US would help Japan enhance its missile defence.", False),
        ("Mattis promised Japan help with ballistic missile defence.", False),
    ],
)
def test_a_sentence_that_restates_the_question_is_recognised(sentence: str, echo: bool) -> None:
    assert restates("What did Mattis promise Japan?", sentence) is echo


def test_a_sentence_that_adds_only_the_answer_is_not_an_echo(index, tmp_path: Path) -> None:
    """ "The goat is named Bramble." adds one word to "What is the goat named?": the answer. It
    was scored 0 as an echo (fewer than two words of its own) and the parrot's sentence, from
    the other file, was cited instead."""
    write(tmp_path / "d" / "theta.txt", "Theta notes.\n\nThe parrot is named Captain Flint.\n")
    write(tmp_path / "d" / "iota.txt", "Iota notes.\n\nThe goat is named Bramble.\n")
    index.ingest([tmp_path / "d"])
    answer = index.ask("What is the goat named?")
    assert "Flint" not in answer.text, answer.render()
    assert answer.text == "The goat is named Bramble.", answer.render()


def test_an_echo_of_the_question_never_stands_as_the_answer(index, tmp_path: Path) -> None:
    write(
        tmp_path / "d" / "real.txt",
        "The harbour master said the ferry to Skye leaves at seven every morning from pier two.",
    )
    write(
        tmp_path / "d" / "decoy.txt",
        "Latest news on when the ferry to Skye leaves and what the harbour master said.",
    )
    index.ingest([tmp_path / "d"])
    answer = index.ask("When does the ferry to Skye leave?")
    assert all(Path(c.source).name != "decoy.txt" for c in answer.citations), answer.render()


@pytest.mark.parametrize(
    ("question", "sentence", "short"),
    [
        ("Who is the chief Pentagon spokesman?", "The chief Pentagon spokesman Dana White said so.", "Dana White"),
        ("When did Austin post it?", "Austin posted it on February 9, 2022 at noon.", "February 9, 2022"),
        ("How many countries are in the world?", "There are more than 200 countries.", "200"),
        ("What did Austin say?", "Austin said the commitment is ironclad.", None),
        # The number beside the question's words; a year or a model number counts nothing.
        ("How many varieties does the garden have?", "Planted in 1976, it has 300 varieties.", "300"),
        ("How many satellites did it carry?", "The Zephyr-9 rocket carried 3 satellites.", "3"),
        ("How many people live there?", "In 2019 the town had 4,200 people.", "4,200 people"),
        ("When was the garden planted?", "The garden was planted in 1976 by Omar.", "1976"),
        ("When did the NBA add the line?", "Since 1979 the NBA has had the line, and in 1980 ...", "1979"),
        # A news dateline dates the report, not what it reports (exploratory run).
        ("When will the terminal reopen?", "HARBOR CITY, 12 March 2024 — The terminal will stay closed until 30 April.", "30 April"),
        ("When did the storm hit?", "LONDON, March 3 (Reuters) - The storm hit the coast on Friday.", "Friday"),
        ("When was the report out?", "HARBOR CITY, 12 March 2024 — The report was out today.", "12 March 2024"),
        ("When did the port open?", "It opened on 12 March 2024 — and closed on 3 May.", "12 March 2024"),
        # A dateline, or a day of the month, counts nothing (exploratory run: "How long is the
        # line?" gave "2024", "How much rain fell?" the 8 of "June 8")
        ("How long is the rail line?", "HARLOW, March 20, 2024 — Okafor unveiled a 14-kilometre light rail line.", "14-kilometre"),
        ("How much rain fell?", "MILLBROOK, June 8, 2024 — Homes flooded after 94 millimetres of rain.", "94 millimetres"),
        ("How many people live in Paris?", "Paris, the capital, has 2 million people — more than Lyon.", "2 million"),
        ("How many turbines does the farm have?", "She saw cracks in its turbines in 2022.", None),
        ("How much will the rail line cost?", "Okafor unveiled a 14-kilometre line, at an estimated cost of $1.1 billion.", "$1.1 billion"),
    ],
)  # fmt: skip
def test_short_answers_are_spans_of_the_cited_sentence(
    question: str, sentence: str, short: str | None
) -> None:
    found = find_short(question, sentence, 100, 1)
    if short is None:
        assert found is None
        return
    assert found is not None and found.text == short
    assert sentence[found.start - 100 : found.end - 100] == short and found.citation == 1


def test_extractive_answers_carry_the_short_answer_in_their_json(index, tmp_path: Path) -> None:
    write(
        tmp_path / "d" / "kiln.txt",
        "The kiln was installed by the potter Maria Lindqvist in the spring. " * 2,
    )
    index.ingest([tmp_path / "d"])
    answer = index.ask("Who installed the kiln?")
    if answer.refused:
        pytest.fail(f"refused; confidence {answer.confidence}")
    d = answer.to_dict()
    assert d["short_answer"]["text"] == "Maria Lindqvist"
    cit = next(c for c in answer.citations if c.number == d["short_answer"]["citation"])
    doc = index.store.document(cit.doc_id)
    assert doc.text[d["short_answer"]["start"] : d["short_answer"]["end"]] == "Maria Lindqvist"
    assert cit.start <= d["short_answer"]["start"] < d["short_answer"]["end"] <= cit.end


def test_the_gate_curve_counts_refusals_below_each_threshold() -> None:
    rows = [
        {"answerable": True, "confidence": 0.9},
        {"answerable": True, "confidence": 0.3},
        {"answerable": False, "confidence": 0.2},
        {"answerable": False, "confidence": 0.6},
    ]
    at = {r["threshold"]: r for r in gate_curve(rows)}
    assert at[0.25] == {
        "threshold": 0.25, "refusal_precision": 1.0, "refusal_recall": 0.5,
        "answerable_answered": 1.0,
    }  # fmt: skip
    assert at[0.5]["refusal_precision"] == 0.5 and at[0.5]["answerable_answered"] == 0.5
    assert gate_curve(rows[:2]) == []


def test_the_held_out_split_goes_by_article_not_by_question() -> None:
    items = [QAItem(f"{g}{i}", "q?", True, group=g) for g in "abcdefghijklmnop" for i in range(3)]
    held = split_items(items, "heldout")
    train = split_items(items, "train")
    assert held and train and len(held) + len(train) == len(items)
    assert not {i.group for i in held} & {i.group for i in train}
    assert all(is_heldout(i.group) for i in held)
    with pytest.raises(ConfigError, match="split"):
        split_items([QAItem("x", "q?", True)], "heldout")


def test_eval_with_a_corpus_never_touches_the_users_index(tmp_path: Path) -> None:
    corpus = write(tmp_path / "corpus" / "a.txt", "The garden gate is painted green.").parent
    questions = write(
        tmp_path / "q.jsonl",
        json.dumps(
            {"id": "1", "question": "What colour is the gate?", "answerable": True,
             "sources": ["a.txt"], "must_mention_any": [["green"]]}
        ) + "\n",
    )  # fmt: skip
    settings = Settings(index=tmp_path / "user-index", cache_dir=tmp_path / "cache")
    result = eval_answers(questions, settings, corpus=corpus, embedder=FakeEmbedder())
    assert not (tmp_path / "user-index").exists()
    assert result["questions"] == 1
    assert list((tmp_path / "cache" / "eval").glob("corpus-corpus-*"))


def test_passage_features_read_the_whole_chunk_of_a_sentence() -> None:
    """chunk_lex and chunk_names: how much of the question's weight, and which of its names,
    the sentence's whole passage holds (a sentence about another person's call, in a passage
    that never names the one asked about, scores lower than the same words where it is named)."""
    from rag.answer.features import QuestionTerms, sentence_matrix

    question = "Who did Mattis call in Seoul?"
    terms = QuestionTerms.of(question, lambda words: ({}, 100))
    sentence = "The minister spoke with his counterpart by phone."
    chunks = [f"Mattis visited Seoul in May. {sentence}", f"Austin visited Tokyo. {sentence}"]
    rows, _ = sentence_matrix(
        question, terms, [sentence, sentence], np.array([0.5, 0.5]), [1, 2],
        [(1, 1, False), (1, 2, False)], "name", [True, True], [0, 0], chunks,
    )  # fmt: skip
    col = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    assert rows[0, col["chunk_names"]] == 1.0 and rows[1, col["chunk_names"]] == 0.0
    assert rows[0, col["chunk_lex"]] > rows[1, col["chunk_lex"]] == rows[1, col["lex"]]
    # Without chunks, the sentence is its own passage.
    alone, _ = sentence_matrix(
        question, terms, [sentence], np.array([0.5]), [1], [(0, 1, False)], "name", [True], [0]
    )
    assert (
        alone[0, col["chunk_names"]] == 0.0 and alone[0, col["chunk_lex"]] == alone[0, col["lex"]]
    )
