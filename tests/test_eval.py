"""Evaluation commands with the fake embedder on small hand-made sets: loaders, metrics,
reports, the regression gate, and generated question sets."""

from __future__ import annotations

import json
import math
from functools import partial
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.answer import Answer, Citation
from rag.cli import cli
from rag.config import Settings
from rag.errors import ConfigError
from rag.eval.answers import eval_answers
from rag.eval.data import load_beir, load_qa, sample
from rag.eval.metrics import exact, f1, score_answer, supported_by_citations
from rag.eval.report import compare
from rag.eval.retrieval import eval_retrieval, score_runs

from .conftest import FakeEmbedder, fakes, write

DOCS = {
    "d1": ("Kilns", "The kiln controller runs firmware version 4.2 from the vendor in Oslo."),
    "d2": ("Bicycles", "Bicycles need their chains oiled every month by Maria Lopez."),
    "d3": ("Glazes", "Pottery glazes melt at 1,280 degrees in the big kiln."),
    "d4": ("Gardens", "The garden gate is painted green and opens onto the lane."),
}
QUERIES = {"q1": "kiln controller firmware", "q2": "bicycle chains oiled", "q3": "gate painted"}
QRELS = {"q1": {"d1": 1}, "q2": {"d2": 1}, "q3": {"d4": 1}}


def make_beir(folder: Path) -> Path:
    lines = [json.dumps({"_id": d, "title": t, "text": x}) for d, (t, x) in DOCS.items()]
    write(folder / "corpus.jsonl", "\n".join(lines) + "\n")
    qlines = [json.dumps({"_id": q, "text": t}) for q, t in QUERIES.items()]
    qlines.append(json.dumps({"_id": "q9", "text": "not judged"}))
    write(folder / "queries.jsonl", "\n".join(qlines) + "\n")
    rows = ["query-id\tcorpus-id\tscore"] + [
        f"{q}\t{d}\t{r}" for q, ds in QRELS.items() for d, r in ds.items()
    ]
    write(folder / "qrels" / "test.tsv", "\n".join(rows) + "\n")
    return folder


def test_ranking_metrics_come_from_ranx_and_match_the_definitions() -> None:
    qrels = {"a": {"x": 1, "y": 1}, "b": {"z": 1}}
    runs = {"r": {"a": {"w": 3.0, "x": 2.0, "y": 1.0}, "b": {"z": 1.0}}}
    row = score_runs(runs, qrels)["r"]
    ideal = 1 + 1 / math.log2(3)
    ndcg_a = (1 / math.log2(3) + 1 / math.log2(4)) / ideal
    assert row["ndcg@10"] == pytest.approx((ndcg_a + 1.0) / 2, abs=1e-4)
    assert row["mrr@10"] == pytest.approx((1 / 2 + 1) / 2, abs=1e-4)
    assert row["recall@1"] == pytest.approx((0 + 1) / 2)
    assert row["recall@5"] == 1.0


def test_retrieval_eval_on_a_beir_folder(tmp_path: Path) -> None:
    folder = make_beir(tmp_path / "tiny")
    data = load_beir(folder)
    assert set(data.queries) == {"q1", "q2", "q3"}  # the unjudged query is left out
    settings = Settings(index=tmp_path / "unused", cache_dir=tmp_path / "cache")
    result = eval_retrieval(folder, settings, embedder=FakeEmbedder(), whole_documents=True)
    assert result["queries"] == 3 and result["documents"] == 4
    for mode in ("dense", "keyword", "hybrid"):
        assert set(result["results"][mode]) >= {"ndcg@10", "mrr@10", "recall@1", "recall@100"}
    assert result["results"]["keyword"]["recall@1"] == 1.0
    assert result["metrics"]["hybrid/ndcg@10"] == result["results"]["hybrid"]["ndcg@10"]
    assert "dense, whole documents (MTEB protocol)" in result["results"]
    # A second run reuses the cached index: nothing to embed.
    emb = FakeEmbedder()
    eval_retrieval(folder, settings, embedder=emb, modes=("keyword",))
    assert len(emb.embedded) == 0


