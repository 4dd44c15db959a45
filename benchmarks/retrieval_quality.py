"""Retrieval quality on a BEIR data set (SciFact by default): nDCG@10, MRR@10, recall@100.

    .venv/bin/python benchmarks/retrieval_quality.py --index /tmp/bench/scifact-200

The index must hold the corpus as one file per document named <doc id>.txt (what
ingest_throughput.py --keep-index leaves). Chunks are ranked, then each document takes the rank
of its best chunk. Besides rag's three modes it scores alternatives that the defaults were chosen
against: FTS5's built-in bm25(), bm25s (Lucene BM25, Snowball stemmer, as in MTEB), and a
convex combination of normalised dense and keyword scores instead of reciprocal rank fusion.
Metrics come from ranx.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import load_beir, machine, save
from ranx import Qrels, Run, evaluate

from rag.api import RagIndex
from rag.config import Settings
from rag.embeddings import SentenceTransformerEmbedder
from rag.store.keyword import query_terms

METRICS = ["ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10", "recall@100"]
PUBLISHED = {
    "BM25 (BEIR paper)": 0.665,
    "BM25 (MTEB, bm25s)": 0.687,
    "all-MiniLM-L6-v2 (MTEB)": 0.645,
}


def doc_run(chunk_ranking: list[tuple[int, float]], chunk_doc: dict[int, str], depth=100):
    """Documents ranked by their best chunk; scores decrease with rank."""
    out: dict[str, float] = {}
    for cid, _ in chunk_ranking:
        did = chunk_doc[cid]
        if did not in out:
            out[did] = float(depth * 10 - len(out))
            if len(out) == depth:
                break
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", type=Path, required=True)
    ap.add_argument("--dataset", default="scifact")
    ap.add_argument("--chunks", type=int, default=300, help="chunks retrieved per query")
    ap.add_argument("--extra", action="store_true", help="also score the alternatives")
    args = ap.parse_args()

    corpus, queries, qrels = load_beir(args.dataset)
    embedder = SentenceTransformerEmbedder()
    chunking = json.loads((args.index / "manifest.json").read_text())["chunking"]
    settings = Settings(
        index=args.index,
        chunk_tokens=chunking["chunk_tokens"],
        chunk_overlap=chunking["chunk_overlap"],
    )
    idx = RagIndex.open(settings, embedder, create=False)
    store = idx.store
    rows = store._conn.execute(
        "SELECT c.id, d.source FROM chunks c JOIN documents d ON d.id=c.doc_id"
    )
    chunk_doc = {cid: Path(src).stem for cid, src in rows}
    indexed = set(chunk_doc.values())
    n_docs = len(indexed)
    # On a subset index, score only the queries whose judged documents are all in it.
    qids = [q for q in queries if set(qrels[q]) <= indexed]
    qvecs = embedder.embed([queries[q] for q in qids])

    runs: dict[str, dict[str, dict[str, float]]] = {}
    raw: dict[str, dict[str, list[tuple[int, float]]]] = {"dense": {}, "keyword": {}}
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    for qid, qv in zip(qids, qvecs, strict=True):
        raw["dense"][qid] = store.dense_search(qv, args.chunks)
    timings["dense"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    for qid in qids:
        raw["keyword"][qid] = store.keyword_search(queries[qid], args.chunks)
    timings["keyword"] = time.perf_counter() - t0
    from rag.retrieve import rrf

    for mode in ("dense", "keyword"):
        runs[mode] = {q: doc_run(raw[mode][q], chunk_doc) for q in qids}
    for k in (60,) if not args.extra else (10, 60):
        for cand in (50, args.chunks) if args.extra else (idx.settings.candidates, args.chunks):
            name = f"hybrid rrf k={k} candidates={cand}"
            runs[name] = {}
            for q in qids:
                fused = rrf({m: [c for c, _ in raw[m][q][:cand]] for m in ("dense", "keyword")}, k)
                runs[name][q] = doc_run([(c, s) for c, s, _ in fused], chunk_doc)

    if args.extra:
        for alpha in (0.3, 0.5, 0.7):
            name = f"hybrid convex alpha(dense)={alpha}"
            runs[name] = {}
            for q in qids:
                scores: dict[int, float] = {}
                for m, w in (("dense", alpha), ("keyword", 1 - alpha)):
                    lst = raw[m][q]
                    if not lst:
                        continue
                    vals = np.array([s for _, s in lst])
                    lo, hi = vals.min(), vals.max()
                    for c, s in lst:
                        scores[c] = scores.get(c, 0.0) + w * ((s - lo) / (hi - lo + 1e-9))
                ranking = sorted(scores.items(), key=lambda cs: -cs[1])
                runs[name][q] = doc_run(ranking, chunk_doc)
        has_fts = store._conn.execute(
            "SELECT 1 FROM sqlite_master WHERE name='chunks_fts'"
        ).fetchone()
        for q in qids if has_fts else []:  # only indexes made before FTS5 was replaced
            runs.setdefault("keyword: FTS5 built-in bm25()", {})
            terms = query_terms(queries[q])
            if not terms:
                runs["keyword: FTS5 built-in bm25()"][q] = {}
                continue
            match = " OR ".join(f'"{t}"' for t in terms)
            rows = store._conn.execute(
                "SELECT rowid, bm25(chunks_fts) s FROM chunks_fts WHERE chunks_fts MATCH ?"
                " ORDER BY s LIMIT ?",
                (match, args.chunks),
            ).fetchall()
            runs["keyword: FTS5 built-in bm25()"][q] = doc_run(rows, chunk_doc)
        import bm25s
        import Stemmer

        stemmer = Stemmer.Stemmer("english")
        rows = store._conn.execute("SELECT id, text FROM chunks ORDER BY id").fetchall()
        cids = [r[0] for r in rows]
        texts = [r[1] for r in rows]
        for label, stem in (("bm25s + Snowball", stemmer), ("bm25s, no stemming", None)):
            retriever = bm25s.BM25()
            retriever.index(
                bm25s.tokenize(texts, stopwords="en", stemmer=stem, show_progress=False),
                show_progress=False,
            )
            toks = bm25s.tokenize(
                [queries[q] for q in qids], stopwords="en", stemmer=stem, show_progress=False
            )
            res, sc = retriever.retrieve(toks, k=args.chunks, show_progress=False)
            name = f"keyword: {label}"
            runs[name] = {}
            for i, q in enumerate(qids):
                runs[name][q] = doc_run(
                    [(cids[j], s) for j, s in zip(res[i], sc[i], strict=True) if s > 0], chunk_doc
                )

    qrels_r = Qrels({q: qrels[q] for q in qids})
    table = {}
    for name, run in runs.items():
        run = {q: (r if r else {"__none__": 0.0}) for q, r in run.items()}
        scores = evaluate(qrels_r, Run(run), METRICS)
        table[name] = {m: round(float(v), 4) for m, v in scores.items()}

    result = {
        "dataset": args.dataset,
        "queries": len(qids),
        "documents_indexed": n_docs,
        "documents_in_corpus": len(corpus),
        "chunks": len(chunk_doc),
        "chunking": store.manifest.chunking,
        "results": table,
        "published_ndcg@10": PUBLISHED,
        "seconds": {k: round(v, 2) for k, v in timings.items()},
        "machine": machine(),
    }
    tag = "" if n_docs == len(corpus) else f"_subset{n_docs}"
    out = save(f"quality_{args.dataset}{tag}_{store.manifest.chunking['chunk_tokens']}", result)
    print(out)
    print(f"{'run':<44} " + " ".join(f"{m:>10}" for m in METRICS))
    for name, row in table.items():
        print(f"{name:<44} " + " ".join(f"{row[m]:>10.4f}" for m in METRICS))


if __name__ == "__main__":
    main()
