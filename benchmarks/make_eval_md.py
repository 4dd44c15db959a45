"""Regenerate EVAL.md from evaluation runs.

    .venv/bin/python benchmarks/make_eval_md.py            # run what is missing, then write EVAL.md
    .venv/bin/python benchmarks/make_eval_md.py --rerun    # run every evaluation again

The evaluations are the `rag eval` commands a user runs (their JSON lands in
benchmarks/results/eval/): full SciFact test with the MTEB whole-document check, a 1,000-question
sample of SQuAD 2.0 dev part 1, and all 1,500 NQ-open part 1 questions, with the extractive
backend. The generative backends' figures come from benchmarks/answer_backends.py
(answer_backends.json), the chunk-size sweep from benchmarks/retrieval_quality.py, and the refusal
sweep from benchmarks/calibrate_refusal.py; a section whose results are missing says which command
makes them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from typing import Any

from common import DATASETS, RESULTS, ROOT
from format_invariance import formats_section, segmentation_section

OUT = RESULTS / "eval"
RUNS = {
    "retrieval-scifact": ["retrieval", "--dataset", f"{DATASETS}/scifact", "--whole-documents"],
    "answers-dev-v2.0-part1": [
        "answers", "--dataset", f"{DATASETS}/squad2-dev/dev-v2.0-part1.json",
        "--limit", "1000", "--sample-seed", "0",
    ],
    "answers-nq-open-oracle-part1": [
        "answers", "--dataset", f"{DATASETS}/nq-open-oracle/nq-open-oracle-part1.jsonl",
        "--limit", "250", "--sample-seed", "0",
    ],
}  # fmt: skip


def run_eval(name: str, rerun: bool, work: str | None = None) -> dict[str, Any] | None:
    path = OUT / f"{name}.json"
    if rerun or not path.exists():
        cmd = [sys.executable, "-m", "rag", "eval", *RUNS[name], "--out", str(OUT)]
        cmd += ["--work", work] if work else []
        print("running:", " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, cwd=ROOT)
    return json.loads(path.read_text()) if path.exists() else None


def load(name: str) -> dict[str, Any] | None:
    path = RESULTS / name
    return json.loads(path.read_text()) if path.exists() else None


def f(x: Any, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def pct(x: Any) -> str:
    return "-" if x is None else f"{100 * x:.0f}%"


def command_of(result: dict[str, Any]) -> str:
    cmd = result.get("command", "").replace(str(DATASETS), "../shared/datasets")
    return cmd.replace(str(ROOT) + "/", "")


def machine_of(result: dict[str, Any]) -> str:
    m = result.get("machine", {})
    return f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores; commit {m.get('commit', '?')}, {m.get('date', '?')}"


def retrieval_section(r: dict[str, Any] | None) -> list[str]:
    if r is None:
        return ["## Retrieval on SciFact", "", "Missing: run this script."]
    rows = r["results"]
    names = {
        "dense": "dense (all-MiniLM-L6-v2 on 200-token chunks, FAISS flat IP)",
        "keyword": "keyword (our BM25, Porter stems, Lucene IDF)",
        "hybrid": "**hybrid, RRF k=60, 300 candidates (default)**",
        "dense, whole documents (MTEB protocol)": "dense, whole documents, no chunking (MTEB's protocol)",
    }
    out = [
        f"## Retrieval on SciFact (test, {r['queries']} queries, {r['documents']:,} abstracts)",
        "",
        f"    {command_of(r)}",
        "",
        f"Each abstract is one `.txt` file (title, blank line, text), ingested with the default "
        f"settings: {r['chunks']:,} chunks. Chunks are retrieved ({300} per query) and each "
        "document takes the rank of its best chunk. Metrics from ranx. Machine: "
        f"{machine_of(r)}. `--work` points at a folder where the same files were already "
        "indexed, so the run only checked their hashes.",
        "",
        "| run | nDCG@10 | MRR@10 | R@1 | R@5 | R@10 | R@100 |",
        "|---|---|---|---|---|---|---|",
    ]
    for key, label in names.items():
        if key in rows:
            x = rows[key]
            out.append(
                f"| {label} | {f(x['ndcg@10'])} | {f(x['mrr@10'])} | {f(x['recall@1'])} | "
                f"{f(x['recall@5'])} | {f(x['recall@10'])} | {f(x['recall@100'])} |"
            )
    whole = rows.get("dense, whole documents (MTEB protocol)", {}).get("ndcg@10")
    pub = r.get("published_ndcg@10", {})
    out += [
        "",
        "Published nDCG@10: " + ", ".join(f"{k} {v}" for k, v in pub.items()) + ".",
        "",
        f"**The check that our metric code is right:** with MTEB's protocol (each abstract's "
        f"title and text embedded as one input, truncated by the model at 256 tokens, exact "
        f"cosine search) all-MiniLM-L6-v2 scores {f(whole)} here against the published 0.645 "
        f"(difference {f(abs((whole or 0) - 0.645))}; the issue asks for 0.01 or less).",
        "",
        "Our own dense run is higher than that because chunking lets the model read each abstract "
        "whole instead of truncating it; our keyword run is at BEIR's BM25; hybrid beats both.",
    ]
    return out


def answers_section(title: str, r: dict[str, Any] | None, note: str) -> list[str]:
    if r is None:
        return [f"## {title}", "", "Missing: run this script."]
    s = r["results"]["extractive"]
    out = [
        f"## {title}",
        "",
        f"    {command_of(r)}",
        "",
        note.format(questions=r["questions"], answerable=r["answerable"], documents=r["documents"]),
        f"Machine: {machine_of(r)}.",
        "",
        "| backend | EM | F1 | contains a gold answer | citation precision | citation recall | "
        "refusal precision | refusal recall | answerable answered | gold passage retrieved |",
        "|---|---|---|---|---|---|---|---|---|---|",
        f"| extractive | {f(s.get('em'))} | {f(s.get('f1'))} | {f(s.get('contains_gold'))} | "
        f"{f(s.get('citation_precision'))} | {f(s.get('citation_recall'))} | "
        f"{f(s.get('refusal_precision'))} | {f(s.get('refusal_recall'))} | "
        f"{f(s.get('answerable_answered'))} | {f(s.get('retrieved_gold'))} |",
    ]
    return out


def backends_section(r: dict[str, Any] | None) -> list[str]:
    if r is None:
        return [
            "## Answer backends side by side",
            "",
            "Missing: `.venv/bin/python benchmarks/answer_backends.py` makes them.",
        ]
    out = [
        "## Answer backends side by side (seed questions and a SQuAD 2.0 sample)",
        "",
        "    .venv/bin/python benchmarks/answer_backends.py --squad 200 "
        "--squad-limit local:smollm2-135m=60 --squad-limit local:gemma3-270m=60 "
        "--squad-limit openai:smollm2-135m=30",
        "",
        "The extractive backend answered all 200 SQuAD questions; each generative backend a "
        "balanced part of them (60, or 30 over HTTP): on this 2-core machine, shared with other "
        "work during the run, a small-model answer took 7-13 s. On the same 60 questions the "
        "extractive backend contains a gold answer for 0.63 of answerable questions, with "
        "citation precision 0.76.",
        "",
        "Every backend answers from the same retrieved passages. `local` runs the packaged GGUF "
        "models through llama.cpp in process; `openai` is the same SmolLM2 behind "
        "llama-cpp-python's OpenAI-compatible server on 127.0.0.1. Timings are in BENCHMARKS.md. "
        f"Machine: {r['machine']['cpu']}, commit {r['machine']['commit']}.",
        "",
        "| set | backend | questions | pass / contains gold | F1 | citation precision | "
        "refusal precision | refusal recall | model answer kept | extractive stood in | "
        "sentences dropped |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset in ("seeds", "squad"):
        for spec, res in r.get(dataset, {}).items():
            s = res["summary"]
            kept = 1 - s["fallback_rate"] if s["model_called"] else None
            out.append(
                f"| {dataset} | {spec} | {s['questions']} | "
                f"{f(s.get('pass', s.get('contains_gold')))} | {f(s.get('f1'))} | "
                f"{f(s.get('citation_precision'))} | {f(s['refusal_precision'])} | "
                f"{f(s['refusal_recall'])} | {pct(kept)} | "
                f"{pct(s['fallback_rate']) if s['model_called'] else '-'} | "
                f"{pct(s['dropped_sentence_rate']) if s['model_called'] else '-'} |"
            )
    out += [
        "",
        '"Model answer kept" is the share of questions sent to the model where at least one '
        "sentence it wrote survived the check; otherwise the extractive answer stood in. "
        '"Sentences dropped" is the share of the model\'s sentences that no retrieved text '
        "supports (invented names, numbers or quotations, restated questions, low support).",
    ]
    return out


def chunk_section() -> list[str]:
    rows = []
    for t in (128, 200, 254):
        r = load(f"quality_scifact_subset1283_{t}.json")
        if r:
            res = r["results"]
            hybrid = next(v for k, v in res.items() if k.startswith("hybrid rrf k=60"))
            rows.append(
                f"| {t}{' (default)' if t == 200 else ''} | {r['chunks']:,} | "
                f"{f(res['dense']['ndcg@10'])} | {f(res['keyword']['ndcg@10'])} | "
                f"{f(hybrid['ndcg@10'])} | {f(hybrid['recall@100'])} |"
            )
    if not rows:
        return []
    return [
        "### Chunk size (SciFact subset: every judged abstract + 1,000 others; 300 queries)",
        "",
        "    .venv/bin/python benchmarks/ingest_throughput.py --rounds 1 --per-round 0 --subset 1000 "
        "--chunk-tokens T --skip-bare --keep-index /tmp/bench/sub-T",
        "    .venv/bin/python benchmarks/retrieval_quality.py --index /tmp/bench/sub-T",
        "",
        "| chunk tokens (overlap 32) | chunks | dense nDCG@10 | keyword | hybrid | hybrid R@100 |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        "Hybrid quality is flat across sizes; 200 keeps it at its best while embedding 30% fewer "
        "chunks than 128, and keeps citations shorter than 254.",
    ]


def refusal_section() -> list[str]:
    r = load("refusal_squad2.json")
    if r is None:
        return []
    out = [
        "### Refusal threshold on SQuAD 2.0 (dev part 1)",
        "",
        "    .venv/bin/python benchmarks/calibrate_refusal.py --questions 600 --seed 0",
        "",
        f"{r['questions']} questions ({r['answerable']} answerable), each asked with the "
        "threshold at 0, then thresholds swept over the best evidence score.",
        "",
        "| threshold | refusal precision | refusal recall | answerable answered | "
        "answers containing a gold answer | answers citing the gold paragraph |",
        "|---|---|---|---|---|---|",
    ]
    for row in r["table"]:
        t = row["threshold"]
        if abs(t * 40 - round(t * 40)) > 1e-6 or t > 0.7:
            continue
        label = f"**{t:g} (default)**" if abs(t - 0.45) < 1e-9 else f"{t:g}"
        out.append(
            f"| {label} | {f(row['refusal_precision'], 2)} | {f(row['refusal_recall'], 2)} | "
            f"{f(row['answerable_answered'], 2)} | {f(row['answered_contains_gold'], 2)} | "
            f"{f(row['answered_cites_gold_paragraph'], 2)} |"
        )
    best = r["recommended"]
    out += [
        "",
        f"Best balanced accuracy: {best['balanced_accuracy']:.2f} at {best['threshold']:g}. "
        "SQuAD 2.0's unanswerable questions are written to look answerable from the very "
        "paragraph they are asked about, and the evidence score alone barely separates them. The "
        "default 0.45 still answers about 88% of answerable questions; it refuses what has no "
        "support at all (both seed refusals) but only a small share of SQuAD's adversarial "
        "unanswerables. This is the weakest figure in this file.",
    ]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rerun", action="store_true")
    ap.add_argument(
        "--scifact-work",
        default=None,
        help="an existing work folder (documents/ + index/) for SciFact, to skip re-embedding it",
    )
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    scifact = run_eval("retrieval-scifact", args.rerun, args.scifact_work)
    squad = run_eval("answers-dev-v2.0-part1", args.rerun)
    nq = run_eval("answers-nq-open-oracle-part1", args.rerun)
    lines = [
        "# Evaluation",
        "",
        "Quality figures behind rag's defaults, on the public data sets in `../shared/datasets` "
        "(SciFact: CC BY-NC 2.0; SQuAD 2.0: CC BY-SA 4.0; NQ-open: CC BY-SA 3.0). This file is "
        "written by `benchmarks/make_eval_md.py` from the runs it lists; do not edit it by hand. "
        "JSON, Markdown and PNG reports of each `rag eval` run are in `benchmarks/results/eval/` "
        "(not committed; rerun the commands). Latencies are left out here: these runs shared the "
        "machine with other work; BENCHMARKS.md has timings measured for the purpose.",
        "",
        *retrieval_section(scifact),
        "",
        *chunk_section(),
        "",
        *answers_section(
            "Answers on SQuAD 2.0 (dev part 1, extractive backend)",
            squad,
            "A random sample of {questions} questions ({answerable} answerable), over all "
            "{documents} paragraphs of part 1 indexed one file each. The extractive backend "
            'answers in whole sentences, so EM and F1 are low by construction; "contains a gold '
            'answer" is the fair measure. Published EM/F1 for extractive QA models (a span, not a '
            "sentence): roberta-base-squad2 79.9/83.0, tinyroberta-squad2 79.4/82.3.",
        ),
        "",
        *answers_section(
            "Answers on NQ-open (part 1, gold passages pooled, extractive backend)",
            nq,
            "A random sample of {questions} of the 1,500 questions (seed 0; the whole set did not fit "
            "this session's machine time); the {documents} gold passages of all 1,500 questions "
            "are pooled into one index, so retrieval must find the right one. Published answer-substring "
            "accuracy with the gold passage: 0.82-0.85 for 13B-70B chat models.",
        ),
        "",
        *backends_section(load("answer_backends.json")),
        "",
        "## Seed questions",
        "",
        "All ten questions in `../shared/eval/seed_questions.jsonl` pass with the extractive "
        "backend (`tests/test_answers_seeds.py`): the eight answerable ones mention every "
        "required fact and cite exactly the listed files; the two unanswerable ones are refused.",
        "",
        *refusal_section(),
        "",
        *formats_section(),
        *segmentation_section(),
        "## The CI gate",
        "",
        "`tests/test_eval_gate.py` runs a fixed slice on every CI run (50 SciFact queries over "
        "their judged abstracts plus random others, 1,000 in all; 100 SQuAD 2.0 questions) and "
        "compares it with `tests/baselines/*.json`: a quality metric that drops by more than "
        "0.02 (retrieval) or 0.03 (answers) fails CI.",
    ]
    (ROOT / "EVAL.md").write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    print("wrote EVAL.md")


if __name__ == "__main__":
    main()