def test_a_folder_that_is_not_beir_is_refused_clearly(tmp_path: Path) -> None:
    (tmp_path / "x").mkdir()
    with pytest.raises(ConfigError, match=r"corpus\.jsonl"):
        load_beir(tmp_path / "x")


def test_question_sets_in_three_formats(tmp_path: Path) -> None:
    squad = {
        "data": [
            {
                "paragraphs": [
                    {
                        "context": "The kiln reaches 1,280 degrees.",
                        "qas": [
                            {
                                "id": "s1",
                                "question": "How hot?",
                                "answers": [{"text": "1,280 degrees", "answer_start": 17}],
                                "is_impossible": False,
                            },
                            {"id": "s2", "question": "Who?", "answers": [], "is_impossible": True},
                        ],
                    }
                ]
            }
        ]
    }
    write(tmp_path / "s.json", json.dumps(squad))
    qa = load_qa(tmp_path / "s.json")
    assert qa.format == "squad" and [i.answerable for i in qa.items] == [True, False]
    assert qa.items[0].spans == [(17, 30)] and qa.documents == {
        "000_000.txt": squad["data"][0]["paragraphs"][0]["context"]
    }
    nq = {"question": "q?", "answers": ["a"], "ctxs": [{"title": "T", "text": "a b"}]}
    write(tmp_path / "n.jsonl", json.dumps(nq) + "\n")
    qa = load_qa(tmp_path / "n.jsonl")
    assert qa.format == "nq" and qa.items[0].sources == list(qa.documents)
    seed = {"id": "x", "question": "q?", "answerable": False, "sources": []}
    write(tmp_path / "seed.jsonl", json.dumps(seed) + "\n")
    assert load_qa(tmp_path / "seed.jsonl").items[0].answerable is False
    write(tmp_path / "bad.jsonl", '{"foo": 1}\n')
    with pytest.raises(ConfigError, match="--format"):
        load_qa(tmp_path / "bad.jsonl")
    write(tmp_path / "broken.jsonl", '{"question": "q", "answerable": true}\nnot json\n')
    with pytest.raises(ConfigError, match=r"broken\.jsonl:2"):
        load_qa(tmp_path / "broken.jsonl")


def test_squad_scores_follow_the_official_normalisation() -> None:
    assert exact("The Eiffel Tower!", "eiffel tower") == 1.0
    assert f1("in the year 1937", "1937") == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))
    assert f1("", "") == 1.0 and f1("x", "") == 0.0


def _answer(text: str, source: str, start: int, end: int, refused: bool = False) -> Answer:
    from rag.answer import AnswerSentence

    cit = Citation(1, 1, "d", f"/x/{source}", start, end, text)
    sents = [] if refused else [AnswerSentence(text, [1])]
    return Answer("q", text, sents, [] if refused else [cit], refused, "extractive")


def test_answer_rows_score_citations_refusals_and_containment() -> None:
    from rag.eval.data import QAItem

    item = QAItem("1", "How hot?", True, ["1,280 degrees"], [], ["a.txt"], [(17, 30)])
    row = score_answer(
        item, _answer("The kiln reaches 1,280 degrees.", "a.txt", 0, 31), ["/x/a.txt"]
    )
    assert row["contains_gold"] and row["citation_precision"] == 1.0
    assert row["citation_recall"] == 1.0 and row["retrieved_gold"] and row["correct"]
    wrong_span = score_answer(item, _answer("Other text here.", "a.txt", 40, 60), [])
    assert wrong_span["citation_precision"] == 0.0 and not wrong_span["retrieved_gold"]
    no = QAItem("2", "Who?", False, [], [], ["a.txt"])
    refused = score_answer(no, _answer("", "a.txt", 0, 0, refused=True), [])
    assert refused["correct"] and refused["em"] == 1.0
    assert supported_by_citations("It reaches 1,280 degrees.", ["The kiln reaches 1,280 degrees."])
    assert not supported_by_citations(
        "It reaches 1,300 degrees.", ["The kiln reaches 1,280 degrees."]
    )


