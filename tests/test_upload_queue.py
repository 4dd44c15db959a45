"""Uploads to one rag serve take turns at the index writer (issue 14): a second upload waits and
is indexed too, /healthz is answered meanwhile, and a full queue or a wait that runs out is a
503 with Retry-After that leaves no stored copy behind. Real server processes, real model."""

from __future__ import annotations

import random
import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest

from .test_hardening_server import HealthProbe, start_server, stop

pytestmark = pytest.mark.slow
WORDS = [
    "heron",
    "river",
    "marsh",
    "reed",
    "willow",
    "otter",
    "stone",
    "bridge",
    "lantern",
    "harbour",
    "ledger",
    "orchard",
    "meadow",
    "falcon",
    "quarry",
    "mill",
    "kettle",
    "cobble",
    "thistle",
    "beacon",
    "ferry",
    "granary",
    "spire",
    "tannery",
]


def text(seed: int, paragraphs: int) -> bytes:
    """Distinct prose-like paragraphs: every chunk is embedded, none reused."""
    rng = random.Random(seed)
    paras = [
        " ".join(
            " ".join(rng.choices(WORDS, k=12)).capitalize() + "." for _ in range(rng.randint(3, 5))
        )
        for _ in range(paragraphs)
    ]
    return "\n\n".join(paras).encode()


def upload(url: str, name: str, data: bytes, out: dict[str, httpx.Response]) -> None:
    out[name] = httpx.post(f"{url}/v1/documents", files=[("files", (name, data))], timeout=900)


def waiting_for(url: str, n: int, timeout: float = 120) -> None:
    """Until /metrics says `n` uploads wait for the writer."""
    deadline = time.monotonic() + timeout
    while f"rag_uploads_waiting {n}\n" not in httpx.get(f"{url}/metrics").text:
        assert time.monotonic() < deadline, f"{n} uploads never waited"
        time.sleep(0.05)


def stored(base: Path) -> set[str]:
    return {p.name for p in (base / "index" / "uploads").rglob("*") if p.is_file()}


def test_two_concurrent_uploads_are_both_indexed(tmp_path: Path) -> None:
    proc, url, _ = start_server(tmp_path)
    try:
        probe = HealthProbe(url)
        probe.start()
        out: dict[str, httpx.Response] = {}
        threads = [
            threading.Thread(target=upload, args=(url, f"part{i}.txt", text(i, 150), out))
            for i in (1, 2)
        ]
        t0 = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        seconds = time.perf_counter() - t0
        probe.done.set()
        probe.join()
        assert {n: r.status_code for n, r in out.items()} == {"part1.txt": 201, "part2.txt": 201}
        names = {Path(d["source"]).name for d in httpx.get(f"{url}/v1/documents").json()["data"]}
        assert {"part1.txt", "part2.txt"} <= names
        lat = sorted(probe.latencies)
        print(
            f"\ntwo uploads indexed in {seconds:.1f} s; /healthz meanwhile: {len(lat)} probes, "
            f"median {statistics.median(lat) * 1000:.1f} ms, max {lat[-1] * 1000:.0f} ms"
        )
        assert statistics.median(lat) < 0.1
    finally:
        stop(proc)


def test_a_full_queue_and_a_long_wait_are_503_with_retry_after(tmp_path: Path) -> None:
    """One upload is indexed, one waits (RAG_UPLOAD_QUEUE=1), a third is turned away at once;
    the waiting one gives up after RAG_UPLOAD_WAIT_S. Neither leaves a stored file."""
    proc, url, _ = start_server(tmp_path, RAG_UPLOAD_QUEUE="1", RAG_UPLOAD_WAIT_S="3")
    try:
        out: dict[str, httpx.Response] = {}
        first = threading.Thread(target=upload, args=(url, "long.txt", text(3, 1200), out))
        first.start()
        time.sleep(1.0)  # the long upload has its turn (its body is small: sent at once)
        second = threading.Thread(target=upload, args=(url, "waits.txt", b"Herons fish.", out))
        second.start()
        waiting_for(url, 1)  # the second upload is in the queue
        upload(url, "third.txt", b"Otters swim.", out)
        assert first.is_alive()  # answered at once, not after the long upload
        second.join()
        first.join()
        full, waited = out["third.txt"], out["waits.txt"]
        assert full.status_code == 503, full.text
        assert full.json()["error"]["code"] == "upload_queue_full"
        assert "RAG_UPLOAD_QUEUE" in full.json()["error"]["message"]
        assert int(full.headers["Retry-After"]) >= 1
        assert waited.status_code == 503, waited.text
        assert waited.json()["error"]["code"] == "upload_wait_timeout"
        assert int(waited.headers["Retry-After"]) >= 1
        assert out["long.txt"].status_code == 201, out["long.txt"].text
        assert stored(tmp_path) == {"long.txt"}  # the refused ones stored nothing
        # Sent again once the writer is free, it is indexed.
        upload(url, "waits.txt", b"Herons fish in the shallow river.", out)
        assert out["waits.txt"].status_code == 201, out["waits.txt"].text
    finally:
        stop(proc)


def test_a_delete_waits_for_an_upload_of_the_same_name(tmp_path: Path) -> None:
    """A delete sent while an upload of the same name waits its turn takes its turn after it
    (before, it ran at once: it unlinked the file the upload had just stored, the upload failed
    with "cannot read" and put the deleted version back on disk, a file the index no longer
    held). Index and disk agree at the end, and the old text is gone from both."""
    proc, url, _ = start_server(tmp_path)
    try:
        out: dict[str, httpx.Response] = {}
        upload(url, "keeper.txt", b"Old fact: the keeper is Gustavo.", out)
        assert out["keeper.txt"].status_code == 201, out["keeper.txt"].text
        old_id = out["keeper.txt"].json()["documents"][0]["id"]
        first = threading.Thread(target=upload, args=(url, "long.txt", text(4, 600), out))
        first.start()
        time.sleep(1.0)  # the long upload has its turn
        again: dict[str, httpx.Response] = {}
        second = threading.Thread(
            target=upload, args=(url, "keeper.txt", b"New fact: the keeper is Rosalind.", again)
        )
        second.start()
        waiting_for(url, 1)
        deleted: list[httpx.Response] = []
        third = threading.Thread(
            target=lambda: deleted.append(httpx.delete(f"{url}/v1/documents/{old_id}", timeout=900))
        )
        third.start()
        waiting_for(url, 2)  # the delete waits behind the upload, it does not run beside it
        assert first.is_alive()
        for t in (first, second, third):
            t.join()
        assert out["long.txt"].status_code == 201, out["long.txt"].text
        assert again["keeper.txt"].status_code == 201, again["keeper.txt"].text
        assert deleted[0].status_code in (200, 404), deleted[0].text
        docs = httpx.get(f"{url}/v1/documents").json()["data"]
        in_index = {Path(d["source"]).name for d in docs}
        assert stored(tmp_path) == in_index  # no stored file the index lacks, and none missing
        files = [p for p in (tmp_path / "index" / "uploads").rglob("keeper.txt")]
        assert all(b"Gustavo" not in p.read_bytes() for p in files)
        hits = httpx.post(f"{url}/v1/search", json={"query": "keeper Gustavo"}).json()["hits"]
        assert all("Gustavo" not in h["text"] for h in hits)
    finally:
        stop(proc)
