"""Ingestion on Ray (issue 16, rag/ingest/on_ray.py): a local Ray with 2 workers bound to
127.0.0.1, started once for the module. The seed corpus and 300 SciFact abstracts ingested on
Ray give the same documents, chunks and vectors as a local ingest (Milvus Lite, and the local
store); re-ingests skip, update and prune as locally; a worker dying and the driver killed
both leave the last committed state. Without --ray, Ray is never imported."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from rag.api import Components, RagIndex, make_embedder
from rag.cli import cli
from rag.config import Settings
from rag.embeddings import Embedder
from rag.errors import ConfigError, RagError

from .conftest import ROOT, FakeEmbedder, fakes, free_port, shared, write
from .test_ingest import _integrity

WORKERS = 2
SCIFACT_FILES = 300
CRASH = "SELF-DESTRUCT-7f3a"  # a file holding this kills the Ray worker that embeds it


@pytest.fixture(scope="module")
def ray_address() -> Any:
    """A local Ray, 2 CPUs, 127.0.0.1 (as `rag ingest --ray` starts one), for the module. Its
    workers can import this test package (the crashing embedder below)."""
    from rag.ingest.on_ray import import_ray, start_local_ray

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(
            "PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
        )
        start_local_ray(WORKERS)
    ray = import_ray()
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def scifact(tmp_path_factory) -> Path:
    """300 SciFact abstracts as .txt files (title, blank line, text)."""
    folder = tmp_path_factory.mktemp("scifact")
    with shared("datasets", "scifact", "corpus.jsonl").open() as f:
        for _, line in zip(range(SCIFACT_FILES), f, strict=False):
            rec = json.loads(line)
            write(folder / f"{rec['_id']}.txt", f"{rec['title']}\n\n{rec['text']}")
    return folder


def crashing_embedder(settings: Settings) -> Embedder:
    """The real embedder, except that text holding CRASH ends the process (a worker dying)."""
    embedder = make_embedder(settings)
    embed = embedder.embed

    def guarded(texts, progress=None):
        if any(CRASH in t for t in texts):
            os._exit(1)
        return embed(texts, progress)

    embedder.embed = guarded  # type: ignore[method-assign]
    return embedder


def _chunks(settings: Settings) -> tuple[dict[str, tuple], dict[tuple, tuple], np.ndarray]:
    """Documents {id: (source, type, title, hash, chunks)}, chunks {(doc id, ordinal): (id,
    source, start, end, text, text hash)} and their vectors in key order, from either store.
    A chunk's id is the store's: SQLite numbers them in order of writing; Milvus hashes the
    document's generation in, which is a clock, so there (doc id, ordinal) is its identity."""
    from rag.store.milvus import MilvusStore

    with RagIndex.open(settings, create=False) as idx:
        docs = {
            d.id: (d.source, d.file_type, d.title, d.content_hash, d.n_chunks)
            for d in idx.documents()
        }
        store = idx.store
        if isinstance(store, MilvusStore):
            heads = {r["id"]: r["gen"] for r in store._all(store.docs, "gen >= 0", ["gen"])}
            fields = ["doc_id", "gen", "ordinal", "span_start", "span_end", "text", "text_hash"]
            rows = [
                r
                for r in store._all(store.chunks, "id >= 0 or id < 0", [*fields, "vector"])
                if heads.get(r["doc_id"]) == r["gen"]
            ]
            got = {
                (r["doc_id"], r["ordinal"]): (
                    None,
                    docs[r["doc_id"]][0],
                    r["span_start"],
                    r["span_end"],
                    r["text"],
                    r["text_hash"],
                )
                for r in rows
            }
            vec = {(r["doc_id"], r["ordinal"]): np.asarray(r["vector"], np.float32) for r in rows}
        else:
            conn = store._conn
            q = 'SELECT id, doc_id, ordinal, start, "end", text, text_hash, vector FROM chunks'
            got, vec = {}, {}
            for cid, doc, o, s, e, text, th, v in conn.execute(q):
                got[(doc, o)] = (cid, docs[doc][0], s, e, text, th)
                vec[(doc, o)] = np.frombuffer(v, np.float32)
    assert len(got) == sum(d[4] for d in docs.values())
    keys = sorted(got)
    return docs, {k: got[k] for k in keys}, np.stack([vec[k] for k in keys])


