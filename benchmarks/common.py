"""Shared helpers for the benchmark scripts: data sets, machine description, result files."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RAG_SHARED_DIR", ROOT.parent / "shared"))
DATASETS = SHARED / "datasets"
RESULTS = ROOT / "benchmarks" / "results"

sys.path.insert(0, str(ROOT))


def machine() -> dict[str, Any]:
    """rag's own description of the machine (as `rag eval` records it), plus torch's threads."""
    import torch

    from rag.eval.report import machine as rag_machine

    return {**rag_machine(), "torch_threads": torch.get_num_threads(), "torch": torch.__version__}


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


def scifact_sentences(n: int) -> list[str]:
    """n sentences (of 4 words or more) of SciFact abstracts, in a fixed random order: the
    texts an embedding client sends."""
    import random
    import re

    corpus, _, _ = load_beir("scifact")
    out = []
    for rec in corpus.values():
        out += [s.strip() for s in re.split(r"(?<=[.!?])\s+", rec["text"]) if len(s.split()) >= 4]
    random.Random(0).shuffle(out)
    return out[:n]


def take_documents(docs: list[tuple[str, int]], have: int, n_chunks: int) -> tuple[list[str], int]:
    """The next copy's documents when an index is grown to `n_chunks` by copying a real one:
    `docs` (id, chunk count) in order, taken until the count is reached (at least one); the
    chunk count after taking them."""
    take: list[str] = []
    for did, n in docs:
        if have + n > n_chunks and take:
            break
        take.append(did)
        have += n
        if have >= n_chunks:
            break
    return take, have
