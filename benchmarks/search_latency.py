"""Search latency (p50/p95 over 100 queries, k=10) at 5k and 100k chunks, every mode.

    .venv/bin/python benchmarks/search_latency.py --index /tmp/bench/scifact-200

Indexes of the asked sizes are made from a real SciFact index (ingest_throughput.py
--keep-index): the 5k one takes its first 5,000 chunks; the 100k one repeats all of its chunks
(text and vector, as new documents) until there are 100,000. Repetition keeps the real term and
vector distributions while making every posting list and the FAISS scan as long as at the
target size. Each query is timed end to end through RagIndex.search, query embedding included.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import time
from pathlib import Path

from common import load_beir, machine, save, take_documents

from rag.api import RagIndex
from rag.config import Settings
from rag.embeddings import SentenceTransformerEmbedder
from rag.store import IndexStore


def build_sized(source: Path, target: Path, n_chunks: int, embedder) -> None:
    shutil.rmtree(target, ignore_errors=True)
    manifest = read_manifest(source)
    store = IndexStore.open(target, manifest["embedding"], manifest["chunking"])
    conn = store._conn
    conn.execute("ATTACH DATABASE ? AS src", (str(source / "rag.sqlite3"),))
    total = conn.execute("SELECT COUNT(*) FROM src.chunks").fetchone()[0]
    docs = conn.execute(
        "SELECT d.id, COUNT(c.id) FROM src.documents d JOIN src.chunks c ON c.doc_id=d.id"
        " GROUP BY d.id ORDER BY MIN(c.id)"
    ).fetchall()
    copy = 0
    have = 0
    conn.execute("BEGIN")
    while have < n_chunks:
        suffix = f"#{copy}"
        take, have = take_documents(docs, have, n_chunks)
        marks = ",".join("?" * len(take))
        conn.execute(
            "INSERT INTO documents (id, source, file_type, title, content_hash, size, mtime, text,"
            " page_starts, sections, n_chunks, added_at, updated_at)"
            " SELECT id || ?, source || ?, file_type, title, content_hash,"
            f" size, mtime, text, page_starts, sections, n_chunks, added_at, updated_at"
            f" FROM src.documents WHERE id IN ({marks})",
            [suffix, suffix, *take],
        )
        conn.execute(
            'INSERT INTO chunks (doc_id, ordinal, start, "end", text, n_tokens, text_hash, vector)'
            ' SELECT doc_id || ?, ordinal, start, "end", text, n_tokens, text_hash, vector'
            f" FROM src.chunks WHERE doc_id IN ({marks}) ORDER BY id",
            [suffix, *take],
        )
        copy += 1
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE src")
    print(f"built {target}: {have} chunks from {total} real ones ({copy} copies)")
    store.acquire_write_lock()
    store.flush()
    store.close()


def read_manifest(index: Path) -> dict:
    conn = sqlite3.connect(index / "rag.sqlite3")
    text = conn.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()[0]
    conn.close()
    return json.loads(text)


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True, help="a real SciFact index")
    ap.add_argument("--sizes", type=int, nargs="+", default=[5000, 100000])
    ap.add_argument("--queries", type=int, default=100)
    ap.add_argument("--work", type=Path, default=Path("/tmp/rag-latency"))
    args = ap.parse_args()

    _, queries, _ = load_beir("scifact")
    qs = list(queries.values())[: args.queries]
    embedder = SentenceTransformerEmbedder()
    embedder.embed(["warm up"])
    results = {}
    # Query embedding alone, for the breakdown.
    t = []
    for q in qs:
        t0 = time.perf_counter()
        embedder.embed_query(q)
        t.append((time.perf_counter() - t0) * 1000)
    results["query_embedding_ms"] = {
        "p50": round(percentile(t, 50), 2),
        "p95": round(percentile(t, 95), 2),
    }
    for size in args.sizes:
        target = args.work / f"chunks-{size}"
        t0 = time.perf_counter()
        build_sized(args.index, target, size, embedder)
        build_s = time.perf_counter() - t0
        row = {"build_s": round(build_s, 1)}
        t0 = time.perf_counter()
        chunking = read_manifest(target)["chunking"]
        settings = Settings(
            index=target,
            chunk_tokens=chunking["chunk_tokens"],
            chunk_overlap=chunking["chunk_overlap"],
        )
        idx = RagIndex.open(settings, embedder, create=False)
        idx.search("warm up the index", 10)
        row["open_and_first_search_s"] = round(time.perf_counter() - t0, 2)
        row["chunks"] = idx.store.counts()["chunks"]
        for mode in ("dense", "keyword", "hybrid"):
            for q in qs[:10]:
                idx.search(q, 10, mode=mode)
            lat = []
            for q in qs:
                t0 = time.perf_counter()
                idx.search(q, 10, mode=mode)
                lat.append((time.perf_counter() - t0) * 1000)
            row[mode] = {
                "p50_ms": round(percentile(lat, 50), 2),
                "p95_ms": round(percentile(lat, 95), 2),
                "mean_ms": round(statistics.mean(lat), 2),
                "max_ms": round(max(lat), 2),
            }
        idx.close()
        results[str(size)] = row
        print(size, row)
    results["machine"] = machine()
    print(save("search_latency", results))


if __name__ == "__main__":
    main()
