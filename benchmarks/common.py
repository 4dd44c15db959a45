"""Shared helpers for the benchmark scripts: data sets, machine description, result files."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RAG_SHARED_DIR", ROOT.parent / "shared"))
DATASETS = SHARED / "datasets"
RESULTS = ROOT / "benchmarks" / "results"

sys.path.insert(0, str(ROOT))


def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import torch

    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "commit": _git_commit(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def load_beir(
    name: str,
) -> tuple[dict[str, dict[str, str]], dict[str, str], dict[str, dict[str, int]]]:
    """corpus {id: {title, text}}, test queries {id: text}, qrels {qid: {docid: rel}}."""
    base = DATASETS / name
    if not base.exists():
        raise SystemExit(f"missing data set {base}: see ../shared/datasets/README.md")
    corpus = {}
    with (base / "corpus.jsonl").open() as f:
        for line in f:
            rec = json.loads(line)
            corpus[rec["_id"]] = {"title": rec.get("title", ""), "text": rec["text"]}
    qrels: dict[str, dict[str, int]] = {}
    with (base / "qrels" / "test.tsv").open() as f:
        next(f)
        for line in f:
            qid, did, score = line.split()
            qrels.setdefault(qid, {})[did] = int(score)
    queries = {}
    with (base / "queries.jsonl").open() as f:
        for line in f:
            rec = json.loads(line)
            if rec["_id"] in qrels:
                queries[rec["_id"]] = rec["text"]
    return corpus, queries, qrels


def write_corpus_files(corpus: dict[str, dict[str, str]], folder: Path) -> Path:
    """One .txt file per BEIR document (title, blank line, text): what a user's folder looks like."""
    folder.mkdir(parents=True, exist_ok=True)
    for did, rec in corpus.items():
        path = folder / f"{did}.txt"
        body = f"{rec['title']}\n\n{rec['text']}" if rec["title"] else rec["text"]
        if not path.exists() or path.read_text() != body:
            path.write_text(body)
    return folder


def save(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2))
    return path
