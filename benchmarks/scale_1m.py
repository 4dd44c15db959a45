"""One million chunks in the local store, and as many as fit in Milvus Lite (issue 16): build
time, peak RAM, disk, hybrid p50/p95 over 1,000 SciFact queries, dense recall@10 against exact.

    nice .venv/bin/python benchmarks/scale_1m.py --work /tmp/scale1m
    nice .venv/bin/python benchmarks/scale_1m.py --work /tmp/scale1m --skip-local \
        --milvus-chunks 100000 --milvus-queries 200

Texts: SciFact's 5,183 abstracts are ingested once with the packaged model (work/scifact: real
chunks, real vectors), then copied as new documents (id and source suffixed '#<copy>') until
there are --chunks chunks, as search_latency.py builds its 100k index. Vectors: copy 0 keeps the
real ones; copy c >= 1 adds to each a Gaussian perturbation drawn with seed c, of norm
--noise (0.3: cosine 0.96 to the original), and normalises it again. No text is embedded a
second time (1,000,000 texts would take most of a day on 2 cores); the copies of a chunk are
near each other but not equal, so that recall against exact search is not a matter of ties.

Each step runs in its own process, so that its peak RSS (VmHWM) is its own: `build-local`
(rows copied into SQLite, then the FAISS index and the keyword postings built from them, as
`store.flush()` does), `search-local` (the Retriever RagIndex.search uses, with the ONNX embedder,
1,000 queries per mode, end to end with the query embedding; then recall@10 of dense_search
against an exact scan of every vector in SQLite), `update-local` (10 documents written again
into the loaded index: one commit of an incremental ingest, and its flush), and the first two
for Milvus Lite (a milvus.db
file, in-process), whose rows are the first --milvus-chunks of the local index's.
Writes benchmarks/results/scale_1m.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import DATASETS, machine, save, take_documents, write_corpus_files

HERE = Path(__file__).resolve()


def stored_write(store: Any, did: str, mtime: float) -> Any:
    """A stored document written again as it is (a DocumentWrite): its chunks and vectors read
    from the local store's SQLite."""
    from rag.documents import Chunk
    from rag.store import DocumentWrite

    doc = store.document(did)
    rows = store._conn.execute(
        'SELECT ordinal, start, "end", text, n_tokens, vector FROM chunks'
        " WHERE doc_id=? ORDER BY ordinal",
        (did,),
    ).fetchall()
    chunks = [Chunk(r[0], r[1], r[2], r[3], r[4]) for r in rows]
    vecs = np.vstack([np.frombuffer(r[5], dtype=np.float32) for r in rows])
    return DocumentWrite(doc, chunks, vecs, len(doc.text), mtime)


def rss_mb() -> dict[str, float]:
    """Peak and current resident set of this process (VmHWM, VmRSS), in MB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmHWM", "VmRSS")):
            out[line.split(":")[0]] = round(int(line.split()[1]) / 1024, 1)
    return {"peak_rss_mb": out["VmHWM"], "rss_mb": out["VmRSS"]}


def disk_mb(folder: Path) -> dict[str, float]:
    sizes: dict[str, float] = {}
    for f in folder.rglob("*"):
        if f.is_file():
            key = f.suffix or f.name
            sizes[key] = sizes.get(key, 0) + f.stat().st_size / 2**20
    return {"total": round(sum(sizes.values()), 1)} | {k: round(v, 1) for k, v in sizes.items()}


def percentile(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(p / 100 * (len(xs) - 1)))]


def queries(n: int) -> list[str]:
    with (DATASETS / "scifact" / "queries.jsonl").open() as f:
        return [json.loads(line)["text"] for line in f][:n]


def faiss_build() -> dict[str, str]:
    """Which of FAISS's SIMD kernels this process dispatched to (chosen at run time)."""
    import faiss

    return {
        "version": faiss.__version__,
        "simd_level": faiss.SIMDConfig.get_level_name(),
        "compile_options": faiss.get_compile_options(),
    }


# ---------------------------------------------------------------- the real SciFact index