def test_short_answers_are_scored_on_their_own() -> None:
    """The highlighted span against the gold answers, apart from its sentence; a typed
    question (how many, who, when) that got none counts as not given; other questions not."""
    from rag.answer.types import ShortAnswer
    from rag.eval.data import QAItem
    from rag.eval.metrics import summarise

    text = "The kiln reaches 1,280 degrees in 1999."
    item = QAItem("1", "How many degrees does the kiln reach?", True, ["1,280"], [], ["a.txt"])
    right = _answer(text, "a.txt", 0, len(text))
    right.short_answer = ShortAnswer("1,280", 17, 22, 1)
    wrong = _answer(text, "a.txt", 0, len(text))
    wrong.short_answer = ShortAnswer("1999", 34, 38, 1)
    none = _answer(text, "a.txt", 0, len(text))
    rows = [score_answer(item, a, []) for a in (right, wrong, none)]
    assert [r.get("short_em") for r in rows] == [1.0, 0.0, None]
    assert [r["short_given"] for r in rows] == [True, True, False]
    untyped = QAItem("2", "What does the kiln reach?", True, ["1,280"], [], ["a.txt"])
    assert "short_given" not in score_answer(untyped, none, [])
    s = summarise(rows, [])
    assert s["short_given"] == round(2 / 3, 4) and s["short_em"] == 0.5


def test_compare_flags_drops_beyond_the_tolerance_only() -> None:
    old = {
        "kind": "answers",
        "dataset": "x",
        "metrics": {"a/f1": 0.50, "a/em": 0.40, "a/latency_ms_p50": 10},
    }
    new = {
        "kind": "answers",
        "dataset": "x",
        "metrics": {"a/f1": 0.485, "a/em": 0.30, "a/latency_ms_p50": 99},
    }
    changes = {c.metric: c for c in compare(old, new, tolerance=0.02)}
    assert not changes["a/f1"].regression  # within tolerance
    assert changes["a/em"].regression
    assert not changes["a/latency_ms_p50"].regression  # latency is reported, not gated
    with pytest.raises(ValueError, match="cannot compare"):
        compare({**old, "dataset": "y"}, new, 0.02)


def test_compare_fails_a_run_that_lost_a_metric_or_a_whole_mode() -> None:
    old = {
        "kind": "retrieval",
        "dataset": "x",
        "metrics": {"dense/ndcg@10": 0.7, "keyword/ndcg@10": 0.6, "keyword/latency_ms_p50": 9},
    }
    new = {**old, "metrics": {"dense/ndcg@10": 0.7}}  # the keyword mode is gone
    changes = {c.metric: c for c in compare(old, new, tolerance=0.02)}
    assert changes["keyword/ndcg@10"].regression and changes["keyword/ndcg@10"].new is None
    assert not changes["keyword/latency_ms_p50"].regression  # not gated, only reported
    assert not changes["dense/ndcg@10"].regression