def _same_index(a: Settings, b: Settings) -> int:
    """Both indexes hold the same documents and chunks (ids, text, offsets, paths) and vectors
    within 1e-5; the number of chunks."""
    docs_a, chunks_a, vecs_a = _chunks(a)
    docs_b, chunks_b, vecs_b = _chunks(b)
    assert docs_a == docs_b
    assert chunks_a == chunks_b
    assert vecs_a.shape == vecs_b.shape
    assert float(np.abs(vecs_a - vecs_b).max()) <= 1e-5
    return len(chunks_a)


def _cli(index: Path, *args: str, env: dict[str, str] | None = None, obj: Any = None):
    return CliRunner().invoke(
        cli, ["--index", str(index), *args], env=env, obj=obj, catch_exceptions=False
    )


@pytest.mark.slow
def test_seeds_and_scifact_on_ray_match_a_local_ingest(ray_address, scifact, tmp_path) -> None:
    """Milvus Lite (file form), through `rag ingest --ray`: 302 files, every chunk and vector
    as the local pipeline makes them. Then the seeds alone into the local store, where even
    the chunk ids (SQLite's, in order of writing) match: the commits are the same."""
    seeds = shared("corpus", "seeds")
    local = Settings(index=tmp_path / "local", store="milvus")
    with RagIndex.open(local) as idx:
        expected = idx.ingest([seeds, scifact])
    assert len(expected.added) == SCIFACT_FILES + 2 and not expected.skipped

    on_ray = tmp_path / "ray"
    env = {"RAG_STORE": "milvus"}
    res = _cli(on_ray, "ingest", "-q", "--json", str(seeds), str(scifact), "--ray", env=env)
    assert res.exit_code == 0, res.output
    report = json.loads(res.output)
    assert report["added"] == expected.added
    assert report["chunks_embedded"] == expected.chunks_embedded
    n = _same_index(local, Settings(index=on_ray, store="milvus"))
    assert n == expected.chunks_embedded > 2 * SCIFACT_FILES

    a, b = Settings(index=tmp_path / "seeds-local"), Settings(index=tmp_path / "seeds-ray")
    with RagIndex.open(a) as idx:
        idx.ingest([seeds])
    with RagIndex.open(b) as idx:
        idx.ingest([seeds], ray="local", ray_workers=WORKERS)
    assert _same_index(a, b) > 2


def _small_corpus(scifact: Path, root: Path, n: int = 30) -> Path:
    for f in sorted(scifact.iterdir())[:n]:
        write(root / f.name, f.read_text())
    for f in shared("corpus", "seeds").iterdir():
        write(root / "seeds" / f.name, f.read_text())
    return root


@pytest.mark.slow
def test_a_reingest_on_ray_updates_and_prunes_leaving_no_stale_chunk(
    ray_address, scifact, tmp_path
) -> None:
    """On Ray into Milvus Lite: one file changed, one deleted; the re-ingest skips the rest,
    re-embeds only the changed text, and the index is then what a fresh local ingest of the
    files as they are now gives."""
    corpus = _small_corpus(scifact, tmp_path / "corpus")
    s = Settings(index=tmp_path / "ray", store="milvus")
    with RagIndex.open(s) as idx:
        first = idx.ingest([corpus], ray="local")
        n_chunks = {d.source: d.n_chunks for d in idx.documents()}
    n_files = len(first.added)
    files = sorted(corpus.glob("*.txt"), key=lambda f: -n_chunks[str(f.resolve())])
    changed, deleted = files[0], files[1]  # the one changed has the most chunks
    assert n_chunks[str(changed.resolve())] >= 3
    changed.write_text(changed.read_text() + "\n\nAn added closing sentence about zebrafish.")
    deleted.unlink()

    with RagIndex.open(s) as idx:
        again = idx.ingest([corpus], prune=True, ray="local")
        assert again.updated == [str(changed.resolve())]
        assert again.removed == [str(deleted.resolve())]
        assert len(again.unchanged) == n_files - 2 and not again.added
        assert again.chunks_embedded >= 1 and again.chunks_reused >= 2  # the unchanged text
        _integrity(idx)
        hits = idx.search("zebrafish closing sentence", 5, mode="keyword")
        assert hits and hits[0].source == str(changed.resolve())
        assert all(h.source != str(deleted.resolve()) for h in idx.search("anything", 50))

    fresh = Settings(index=tmp_path / "fresh", store="milvus")
    with RagIndex.open(fresh) as idx:
        idx.ingest([corpus])
    _same_index(s, fresh)


