"""The store's side of a search (no query embedding): p50/p95 over 100 SciFact queries, k=10.

    .venv/bin/python benchmarks/store_search_latency.py --vectors /tmp/lat/q.npz
    PYTHONPATH=OTHER_TREE .venv/bin/python benchmarks/store_search_latency.py \
        --index /tmp/lat/before/chunks-100000 --vectors /tmp/lat/q.npz --out /tmp/lat/x.json

The first form embeds the queries once and saves them; the second times a `Retriever` over
an `IndexStore` (an index search_latency.py built) with those vectors, so two versions of the
code (another work tree first on PYTHONPATH) are compared on the store alone, run after run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np
from common import load_beir

from rag.retrieve import Retriever
from rag.store import IndexStore


class Precomputed:
    """An embedder that answers with vectors computed beforehand."""

    def __init__(self, queries: list[str], vectors: np.ndarray) -> None:
        self.lookup = dict(zip(queries, vectors, strict=True))

    def embed_query(self, query: str) -> np.ndarray:
        return self.lookup[query]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--vectors", type=Path, required=True, help=".npz of queries and vectors")
    ap.add_argument("--index", type=Path, help="an index folder (omit: make --vectors)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if args.index is None:
        from rag.config import Settings
        from rag.embeddings import make_embedder

        _, queries, _ = load_beir("scifact")
        qs = list(queries.values())[:100]
        emb = make_embedder(Settings())
        np.savez(args.vectors, queries=np.array(qs), vectors=np.vstack(emb.embed(qs)))
        return
    with np.load(args.vectors, allow_pickle=False) as z:
        qs = [str(q) for q in z["queries"]]
        stub = Precomputed(qs, z["vectors"])
    m = json.loads((args.index / "manifest.json").read_text())
    store = IndexStore.open(args.index, m["embedding"], m["chunking"], create=False)
    r = Retriever(store, stub, candidates=300)  # type: ignore[arg-type]
    r.search(qs[0], 10)  # loads FAISS and the postings
    res: dict[str, dict[str, float]] = {}
    for mode in ("dense", "keyword", "hybrid"):
        for q in qs[:10]:
            r.search(q, 10, mode=mode)
        lat = []
        for q in qs:
            t0 = time.perf_counter()
            r.search(q, 10, mode=mode)
            lat.append((time.perf_counter() - t0) * 1000)
        lat.sort()
        res[mode] = {
            "p50_ms": round(lat[len(lat) // 2], 2),
            "p95_ms": round(lat[int(0.95 * (len(lat) - 1))], 2),
            "mean_ms": round(statistics.mean(lat), 2),
        }
    store.close()
    print(json.dumps(res))
    if args.out:
        args.out.write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
