"""The local store's IVF settings measured at one size: recall@10 against exact search and the
IVF's own time per query, for several fractions of the lists probed, with and without the exact
rescoring of the candidates. rag/store/vectors.py's NPROBE_DIVISOR and RESCORE_EXTRA were
chosen from these figures (BENCHMARKS.md, "One million chunks").

    nice .venv/bin/python benchmarks/ivf_sweep.py --index /tmp/scale1m/local-1000000

The index is one that scale_1m.py built; its vectors are read from SQLite into memory, an IVF is
trained on them exactly as the store trains one (VectorIndex._trained: sqrt(n) lists, 64
training points a list, 8-bit codes), and 1,000 SciFact queries are searched one at a time on
one thread. Rescoring here reads the candidates' vectors from memory; the end-to-end figures in
scale_1m.py read them from SQLite, as the store does.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import time
from pathlib import Path

import faiss
import numpy as np
from common import DATASETS, machine, save

from rag.config import Settings
from rag.embeddings import make_embedder
from rag.store.vectors import VectorIndex, lists_for


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--queries", type=int, default=1000)
    ap.add_argument("--divisors", type=int, nargs="+", default=[32, 16, 8, 4])
    ap.add_argument("--extras", type=int, nargs="+", default=[0, 40, 290])
    args = ap.parse_args()

    with (DATASETS / "scifact" / "queries.jsonl").open() as f:
        qs = [json.loads(line)["text"] for line in f][: args.queries]
    emb = make_embedder(Settings())
    Q = np.vstack([emb.embed_query(q) for q in qs]).astype(np.float32)

    conn = sqlite3.connect(args.index / "rag.sqlite3")
    n = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    dim = Q.shape[1]
    ids = np.empty(n, dtype=np.int64)
    X = np.empty((n, dim), dtype=np.float32)
    at = 0
    cur = conn.execute("SELECT id, vector FROM chunks ORDER BY id")
    while rows := cur.fetchmany(16384):
        ids[at : at + len(rows)] = [r[0] for r in rows]
        X[at : at + len(rows)] = np.frombuffer(b"".join(r[1] for r in rows), np.float32).reshape(
            len(rows), dim
        )
        at += len(rows)
    row_of = {int(c): i for i, c in enumerate(ids)}

    faiss.omp_set_num_threads(2)
    _, truth = faiss.knn(Q, X, 10, metric=faiss.METRIC_INNER_PRODUCT)
    t = time.perf_counter()
    index = VectorIndex(args.index, dim)._trained(conn, n)
    train_s = time.perf_counter() - t
    faiss.omp_set_num_threads(2)
    t = time.perf_counter()
    index.add_with_ids(X, ids)
    add_s = time.perf_counter() - t
    faiss.omp_set_num_threads(1)
    nlist = lists_for(n)
    out: dict[str, object] = {
        "index": str(args.index),
        "chunks": n,
        "lists": nlist,
        "train_s": round(train_s, 1),
        "add_s": round(add_s, 1),
        "simd_level": faiss.SIMDConfig.get_level_name(),
        "runs": [],
    }
    print(out, flush=True)
    for divisor in args.divisors:
        nprobe = max(1, nlist // divisor)
        params = faiss.SearchParametersIVF(nprobe=nprobe)  # type: ignore[call-arg]
        for extra in args.extras:
            lat, rec = [], []
            for qi, q in enumerate(Q):
                t = time.perf_counter()
                _, got = index.search(q[None], 10 + extra, params=params)
                lat.append((time.perf_counter() - t) * 1000)
                cand = [int(c) for c in got[0] if c >= 0]
                if extra:  # exact scores of the candidates, the best 10 kept
                    s = X[[row_of[c] for c in cand]] @ q
                    cand = [cand[i] for i in np.argsort(-s, kind="stable")[:10]]
                rec.append(len(set(cand[:10]) & {int(ids[r]) for r in truth[qi]}) / 10)
            lat.sort()
            run = {
                "nprobe": nprobe,
                "divisor": divisor,
                "rescored": 10 + extra if extra else 0,
                "recall_at_10": round(float(np.mean(rec)), 4),
                "queries_below_0.5": int(sum(r < 0.5 for r in rec)),
                "ivf_p50_ms": round(lat[len(lat) // 2], 2),
                "ivf_p95_ms": round(lat[int(0.95 * (len(lat) - 1))], 2),
            }
            print(run, flush=True)
            out["runs"].append(run)  # type: ignore[attr-defined]
    flat = []
    for q in Q[:200]:
        t = time.perf_counter()
        faiss.knn(q[None], X, 300, metric=faiss.METRIC_INNER_PRODUCT)
        flat.append((time.perf_counter() - t) * 1000)
    flat.sort()
    out["flat_scan_k300_p50_ms"] = round(flat[len(flat) // 2], 1)
    out["machine"] = machine()
    print(save(f"ivf_sweep_{n}", out))


if __name__ == "__main__":
    main()