@pytest.mark.slow
def test_a_worker_dying_leaves_the_last_commit_and_the_next_ingest_finishes(
    ray_address, scifact, tmp_path
) -> None:
    """A file that kills the worker embedding it: the ingest stops with one clear error, the
    files committed before are whole in the index, and the next ingest (the file fixed)
    finishes the rest without embedding those again."""
    corpus = _small_corpus(scifact, tmp_path / "corpus", 40)
    victim = sorted(corpus.glob("*.txt"))[20]  # in the second task of 16 files
    victim.write_text(f"{victim.read_text()} {CRASH}")
    s = Settings(index=tmp_path / "idx", commit_every=16)
    components = Components(embedder=crashing_embedder)
    with RagIndex.open(s, components=components) as idx:
        with pytest.raises(RagError, match=r"a Ray worker failed on .*run the ingest again"):
            idx.ingest([corpus], ray="local")
        _integrity(idx)
        committed = len(idx.documents())
        assert 0 < committed < 42

    victim.write_text(victim.read_text().replace(CRASH, ""))
    with RagIndex.open(s, components=components) as idx:
        report = idx.ingest([corpus], ray="local")
        assert len(report.unchanged) == committed and len(report.added) == 42 - committed
        _integrity(idx)


@pytest.mark.slow
def test_kill_9_of_a_ray_ingest_leaves_the_last_committed_state(
    ray_address, scifact, tmp_path
) -> None:
    """`rag ingest --ray ADDRESS` as a real process on the module's Ray, killed with -9 after
    its first commits: the local store shows only whole documents, and the next ingest (on
    Ray) finishes the rest."""
    n = 100
    corpus = tmp_path / "corpus"
    for f in sorted(scifact.iterdir())[:n]:
        write(corpus / f.name, f.read_text())
    index = tmp_path / "idx"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env |= {"RAG_INDEX": str(index), "RAG_COMMIT_EVERY": "16"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag", "ingest", "-q", str(corpus), "--ray", ray_address],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=tmp_path,
    )
    db = index / "rag.sqlite3"
    deadline = time.monotonic() + 300
    try:
        while _documents(db) < 20:
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline, "no commit in 300 s"
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    s = Settings(index=index)
    with RagIndex.open(s) as idx:
        _integrity(idx)
        committed = len(idx.documents())
        assert 20 <= committed < n
        report = idx.ingest([corpus], ray=ray_address)
        assert len(report.unchanged) == committed
        assert len(report.added) == n - committed
        _integrity(idx)


