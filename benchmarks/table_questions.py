"""Answers to 20 questions over tables (issue 13): six documents of public facts written as
HTML, DOCX and PDF (tests/table_questions.py), one index, the extractive backend, the real
embedding model. A question counts as answered right when the answer is not a refusal and one
of its citations quotes the table row that holds the asked-for cell value.

    .venv/bin/python benchmarks/table_questions.py      # writes benchmarks/results/table_questions.json

benchmarks/make_eval_md.py puts the section into EVAL.md (tables_section).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULT = ROOT / "benchmarks" / "results" / "table_questions.json"
TITLE = "## Answers from tables (HTML, DOCX, PDF): 20 questions"
# The same script run at commit e74bad9 (the questions committed, tables still flattened into
# lines of cells joined by " | " and read as prose), on the same machine.
BEFORE = "8/20 right, 3 refused"


def score(work: Path) -> dict[str, Any]:
    """Ingest the six documents into a fresh index under `work` and ask the 20 questions."""
    sys.path.insert(0, str(ROOT))
    from rag import RagIndex, Settings
    from tests.table_questions import QUESTIONS, write_documents

    files = write_documents(work / "documents")
    rows = []
    t0 = time.perf_counter()
    with RagIndex.open(Settings(index=str(work / "index"), backend="extractive")) as index:
        report = index.ingest(files)
        if report.skipped:
            raise RuntimeError(f"documents skipped: {report.skipped}")
        for question, gold in QUESTIONS:
            answer = index.ask(question)
            quotes = [c.quote for c in answer.citations]
            right = not answer.refused and any(gold in q for q in quotes)
            rows.append(
                {
                    "question": question,
                    "gold": gold,
                    "right": right,
                    "refused": answer.refused,
                    "answer": answer.text,
                    "cited": quotes,
                    "sources": [Path(c.source).name for c in answer.citations],
                }
            )
    return {
        "right": sum(r["right"] for r in rows),
        "refused": sum(r["refused"] for r in rows),
        "questions": len(rows),
        "seconds": round(time.perf_counter() - t0, 1),
        "rows": rows,
    }


def main() -> None:
    sys.path.insert(0, str(ROOT))
    from rag.eval.report import machine

    with tempfile.TemporaryDirectory() as tmp:
        result = score(Path(tmp))
    result["command"] = "python benchmarks/table_questions.py"
    result["machine"] = machine()
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(json.dumps(result, indent=2), encoding="utf-8")
    for r in result["rows"]:
        mark = "ok " if r["right"] else ("REF" if r["refused"] else "NO ")
        print(f"{mark} {r['question']} -> {r['answer'][:90]}")
    print(f"{result['right']}/{result['questions']} right, {result['refused']} refused")


def tables_section(result: dict[str, Any] | None = None) -> list[str]:
    """EVAL.md's section, from the saved run (or says which command makes it)."""
    if result is None and RESULT.is_file():
        result = json.loads(RESULT.read_text(encoding="utf-8"))
    lines = [TITLE, ""]
    if result is None:
        return [*lines, "Not measured yet: run `python benchmarks/table_questions.py`.", ""]
    m = result.get("machine", {})
    lines += [
        "Six documents of public facts (planets, US census counts, Olympic host cities, "
        "chemical elements, the highest mountains, the Apollo landings), two each as HTML, DOCX "
        "and PDF with one table each, written by `tests/table_questions.py`; the 20 questions "
        "there were written before any answer was measured. Extractive backend, real "
        "embedding model, default settings. Right: not refused, and a citation quotes the row "
        "holding the asked-for cell value.",
        "",
        f"**{result['right']}/{result['questions']} right** "
        f"({result['refused']} refused). Command: `{result['command']}`; "
        f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores; commit {m.get('commit', '?')}, "
        f"{m.get('date', '?')}.",
        "",
        f"Before tables were kept as tables (commit e74bad9, same script and machine): {BEFORE}.",
        "",
        "| question | cell | right | answer |",
        "| --- | --- | --- | --- |",
    ]
    for r in result["rows"]:
        answer = "(refused)" if r["refused"] else r["answer"][:80].replace("|", "\\|")
        lines.append(
            f"| {r['question']} | {r['gold']} | {'yes' if r['right'] else 'no'} | {answer} |"
        )
    return [*lines, ""]


if __name__ == "__main__":
    main()
