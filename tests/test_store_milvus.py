"""What only the Milvus store has (RAG_STORE=milvus, on Milvus Lite): the store recorded in the
manifest, one process per Milvus Lite file, Milvus Lite's gRPC server shared by two `rag serve`
replicas, and listings read in pages. test_store.py (kill -9 during an ingest included) and
test_ingest.py run on it as well."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from rag.api import RagIndex
from rag.errors import IndexLockedError, IndexMismatchError

from .conftest import FakeEmbedder, free_port, rag_serve, store_settings, write


def test_the_manifest_records_the_store_and_the_other_is_refused(tmp_path) -> None:
    local, milvus = store_settings(tmp_path / "a"), store_settings(tmp_path / "b", "milvus")
    for s in (local, milvus):
        with RagIndex.open(s, FakeEmbedder()) as idx:
            idx.ingest([write(tmp_path / "d" / "x.txt", "Otters hold hands while sleeping.")])
            assert idx.info()["store"] == s.store
        assert json.loads((s.index / "manifest.json").read_text())["store"] == s.store
    as_milvus = local.model_copy(update={"store": "milvus"})
    with pytest.raises(IndexMismatchError, match="RAG_STORE=local to use it"):
        RagIndex.open(as_milvus, FakeEmbedder())
    as_local = milvus.model_copy(update={"store": "local"})
    with pytest.raises(IndexMismatchError, match="RAG_STORE=milvus to use it"):
        RagIndex.open(as_local, FakeEmbedder())
    assert not (milvus.index / "rag.sqlite3").exists()  # refused before anything was written


@pytest.mark.slow
def test_a_second_process_on_a_milvus_lite_file_is_told_to_use_the_server(tmp_path) -> None:
    s = store_settings(tmp_path, "milvus")
    with RagIndex.open(s, FakeEmbedder()):
        pass
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pymilvus import MilvusClient;"
            f"c = MilvusClient({str(s.index / 'milvus.db')!r}); print('open', flush=True);"
            "time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        with pytest.raises(IndexLockedError, match=r"RAG_MILVUS_URI=http://127\.0\.0\.1:P"):
            RagIndex.open(s, FakeEmbedder())
    finally:
        holder.kill()
        holder.wait()


@contextmanager
def milvus_lite_server(data_dir: Path, log_path: Path) -> Iterator[str]:
    """`milvus-lite server` on a free loopback port: yields its URI once it accepts."""
    port = free_port()
    log = log_path.open("w")
    exe = Path(sys.executable).with_name("milvus-lite")
    proc = subprocess.Popen(
        [
            str(exe),
            "server",
            "--data-dir",
            str(data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"milvus-lite server did not start:\n{log_path.read_text()}"
                    ) from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _sources(url: str, query: str) -> list[str]:
    r = httpx.post(f"{url}/v1/search", json={"query": query, "k": 5}, timeout=60)
    assert r.status_code == 200, r.text
    return [Path(h["source"]).name for h in r.json()["hits"]]


@pytest.mark.slow
def test_two_replicas_share_one_milvus_index(tmp_path) -> None:
    """Two `rag serve` processes on one Milvus Lite server: an upload through one is found
    through the other, a delete through the other is gone from both."""
    with milvus_lite_server(tmp_path / "milvus", tmp_path / "milvus.log") as uri:
        base = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
        base |= {"RAG_STORE": "milvus", "RAG_MILVUS_URI": uri}
        env_a = base | {"RAG_INDEX": str(tmp_path / "a")}
        env_b = base | {"RAG_INDEX": str(tmp_path / "b")}
        with (
            rag_serve(env_a, tmp_path / "a.log", cwd=tmp_path) as a,
            rag_serve(env_b, tmp_path / "b.log", cwd=tmp_path) as b,
        ):
            text = b"The kiln controller runs firmware version 4.2. Glazes melt in the kiln."
            r = httpx.post(
                f"{a}/v1/documents",
                files=[("files", ("kiln.txt", text, "text/plain"))],
                timeout=120,
            )
            assert r.status_code == 201, r.text
            for mode in ("keyword", "dense", "hybrid"):
                r = httpx.post(
                    f"{b}/v1/search", json={"query": "kiln firmware", "k": 3, "mode": mode}
                )
                assert [Path(h["source"]).name for h in r.json()["hits"]] == ["kiln.txt"], mode
            [doc] = httpx.get(f"{b}/v1/documents").json()["data"]
            assert httpx.delete(f"{b}/v1/documents/{doc['id']}").status_code == 200
            for url in (a, b):
                assert _sources(url, "kiln firmware") == []
                assert httpx.get(f"{url}/v1/documents").json()["data"] == []


def test_listings_past_the_page_size_are_read_in_pages(tmp_path, monkeypatch) -> None:
    """A Milvus server caps one query's result (16,384 rows), so listings are read in pages;
    forced here to 3 rows a page: the listing, the counts and the clearing of replaced chunks
    see every row."""
    settings = store_settings(tmp_path, "milvus")
    for i in range(11):
        write(tmp_path / "d" / f"f{i:02d}.txt", f"Document {i} tells of otters and kilns.")
    with RagIndex.open(settings, FakeEmbedder()) as idx:
        idx.ingest([tmp_path / "d"])
        store = idx.store
        whole = [(d.source, d.n_chunks) for d in store.documents()]
        pages: list[int] = []
        real = store.client.query_iterator

        def spy(*args, **kwargs):
            it = real(*args, **kwargs)
            step = it.next

            def next_page():
                page = step()
                if page:
                    pages.append(len(page))
                return page

            it.next = next_page
            return it

        monkeypatch.setattr(store.client, "query_iterator", spy)
        store.page_size = 3
        assert [(d.source, d.n_chunks) for d in store.documents()] == whole and len(whole) == 11
        assert pages == [3, 3, 3, 2]
        assert store.counts()["documents"] == 11
        # Six files change: each one's old chunks are found (in pages) and deleted.
        for i in range(6):
            write(tmp_path / "d" / f"f{i:02d}.txt", f"Changed {i}. " + "More words here. " * 30)
        pages.clear()
        idx.ingest([tmp_path / "d"])
        assert pages  # the replaced chunks were listed in pages
        heads = {r["id"]: r["gen"] for r in store._all(store.docs, "gen >= 0", ["gen"])}
        chunks = store._all(store.chunks, "id >= 0 or id < 0", ["doc_id", "gen"])
        assert len(heads) == 11 and all(c["gen"] == heads[c["doc_id"]] for c in chunks)
        assert len(chunks) == sum(d.n_chunks for d in store.documents()) > 11