def _documents(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_ray_options_on_the_command_line(ray_address, tmp_path) -> None:
    """`--ray` before the paths takes a path for one; more workers than CPUs is refused; the
    fake embedder (the collaborators passed to the CLI) runs in the workers too."""
    d = tmp_path / "docs"
    write(d / "a.txt", "Otters hold hands while they sleep.")
    res = _cli(tmp_path / "i", "ingest", "-q", "--ray", str(d), obj=fakes())
    assert res.exit_code == 0 and "1 added" in res.output, res.output
    res = _cli(tmp_path / "i", "ingest", "-q", "--ray", "--ray-workers", "3", str(d), obj=fakes())
    assert res.exit_code == 1
    assert "3 Ray workers asked for, but the Ray cluster has 2 CPUs" in res.output
    res = _cli(tmp_path / "i", "ingest", "--ray-workers", "2", str(d), obj=fakes())
    assert res.exit_code == 2 and "--ray-workers needs --ray" in res.output


@pytest.mark.slow
def test_workers_that_would_embed_otherwise_than_the_index_are_refused(
    ray_address, tmp_path
) -> None:
    """The workers build the model with the collaborators' factory (the v1 fake here); an
    index whose embedder differs (v2) refuses them before any file is sent."""
    d = tmp_path / "docs"
    write(d / "a.txt", "Otters hold hands while they sleep.")
    s = Settings(index=tmp_path / "i")
    with RagIndex.open(s, FakeEmbedder(version="v2"), components=fakes()) as idx:
        with pytest.raises(ConfigError, match=r"a Ray worker embeds with .*fake-64-v1"):
            idx.ingest([d], ray="local")
        assert idx.documents() == []


def test_nothing_at_the_ray_address_is_one_line_at_once(tmp_path) -> None:
    write(tmp_path / "docs" / "a.txt", "Otters hold hands while they sleep.")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env["RAG_INDEX"] = str(tmp_path / "i")
    t0 = time.monotonic()
    res = subprocess.run(
        [sys.executable, "-m", "rag", "ingest", str(tmp_path / "docs"), "--ray"],
        env=env | {"RAG_RAY_ADDRESS": f"127.0.0.1:{free_port()}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 1
    assert "nothing answers at 127.0.0.1:" in res.stderr and "ray start --head" in res.stderr
    assert time.monotonic() - t0 < 60


def test_without_ray_the_error_says_how_to_install_it(tmp_path, monkeypatch) -> None:
    write(tmp_path / "docs" / "a.txt", "Otters hold hands while they sleep.")
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` sees without the extra
    res = _cli(tmp_path / "i", "ingest", "--ray", "--", str(tmp_path / "docs"), obj=fakes())
    assert res.exit_code == 1
    assert "ingestion on Ray needs the scale extra: pip install -e '.[scale]'" in res.output
    res = _cli(tmp_path / "i", "ingest", "-q", str(tmp_path / "docs"), obj=fakes())
    assert res.exit_code == 0 and "1 added" in res.output  # no Ray asked for: none needed


def test_an_ingest_without_ray_never_imports_it(tmp_path) -> None:
    write(tmp_path / "docs" / "a.txt", "Otters hold hands while they sleep.")
    code = (
        "import sys; from click.testing import CliRunner; from rag.cli import cli;"
        "from tests.conftest import fakes;"
        "r = CliRunner().invoke(cli, ['--index', sys.argv[1], 'ingest', '-q', sys.argv[2]],"
        " obj=fakes()); assert r.exit_code == 0, r.output;"
        "print('ray' in sys.modules, 'rag.ingest.on_ray' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "i"), str(tmp_path / "docs")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split() == ["False", "False"]


class _SlowRay:
    """A stand-in for the ray module whose node misses Ray's 30 s start-up deadline
    `misses` times (as a loaded 2-core machine did once in CI)."""

    def __init__(self, misses: int) -> None:
        self.misses = misses
        self.inits = 0
        self.shutdowns = 0

    def init(self, **kwargs: Any) -> None:
        self.inits += 1
        if self.inits <= self.misses:
            raise Exception("The current node timed out during startup. This could happen ...")

    def shutdown(self) -> None:
        self.shutdowns += 1


def test_a_local_ray_that_misses_its_start_deadline_is_stopped_and_started_again(
    monkeypatch,
) -> None:
    from rag.ingest import on_ray

    slow = _SlowRay(misses=2)
    monkeypatch.setattr(on_ray, "import_ray", lambda loopback=True: slow)
    on_ray.start_local_ray(2)
    assert (slow.inits, slow.shutdowns) == (3, 2)

    hopeless = _SlowRay(misses=on_ray.START_ATTEMPTS)
    monkeypatch.setattr(on_ray, "import_ray", lambda loopback=True: hopeless)
    with pytest.raises(Exception, match="timed out during startup"):
        on_ray.start_local_ray(2)
    assert hopeless.inits == on_ray.START_ATTEMPTS


def test_other_ray_start_errors_are_not_retried(monkeypatch) -> None:
    from rag.ingest import on_ray

    class Broken(_SlowRay):
        def init(self, **kwargs: Any) -> None:
            self.inits += 1
            raise ValueError("num_cpus must be positive")

    broken = Broken(0)
    monkeypatch.setattr(on_ray, "import_ray", lambda loopback=True: broken)
    with pytest.raises(ValueError, match="num_cpus"):
        on_ray.start_local_ray(0)
    assert (broken.inits, broken.shutdowns) == (1, 0)
