"""Ingest throughput: the whole pipeline against a bare SentenceTransformer.encode, same run.

    .venv/bin/python benchmarks/ingest_throughput.py [--limit N]

The pipeline is timed from file discovery to the final FAISS write (hashing, loading, splitting,
embedding, SQLite + FTS5 + FAISS). The bare model then encodes exactly the chunks the pipeline
produced, with the same batch size. The model is loaded and warmed before either is timed.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from common import load_beir, machine, save, write_corpus_files

from rag.api import RagIndex
from rag.config import Settings
from rag.embeddings import SentenceTransformerEmbedder


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="scifact")
    ap.add_argument("--limit", type=int, default=0, help="only the first N documents")
    ap.add_argument(
        "--subset",
        type=int,
        default=0,
        help="only the documents judged for the test queries plus the first N others "
        "(for quick comparisons of settings; quality figures then use those queries only)",
    )
    ap.add_argument("--chunk-tokens", type=int, default=Settings().chunk_tokens)
    ap.add_argument("--chunk-overlap", type=int, default=Settings().chunk_overlap)
    ap.add_argument("--keep-index", type=Path, default=None, help="leave the index here")
    args = ap.parse_args()

    corpus, _, qrels = load_beir(args.dataset)
    if args.subset:
        judged = {d for rels in qrels.values() for d in rels}
        others = [d for d in corpus if d not in judged][: args.subset]
        corpus = {d: corpus[d] for d in corpus if d in judged or d in set(others)}
    if args.limit:
        corpus = dict(list(corpus.items())[: args.limit])
    work = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    files = write_corpus_files(corpus, work / "files")
    index_dir = args.keep_index or work / "index"
    shutil.rmtree(index_dir, ignore_errors=True)

    settings = Settings(
        index=index_dir, chunk_tokens=args.chunk_tokens, chunk_overlap=args.chunk_overlap
    )
    embedder = SentenceTransformerEmbedder(batch_size=settings.embed_batch_size)
    embedder.model.encode(["warm up the model"] * 64, batch_size=32)
    _ = embedder.fingerprint

    t0 = time.perf_counter()
    with RagIndex.open(settings, embedder) as idx:
        report = idx.ingest([files])
        texts = [row[0] for row in idx.store._conn.execute("SELECT text FROM chunks ORDER BY id")]
    pipeline_s = time.perf_counter() - t0
    tokens = sum(embedder.count_tokens(texts))

    t0 = time.perf_counter()
    embedder.model.encode(texts, batch_size=settings.embed_batch_size, normalize_embeddings=True)
    bare_s = time.perf_counter() - t0

    result = {
        "dataset": args.dataset,
        "documents": len(corpus),
        "chunks": len(texts),
        "tokens": tokens,
        "chunk_tokens": settings.chunk_tokens,
        "batch_size": settings.embed_batch_size,
        "pipeline_s": round(pipeline_s, 2),
        "bare_encode_s": round(bare_s, 2),
        "pipeline_chunks_per_s": round(len(texts) / pipeline_s, 1),
        "pipeline_tokens_per_s": round(tokens / pipeline_s, 1),
        "bare_chunks_per_s": round(len(texts) / bare_s, 1),
        "bare_tokens_per_s": round(tokens / bare_s, 1),
        "overhead_pct": round(100 * (pipeline_s / bare_s - 1), 1),
        "report": report.summary(),
        "machine": machine(),
    }
    tag = f"_subset{args.subset}_{args.chunk_tokens}" if args.subset else ""
    print(save(f"ingest_{args.dataset}{tag}", result))
    for k, v in result.items():
        if k != "machine":
            print(f"{k:>24}: {v}")
    if not args.keep_index:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