def ingest_scifact(work: Path) -> dict[str, Any]:
    from common import load_beir

    from rag.api import RagIndex
    from rag.config import Settings
    from rag.embeddings import make_embedder

    corpus, _, _ = load_beir("scifact")
    docs = write_corpus_files(corpus, work / "scifact" / "documents")
    settings = Settings(index=work / "scifact" / "index")
    t0 = time.perf_counter()
    with RagIndex.open(settings, make_embedder(settings)) as idx:
        idx.ingest([docs])
        counts = idx.store.counts()
    return {"ingest_s": round(time.perf_counter() - t0, 1), **counts}


# ---------------------------------------------------------------- local store


def build_local(source: Path, target: Path, n_chunks: int, noise: float) -> dict[str, Any]:
    from rag.store import IndexStore

    shutil.rmtree(target, ignore_errors=True)
    manifest = json.loads((source / "manifest.json").read_text())
    store = IndexStore.open(target, manifest["embedding"], manifest["chunking"])
    conn = store._conn
    conn.execute("ATTACH DATABASE ? AS src", (str(source / "rag.sqlite3"),))
    docs = conn.execute(
        "SELECT d.id, COUNT(c.id) FROM src.documents d JOIN src.chunks c ON c.doc_id=d.id"
        " GROUP BY d.id ORDER BY MIN(c.id)"
    ).fetchall()
    rows = conn.execute(
        'SELECT doc_id, ordinal, start, "end", text, n_tokens, text_hash, vector'
        " FROM src.chunks ORDER BY id"
    ).fetchall()
    base = np.frombuffer(b"".join(r[7] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    dim = base.shape[1]
    t0 = time.perf_counter()
    have, copy = 0, 0
    conn.execute("BEGIN")
    while have < n_chunks:
        take, have = take_documents(docs, have, n_chunks)
        suffix = f"#{copy}"
        marks = ",".join("?" * len(take))
        conn.execute(
            "INSERT INTO documents (id, source, file_type, title, content_hash, size, mtime, text,"
            " page_starts, sections, n_chunks, added_at, updated_at, ocr_pages)"
            " SELECT id || ?, source || ?, file_type, title, content_hash, size, mtime, text,"
            " page_starts, sections, n_chunks, added_at, updated_at, ocr_pages"
            f" FROM src.documents WHERE id IN ({marks})",
            [suffix, suffix, *take],
        )
        vecs = base
        if copy:
            rng = np.random.default_rng(copy)
            vecs = base + rng.standard_normal(base.shape, dtype=np.float32) * (noise / dim**0.5)
            vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
        wanted = set(take)
        conn.executemany(
            'INSERT INTO chunks (doc_id, ordinal, start, "end", text, n_tokens, text_hash, vector)'
            " VALUES (?,?,?,?,?,?,?,?)",
            (
                (r[0] + suffix, *r[1:7], vecs[i].tobytes())
                for i, r in enumerate(rows)
                if r[0] in wanted
            ),
        )
        copy += 1
    conn.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'")
    conn.execute("COMMIT")
    conn.execute("DETACH DATABASE src")
    out: dict[str, Any] = {"chunks": have, "copies": copy, "real_chunks": len(rows)}
    out["rows_s"] = round(time.perf_counter() - t0, 1)
    del base, rows
    store.acquire_write_lock()
    t = time.perf_counter()
    store.vectors.flush(conn)
    out["vectors_s"] = round(time.perf_counter() - t, 1)
    from rag.store.vectors import kind

    out["vector_index"] = kind(store.vectors.current(conn))
    t = time.perf_counter()
    store.keywords.flush(conn)
    out["keywords_s"] = round(time.perf_counter() - t, 1)
    out["build_s"] = round(time.perf_counter() - t0, 1)
    store.close()
    out |= rss_mb()
    out["disk_mb"] = disk_mb(target)
    return out


def timed_modes(search, qs: list[str], modes: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode in modes:
        for q in qs[:10]:
            search(q, mode)
        lat = []
        for q in qs:
            t0 = time.perf_counter()
            search(q, mode)
            lat.append((time.perf_counter() - t0) * 1000)
        out[mode] = {
            "p50_ms": round(percentile(lat, 50), 1),
            "p95_ms": round(percentile(lat, 95), 1),
            "max_ms": round(max(lat), 1),
            "queries": len(qs),
        }
        print(mode, out[mode], flush=True)
    return out


def exact_top(conn, qvecs: np.ndarray, k: int, where: str = "") -> list[list[int]]:
    """Exact top-k chunk ids of each query, scanning every vector in SQLite in blocks."""
    best_s = np.full((len(qvecs), k), -np.inf, dtype=np.float32)
    best_i = np.full((len(qvecs), k), -1, dtype=np.int64)
    cur = conn.execute(f"SELECT id, vector FROM chunks {where}")
    while rows := cur.fetchmany(32768):
        ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
        vecs = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
        s = qvecs @ vecs.reshape(len(rows), -1).T
        all_s = np.hstack([best_s, s])
        all_i = np.hstack([best_i, np.broadcast_to(ids, s.shape)])
        top = np.argpartition(-all_s, k - 1, axis=1)[:, :k]
        best_s = np.take_along_axis(all_s, top, 1)
        best_i = np.take_along_axis(all_i, top, 1)
    order = np.argsort(-best_s, axis=1, kind="stable")
    return np.take_along_axis(best_i, order, 1).tolist()


def retriever(target: Path, store_kind: str, embedder) -> Any:
    """The Retriever that RagIndex.search uses (candidates and RRF as the settings say), over
    the store opened with the index's own manifest: the splitter version the code would cut
    with is not asked for, since no text is cut here."""
    from rag.config import Settings
    from rag.retrieve import Retriever
    from rag.store import IndexStore
    from rag.store.milvus import MilvusStore

    m = json.loads((target / "manifest.json").read_text())
    settings = Settings(index=target, store=store_kind)  # type: ignore[arg-type]
    if store_kind == "local":
        store: Any = IndexStore.open(target, m["embedding"], m["chunking"], create=False)
    else:
        store = MilvusStore.open(settings, m["embedding"], m["chunking"], create=False)
    return Retriever(store, embedder, candidates=settings.candidates, rrf_k=settings.rrf_k)


def search_local(target: Path, n_queries: int) -> dict[str, Any]:
    from rag.config import Settings
    from rag.embeddings import make_embedder
    from rag.store.vectors import kind

    embedder = make_embedder(Settings())
    embedder.embed_query("warm up")
    out: dict[str, Any] = {"embedder": type(embedder).__name__, "faiss": faiss_build()}
    out["before_open"] = rss_mb()
    t0 = time.perf_counter()
    r = retriever(target, "local", embedder)
    r.search("warm up the index", 10)
    out["open_and_first_search_s"] = round(time.perf_counter() - t0, 2)
    store = r.store
    out["chunks"] = store.counts()["chunks"]
    out["vector_index"] = kind(store.vectors.current(store._conn))
    qs = queries(n_queries)
    out |= timed_modes(lambda q, m: r.search(q, 10, mode=m), qs, ("hybrid", "dense", "keyword"))
    out["after_searches"] = rss_mb()  # the peak of opening and 3 x 1,000 searches
    qvecs = np.vstack([embedder.embed_query(q) for q in qs]).astype(np.float32)
    t = time.perf_counter()
    truth = exact_top(store._conn, qvecs, 10)
    out["exact_scan_s"] = round(time.perf_counter() - t, 1)
    got = [[c for c, _ in store.dense_search(q, 10)] for q in qvecs]
    rec = [len(set(g) & set(t)) / 10 for g, t in zip(got, truth, strict=True)]
    out["recall_at_10"] = round(float(np.mean(rec)), 4)
    out["recall_at_10_min"] = min(rec)
    out["queries_below_0.5"] = sum(r < 0.5 for r in rec)
    # The 300 candidates hybrid search takes from the dense side, and their top 10.
    pool = [[c for c, _ in store.dense_search(q, 300)][:10] for q in qvecs]
    rec = [len(set(g) & set(t)) / 10 for g, t in zip(pool, truth, strict=True)]
    out["recall_at_10_of_300_candidates"] = round(float(np.mean(rec)), 4)
    store.close()
    return out


def update_local(target: Path, n_docs: int = 10) -> dict[str, Any]:
    """What one commit of an incremental ingest costs at this size: n_docs documents written
    again (their chunks removed and added, as for changed files) into a store whose FAISS index
    and keyword postings are loaded, as in a long-running `rag serve`; then the flush that
    writes both files for the new generation."""
    from rag.store import IndexStore

    m = json.loads((target / "manifest.json").read_text())
    store = IndexStore.open(target, m["embedding"], m["chunking"], create=False)
    conn = store._conn
    t = time.perf_counter()
    store.vectors.current(conn)
    store.keywords.current(conn)
    out: dict[str, Any] = {"load_s": round(time.perf_counter() - t, 1), "loaded": rss_mb()}
    ids = [
        r[0]
        for r in conn.execute("SELECT id FROM documents ORDER BY id LIMIT ? OFFSET 1000", (n_docs,))
    ]
    writes = [stored_write(store, did, time.time()) for did in ids]
    out["documents"], out["chunks"] = len(writes), sum(len(w.chunks) for w in writes)
    with store.writing():
        t = time.perf_counter()
        store.write(writes, remove_ids=ids)  # the copies' ids are not document_id(source)
        out["write_s"] = round(time.perf_counter() - t, 2)  # SQLite, then FAISS and postings
        t = time.perf_counter()
    out["flush_s"] = round(time.perf_counter() - t, 2)  # both files for the new generation
    from rag.store.vectors import kind

    out["vector_index"] = kind(store.vectors.current(conn))
    out["chunks_after"] = store.counts()["chunks"]
    store.close()
    out |= rss_mb()
    return out


# ---------------------------------------------------------------- Milvus Lite


def build_milvus(local: Path, target: Path, n_chunks: int) -> dict[str, Any]:
    from rag.config import Settings
    from rag.store import IndexStore
    from rag.store.milvus import MilvusStore

    shutil.rmtree(target, ignore_errors=True)
    m = json.loads((local / "manifest.json").read_text())
    src = IndexStore.open(local, m["embedding"], m["chunking"], create=False)
    settings = Settings(
        index=target,
        store="milvus",
        chunk_tokens=m["chunking"]["chunk_tokens"],
        chunk_overlap=m["chunking"]["chunk_overlap"],
    )
    dst = MilvusStore.open(settings, m["embedding"], m["chunking"])
    conn = src._conn
    t0 = time.perf_counter()
    have, last_id, batch = 0, 0, []
    docs = conn.execute(
        "SELECT doc_id, MAX(id) FROM chunks GROUP BY doc_id ORDER BY MIN(id)"
    ).fetchall()
    with dst.writing():
        for did, top in docs:
            if have >= n_chunks:
                break
            write = stored_write(src, did, 0.0)
            batch.append(write)
            have += len(write.chunks)
            last_id = max(last_id, top)
            if len(batch) >= 64:
                dst.write(batch)
                batch = []
            if have and have % 50_000 < len(write.chunks):
                print(f"milvus: {have} chunks, {time.perf_counter() - t0:.0f} s", flush=True)
        if batch:
            dst.write(batch)
    out: dict[str, Any] = {"chunks": have, "last_local_id": last_id}
    out["build_s"] = round(time.perf_counter() - t0, 1)
    src.close()
    dst.close()
    out |= rss_mb()
    out["disk_mb"] = disk_mb(target)
    return out


def search_milvus(local: Path, target: Path, last_id: int, n_queries: int) -> dict[str, Any]:
    from rag.config import Settings
    from rag.embeddings import make_embedder
    from rag.store import IndexStore

    embedder = make_embedder(Settings())
    embedder.embed_query("warm up")
    out: dict[str, Any] = {"before_open": rss_mb()}
    t0 = time.perf_counter()
    r = retriever(target, "milvus", embedder)
    r.search("warm up the index", 10)
    out["open_and_first_search_s"] = round(time.perf_counter() - t0, 2)
    qs = queries(n_queries)
    out |= timed_modes(lambda q, m: r.search(q, 10, mode=m), qs, ("hybrid", "dense"))
    out["after_searches"] = rss_mb()
    # Recall: the same chunks, told apart by (source, start) since Milvus numbers its own.
    m = json.loads((local / "manifest.json").read_text())
    src = IndexStore.open(local, m["embedding"], m["chunking"], create=False)
    qvecs = np.vstack([embedder.embed_query(q) for q in qs]).astype(np.float32)
    truth_ids = exact_top(src._conn, qvecs, 10, f"WHERE id <= {int(last_id)}")
    keys = src.chunk_rows(sorted({c for t in truth_ids for c in t}))
    rec = []
    for q, t in zip(qvecs, truth_ids, strict=True):
        hits = r.store.dense_search(q, 10)
        rows = r.store.chunk_rows([c for c, _ in hits])
        got = {(row["source"], row["start"]) for row in rows.values()}
        rec.append(len(got & {(keys[c]["source"], keys[c]["start"]) for c in t}) / 10)
    out["recall_at_10"] = round(float(np.mean(rec)), 4)
    src.close()
    r.store.close()
    return out


# ---------------------------------------------------------------- driver


def step(name: str, args: argparse.Namespace, *extra: str) -> dict[str, Any]:
    """Run one step in a fresh process; its JSON is the last line it prints."""
    cmd = [sys.executable, str(HERE), "--step", name, "--work", str(args.work)]
    cmd += ["--chunks", str(args.chunks), "--noise", str(args.noise)]
    cmd += ["--queries", str(args.queries), "--milvus-queries", str(args.milvus_queries), *extra]
    if args.flat_max:
        cmd += ["--flat-max", str(args.flat_max)]
    print("$", " ".join(cmd[1:]), flush=True)
    t0, load = time.perf_counter(), os.getloadavg()
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, env=os.environ)
    sys.stdout.write(proc.stdout)
    if proc.returncode != 0:
        raise SystemExit(f"step {name} failed ({proc.returncode})")
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["step_wall_s"] = round(time.perf_counter() - t0, 1)
    res["load_avg_before_after"] = [round(load[0], 1), round(os.getloadavg()[0], 1)]
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--work", type=Path, default=Path("/tmp/scale1m"))
    ap.add_argument("--chunks", type=int, default=1_000_000)
    ap.add_argument("--noise", type=float, default=0.3, help="norm of each copy's perturbation")
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--milvus-chunks", type=int, default=0, help="0: no Milvus Lite run")
    ap.add_argument("--milvus-queries", type=int, default=1000)
    ap.add_argument("--skip-local", action="store_true", help="reuse the built local index")
    ap.add_argument("--update", action="store_true", help="with --skip-local: time an update")
    ap.add_argument(
        "--flat-max",
        type=int,
        help="override vectors.FLAT_MAX (exact search up to this many chunks), to measure the"
        " other kind of index at the same size",
    )
    ap.add_argument("--step", help=argparse.SUPPRESS)
    ap.add_argument("--last-id", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args()
    label = f"local-{args.chunks}" + (f"-flatmax{args.flat_max}" if args.flat_max else "")
    local = args.work / label
    if args.flat_max:
        from rag.store import vectors

        vectors.FLAT_MAX = args.flat_max
    milvus = args.work / "milvus"
    source = args.work / "scifact" / "index"
    if args.step:
        res = {
            "ingest": lambda: ingest_scifact(args.work),
            "build-local": lambda: build_local(source, local, args.chunks, args.noise),
            "search-local": lambda: search_local(local, args.queries),
            "update-local": lambda: update_local(local),
            "build-milvus": lambda: build_milvus(local, milvus, args.milvus_chunks),
            "search-milvus": lambda: search_milvus(
                local, milvus, args.last_id, args.milvus_queries
            ),
        }[args.step]()
        print(json.dumps(res))
        return
    results_file = Path(__file__).parent / "results" / "scale_1m.json"
    out: dict[str, Any] = json.loads(results_file.read_text()) if results_file.exists() else {}
    out |= {"machine": machine(), "noise": args.noise, "load_before": os.getloadavg()}
    if not (source / "rag.sqlite3").exists():
        out["scifact"] = step("ingest", args)
    if not args.skip_local:
        out[label] = {"build": step("build-local", args)}
        save("scale_1m", out)
        out[label]["search"] = step("search-local", args)
        save("scale_1m", out)
    if not args.skip_local or args.update:
        out.setdefault(label, {})["update"] = step("update-local", args)
        save("scale_1m", out)
    if args.milvus_chunks:
        mlabel = f"milvus-{args.milvus_chunks}"
        built = step("build-milvus", args, "--milvus-chunks", str(args.milvus_chunks))
        out[mlabel] = {"build": built}
        save("scale_1m", out)
        out[mlabel]["search"] = step(
            "search-milvus", args, "--last-id", str(built["last_local_id"])
        )
    out["load_after"] = os.getloadavg()
    print(save("scale_1m", out))


if __name__ == "__main__":
    main()
