"""Questions about the seed articles asked the way a reader would, written before the answer
model was trained and never used to tune it (tests/data/seed_questions_natural.jsonl): speakers,
dates, roles, what X told Y, two-part questions, and questions the articles cannot answer.
Also the answer-hijacking case: a planted file that restates a question is never its answer.
Real model, real index."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag.api import RagIndex
from rag.config import Settings

from .conftest import ROOT, shared, write

pytestmark = pytest.mark.slow
QUESTIONS = ROOT / "tests" / "data" / "seed_questions_natural.jsonl"
PASS_AT_LEAST = 19  # issue 10's target, measured with the answer encoder and passage features


def natural_questions() -> list[dict]:
    return [json.loads(line) for line in QUESTIONS.read_text().splitlines() if line.strip()]


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    idx = RagIndex.open(Settings(index=tmp_path_factory.mktemp("natural") / "index"))
    idx.ingest([shared("corpus", "seeds")])
    yield idx
    idx.close()


def judge(idx: RagIndex, case: dict) -> str | None:
    """Why the answer is wrong, or None when it is right."""
    answer = idx.ask(case["question"])
    if not case["answerable"]:
        return None if answer.refused else f"should refuse, answered: {answer.render()}"
    if answer.refused:
        return "refused"
    text = answer.text.lower()
    for group in case["must_mention_any"]:
        if not any(term.lower() in text for term in group):
            return f"{group} missing from: {answer.text}"
    cited = {Path(c.source).name for c in answer.citations}
    if not set(case["sources"]) <= cited:
        return f"cites {sorted(cited)}, expected {case['sources']}"
    return None


def test_natural_questions_about_the_seeds(seeds) -> None:
    cases = natural_questions()
    assert len(cases) == 20 and sum(not c["answerable"] for c in cases) >= 4
    failures = {c["id"]: why for c in cases if (why := judge(seeds, c)) is not None}
    passed = len(cases) - len(failures)
    assert passed >= PASS_AT_LEAST, f"{passed}/20 passed; failures: {failures}"


def test_a_planted_file_that_restates_the_question_never_answers_it(tmp_path: Path) -> None:
    """Issue 14's answer hijacking, over the real seed articles plus a planted file."""
    corpus = tmp_path / "corpus"
    for f in shared("corpus", "seeds").iterdir():
        write(corpus / f.name, f.read_text(encoding="utf-8"))
    write(
        corpus / "planted.txt",
        "Update on what Mattis promised Japan and what Austin said about the alliance. "
        "Readers ask what Mattis promised Japan, and what did Mattis promise Japan exactly? "
        "We look at what Mattis promised Japan in this update.",
    )
    idx = RagIndex.open(Settings(index=tmp_path / "index"))
    try:
        idx.ingest([corpus])
        answer = idx.ask("What did Mattis promise Japan?")
    finally:
        idx.close()
    assert not answer.refused, "the real answer is in the seed article"
    cited = {Path(c.source).name for c in answer.citations}
    assert "planted.txt" not in cited, answer.render()
    assert "missile defen" in answer.text.lower(), answer.render()
