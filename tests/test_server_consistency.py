"""Readers see one generation of the index while another thread ingests (rag serve does both)."""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from rag.api import RagIndex
from rag.config import Settings

from .conftest import FakeEmbedder, write


def _version(n: int) -> str:
    # Six chunks of 40 tokens at most, each carrying the round number.
    return "\n\n".join(
        f"Alpha section {s} of round r{n}. " + " ".join(["alpha beta gamma delta"] * 6)
        for s in range(6)
    )


def test_searches_during_ingest_see_whole_generations(tmp_path: Path) -> None:
    settings = Settings(index=tmp_path / "index", chunk_tokens=40, chunk_overlap=8)
    idx = RagIndex.open(settings, FakeEmbedder())
    doc = write(tmp_path / "docs" / "alpha.txt", _version(0))
    idx.ingest([doc])
    n_chunks = idx.documents()[0].n_chunks
    assert n_chunks >= 5
    stop = threading.Event()
    problems: list[str] = []
    rounds = 0
    searches = 0

    def writer() -> None:
        nonlocal rounds
        n = 1
        try:
            while not stop.is_set():
                write(doc, _version(n))
                idx.ingest([doc])
                rounds = n
                n += 1
        except Exception as exc:  # a thread's exception would otherwise only be printed
            problems.append(f"writer raised {exc!r}")

    def reader(mode: str) -> None:
        nonlocal searches
        while not stop.is_set():
            try:
                hits = idx.search("alpha beta gamma", 5, mode=mode)
            except Exception as exc:  # a half-written generation must not make a search fail
                problems.append(f"{mode}: search raised {exc!r}")
                return
            searches += 1
            found = {m for h in hits for m in re.findall(r"round (r\d+)", h.text)}
            if len(hits) != 5:
                problems.append(f"{mode}: {len(hits)} hits instead of 5")
            elif len(found) > 1:
                problems.append(f"{mode}: hits from several versions {sorted(found)}")

    threads = [threading.Thread(target=writer)] + [
        threading.Thread(target=reader, args=(m,)) for m in ("dense", "keyword", "hybrid", "dense")
    ]
    for t in threads:
        t.start()
    time.sleep(4)
    stop.set()
    for t in threads:
        t.join()
    idx.close()
    assert rounds >= 3 and searches >= 30, (rounds, searches)  # enough to have raced
    assert not problems, f"{len(problems)} inconsistent reads of {searches}: {problems[:5]}"
