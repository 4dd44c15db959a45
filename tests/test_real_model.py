"""Against the real packaged model, the real index on disk and real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag.api import RagIndex
from rag.config import Settings
from rag.embeddings import SentenceTransformerEmbedder

from .conftest import shared, write

pytestmark = pytest.mark.slow

SEED_CASES = [
    ("What did Austin say?", "002_18a88cf3fba0953a.txt"),
    ("What did Mattis promise Japan?", "000_c2e21f0077d56f8f.txt"),
]


def rag(*args: str, index: Path, env: dict[str, str] | None = None, check: bool = True):
    full_env = {**os.environ, **(env or {})}
    proc = subprocess.run(
        [sys.executable, "-m", "rag", "--index", str(index), *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=600,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"rag {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


@pytest.fixture(scope="module")
def seed_index(tmp_path_factory) -> Path:
    index = tmp_path_factory.mktemp("seeds") / "index"
    proc = rag("ingest", str(shared("corpus", "seeds")), index=index)
    assert "2 added" in proc.stdout
    return index


@pytest.mark.parametrize("mode", ["dense", "keyword", "hybrid"])
@pytest.mark.parametrize(("question", "expected"), SEED_CASES)
def test_seed_questions_rank_the_right_article_first(seed_index, mode, question, expected):
    out = rag("search", question, "--mode", mode, "--json", "-k", "3", index=seed_index).stdout
    hits = json.loads(out)
    assert Path(hits[0]["source"]).name == expected
    assert hits[0]["ranks"].get(mode if mode != "hybrid" else "dense")


def test_search_text_output_names_document_and_span(seed_index) -> None:
    out = rag("search", "What did Austin say?", "-k", "2", index=seed_index).stdout
    first = out.splitlines()[0]
    assert first.startswith("1. [") and "002_18a88cf3fba0953a.txt" in first and "chars " in first


def test_round_trip_in_a_fresh_process_gives_the_same_hits(seed_index, embedder) -> None:
    settings = Settings(index=seed_index)
    with RagIndex.open(settings, embedder, create=False) as idx:
        here = [(h.chunk_id, h.score) for h in idx.search("North Korea missile test", 5)]
    out = rag("search", "North Korea missile test", "--json", "-k", "5", index=seed_index).stdout
    there = [(h["chunk_id"], h["score"]) for h in json.loads(out)]
    assert [c for c, _ in here] == [c for c, _ in there]
    assert np.allclose([s for _, s in here], [s for _, s in there], atol=1e-6)


def test_reingest_embeds_nothing(seed_index) -> None:
    out = rag("ingest", str(shared("corpus", "seeds")), index=seed_index).stdout
    assert "0 added, 0 updated, 2 unchanged" in out and "0 chunks embedded" in out


def test_other_chunking_searches_but_is_refused_an_ingest_with_how_to_rebuild(seed_index):
    other = {"RAG_CHUNK_TOKENS": "100"}
    proc = rag("search", "Austin", index=seed_index, env=other, check=False)
    assert proc.returncode == 0 and "Austin" in proc.stdout, proc.stderr
    proc = rag("ingest", str(shared("corpus", "seeds")), index=seed_index, env=other, check=False)
    assert proc.returncode == 1
    assert "chunk_tokens=" in proc.stderr and "--index NEW_DIR" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_another_model_is_refused(seed_index, tmp_path, embedder) -> None:
    other = tmp_path / "other-model"
    import shutil

    shutil.copytree(embedder.path, other)
    cfg = json.loads((other / "1_Pooling" / "config.json").read_text())
    cfg["pooling_mode_mean_tokens"], cfg["pooling_mode_cls_token"] = False, True
    (other / "1_Pooling" / "config.json").write_text(json.dumps(cfg))
    proc = rag("search", "x", index=seed_index, env={"RAG_MODEL_PATH": str(other)}, check=False)
    assert proc.returncode == 1
    assert "fingerprint" in proc.stderr and "RAG_MODEL_PATH" in proc.stderr


def test_cli_reports_bad_files_and_counts_them(tmp_path) -> None:
    d = tmp_path / "mixed"
    write(d / "ok.md", "# Ok\n\nA fine file about kites.")
    (d / "bad.pdf").write_bytes(b"not a pdf at all")
    write(d / "empty.txt", "")
    proc = rag("ingest", str(d), str(tmp_path / "missing"), index=tmp_path / "i")
    assert "1 added, 0 updated, 0 unchanged, 3 skipped" in proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("skipped ")]
    assert len(lines) == 3 and any("bad.pdf" in ln and "PDF" in ln for ln in lines)


def test_real_chunks_fit_the_model(embedder, tmp_path) -> None:
    text = "\n\n".join(
        json.loads(line)["text"]
        for line in shared("datasets", "scifact", "corpus.jsonl").open().readlines()[:40]
    )
    settings = Settings(index=tmp_path / "i")
    idx = RagIndex.open(settings, embedder)
    chunks = idx.splitter.split(text)
    assert len(chunks) > 20
    for c in chunks:
        assert text[c.start : c.end] == c.text
        n = len(embedder.model.tokenizer(c.text)["input_ids"])
        assert n <= 256  # with [CLS] and [SEP]: nothing truncated
    idx.close()


def test_fingerprint_is_stable_and_model_is_normalised(embedder) -> None:
    fresh = SentenceTransformerEmbedder()
    assert fresh.fingerprint == embedder.fingerprint and len(fresh.fingerprint) == 16
    v = embedder.embed(["hello world", "a much longer sentence about something else"])
    assert v.shape == (2, 384) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    direct = embedder.model.encode(["hello world"], normalize_embeddings=True)
    assert np.allclose(v[0], direct[0], atol=1e-5)