def test_eval_cli_writes_reports_and_gates_on_a_regression(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    folder = make_beir(tmp_path / "tiny")
    out = tmp_path / "out"
    runner = CliRunner()
    runner.invoke = partial(runner.invoke, obj=fakes())  # type: ignore[method-assign]
    res = runner.invoke(cli, ["eval", "retrieval", "--dataset", str(folder), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "| hybrid |" in res.output
    files = {p.name for p in out.iterdir()}
    assert {"retrieval-tiny.json", "retrieval-tiny.md", "retrieval-tiny-metrics.png"} <= files
    assert "retrieval-tiny-latency.png" in files
    baseline = json.loads((out / "retrieval-tiny.json").read_text())
    same = runner.invoke(
        cli, ["eval", "retrieval", "--dataset", str(folder), "--out", str(out / "2"),
              "--compare", str(out / "retrieval-tiny.json")],
    )  # fmt: skip
    assert same.exit_code == 0 and "no metric dropped" in same.output
    baseline["metrics"]["hybrid/ndcg@10"] = 1.5  # a baseline the code can no longer reach
    (tmp_path / "better.json").write_text(json.dumps(baseline))
    worse = runner.invoke(
        cli, ["eval", "retrieval", "--dataset", str(folder), "--out", str(out / "3"),
              "--compare", str(tmp_path / "better.json")],
    )  # fmt: skip
    assert worse.exit_code == 1 and "REGRESSION" in worse.output
    baseline["metrics"]["hybrid/ndcg@10"] = 0.0
    baseline["metrics"]["sparse/ndcg@10"] = 0.0  # a mode the new run does not have
    (tmp_path / "more.json").write_text(json.dumps(baseline))
    lost = runner.invoke(
        cli, ["eval", "retrieval", "--dataset", str(folder), "--out", str(out / "4"),
              "--compare", str(tmp_path / "more.json")],
    )  # fmt: skip
    assert lost.exit_code == 1 and "REGRESSION (missing)" in lost.output, lost.output
    baseline["metrics"]["hybrid/ndcg@10"] = 0.0
    baseline["metrics"]["sparse/ndcg@10"] = 0.0  # a mode the new run does not have
    (tmp_path / "more.json").write_text(json.dumps(baseline))
    lost = runner.invoke(
        cli, ["eval", "retrieval", "--dataset", str(folder), "--out", str(out / "4"),
              "--compare", str(tmp_path / "more.json")],
    )  # fmt: skip
    assert lost.exit_code == 1 and "REGRESSION (missing)" in lost.output, lost.output


def test_generated_questions_have_known_answers_and_measure_the_own_index(
    index, tmp_path: Path
) -> None:
    from rag.eval.generate import generate, write_jsonl

    write(
        tmp_path / "d" / "notes.txt",
        "The workshop opened its doors in the spring of 1987 after a long delay. "
        "The first kiln was built by Astrid Nilsson and her brother in the yard. "
        "Clouds drift slowly over the quiet hills while farmers tend their fields.",
    )
    write(
        tmp_path / "d" / "other.txt", "Bicycles need their chains oiled every month by the owner."
    )
    index.ingest([tmp_path / "d"])
    items = generate(index.store, 10, seed=1)
    answers = {i["answers"][0] for i in items}
    assert {"1987", "Astrid Nilsson"} <= answers
    for item in items:
        doc = next(d for d in index.documents() if Path(d.source).name == item["sources"][0])
        a, b = item["spans"][0]
        assert index.store.document(doc.id).text[a:b] == item["answers"][0]
        assert "___" in item["question"] and item["answers"][0] not in item["question"]
    write_jsonl(items, tmp_path / "gen.jsonl")
    result = eval_answers(tmp_path / "gen.jsonl", index.settings, embedder=index.embedder)
    assert result["questions"] == len(items)
    assert result["results"]["extractive"]["retrieved_gold"] == 1.0


def test_samples_are_reproducible() -> None:
    items = list(range(100))
    assert sample(items, 10, 3) == sample(items, 10, 3) != sample(items, 10, 4)
    assert sample(items, None, 0) == items


# Found by an exploratory run of the evaluation commands: verdicts on runs that measured other
# things, silently wrong figures, and tracebacks.


def test_compare_refuses_runs_of_another_scope_and_empty_baselines() -> None:
    old = {"kind": "answers", "dataset": "x", "limit": 10, "questions": 10, "sample_seed": 0,
           "split": "all", "metrics": {"a/f1": 0.5}}  # fmt: skip
    for key, value in (("limit", 3), ("questions", 3), ("sample_seed", 5), ("split", "train")):
        with pytest.raises(ValueError, match=f"the baseline was run with {key}="):
            compare(old, {**old, key: value, "metrics": {"a/f1": 0.9}}, 0.01)
    # a key the baseline lacks (saved before it was recorded) is not held against it
    older = {k: v for k, v in old.items() if k != "split"}
    assert compare(older, {**old, "split": "train"}, 0.01)[0].metric == "a/f1"


def test_eval_refuses_bad_input_before_the_run_with_one_line(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("RAG_CACHE_DIR", str(tmp_path / "cache"))
    folder = make_beir(tmp_path / "tiny")
    runner = CliRunner()
    run = partial(runner.invoke, cli, obj=fakes())
    retrieval = ["eval", "retrieval", "--dataset", str(folder)]
    (tmp_path / "empty.json").write_text('{"kind": "retrieval", "dataset": "tiny", "metrics": {}}')
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "afile").write_text("x")
    for args, message in [
        (["--compare", str(tmp_path / "empty.json")], "holds no metrics"),
        (["--compare", str(tmp_path / "list.json")], "holds no metrics"),
        (["--out", str(tmp_path / "afile" / "out")], "cannot write results to"),
        (["--limit", "0"], "Invalid value for '--limit'"),
        (["--modes", ","], "--modes names no mode"),
    ]:
        res = run([*retrieval, *args])
        assert res.exit_code != 0 and message in res.output, (args, res.output)
        assert "Traceback" not in res.output
    # qrels judging a document the corpus lacks would score every mode down, silently
    write(folder / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq1\td9\t1\n")
    res = run(retrieval)
    assert res.exit_code == 1 and "does not hold (first: 'd9')" in res.output
    # question files: an empty one, a malformed first line, a record without its question
    for text, message in [
        ("", "holds no questions"),
        ("{not json\n", "not JSON"),
        ('{"answerable": true, "must_mention_any": [["x"]]}\n', "has no 'question' field"),
    ]:
        (tmp_path / "q.jsonl").write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_qa(tmp_path / "q.jsonl", "seed" if text.startswith('{"a') else None)


def test_sources_may_be_paths_and_unscorable_items_are_left_out() -> None:
    from rag.eval.data import QAItem
    from rag.eval.metrics import is_gold, summarise

    assert is_gold("/home/u/docs/handbook/expenses.md", ["handbook/expenses.md"])
    assert is_gold("/home/u/docs/handbook/expenses.md", ["/home/u/docs/handbook/expenses.md"])
    assert is_gold("/home/u/docs/handbook/expenses.md", ["expenses.md"])
    assert not is_gold("/home/u/docs/old/expenses.md", ["handbook/expenses.md"])
    item = QAItem("1", "Who?", True, [], [["Kim"]], ["docs/a.txt"])
    row = score_answer(item, _answer("Kim installed it.", "docs/a.txt", 0, 17), ["/x/docs/a.txt"])
    assert row["correct"] and row["citation_precision"] == 1.0 and row["retrieved_gold"]
    bare = QAItem("2", "Who installed it?", True, [], [], ["a.txt"])  # nothing to judge by
    row = score_answer(bare, _answer("Kim installed it.", "a.txt", 0, 17), [])
    assert "correct" not in row and "correct" not in summarise([row], [])


def test_counts_print_as_counts() -> None:
    from rag.eval.report import _fmt

    assert [_fmt(10.0), _fmt(0.5), _fmt(1.0), _fmt(8.25), _fmt(350.4)] == [
        "10", "0.5000", "1.0000", "8.2", "350"
    ]  # fmt: skip


def test_refusal_precision_is_left_out_when_nothing_was_refused() -> None:
    from rag.eval.metrics import refusal_scores

    rows = [{"answerable": True, "refused": False}, {"answerable": False, "refused": False}]
    scores = refusal_scores(rows)
    assert "refusal_precision" not in scores and scores["refusal_recall"] == 0.0
    rows[1]["refused"] = True
    assert refusal_scores(rows)["refusal_precision"] == 1.0
    rows[0]["refused"] = True
    assert refusal_scores(rows)["refusal_precision"] == 0.5
