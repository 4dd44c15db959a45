"""Ingest throughput: the whole pipeline against a bare SentenceTransformer.encode, same run.

The pipeline's own work (everything but the model) is also timed inside the pipeline itself,
which no drift between two runs can blur.

    .venv/bin/python benchmarks/ingest_throughput.py [--rounds 6 --per-round 300]
    .venv/bin/python benchmarks/ingest_throughput.py --rounds 1 --per-round 0 --keep-index DIR

The pipeline is timed from file discovery to the final writes (hashing, loading, splitting,
embedding, SQLite, keyword postings, FAISS). The bare model then encodes exactly the chunks the
pipeline produced, with the same batch size. This machine's speed drifts by 10-15% from one
minute to the next, so the corpus is cut into rounds; each round times both, in alternating
order, and the overhead is the median of the per-round ratios (totals are reported too).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from common import load_beir, machine, save, write_corpus_files

from rag.api import RagIndex
from rag.config import Settings
from rag.embeddings import SentenceTransformerEmbedder


def run_pipeline(files: Path, settings: Settings, embedder) -> tuple[float, float, list[str], str]:
    """(seconds in all, seconds inside the model, the chunks, the report)."""
    in_model = 0.0
    embed = embedder.embed

    def timed_embed(texts, progress=None):
        nonlocal in_model
        t = time.perf_counter()
        out = embed(texts, progress)
        in_model += time.perf_counter() - t
        return out

    embedder.embed = timed_embed
    t0 = time.perf_counter()
    try:
        with RagIndex.open(settings, embedder) as idx:
            report = idx.ingest([files])
            seconds = time.perf_counter() - t0
            texts = [r[0] for r in idx.store._conn.execute("SELECT text FROM chunks ORDER BY id")]
    finally:
        del embedder.embed
    return seconds, in_model, texts, report.summary()


# The bare model's batch size: 32, rag's fixed batch before batches were bounded by tokens
# (benchmarks/embed_batching.py compares the two).
BARE_BATCH = 32


def run_bare(texts: list[str], embedder, batch_size: int = BARE_BATCH) -> float:
    t0 = time.perf_counter()
    embedder.model.encode(texts, batch_size=batch_size, normalize_embeddings=True)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", default="scifact")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--per-round", type=int, default=300, help="documents a round (0: all)")
    ap.add_argument(
        "--subset",
        type=int,
        default=0,
        help="only the documents judged for the test queries plus the first N others "
        "(for quick comparisons of settings; quality figures then use those queries only)",
    )
    ap.add_argument("--chunk-tokens", type=int, default=Settings().chunk_tokens)
    ap.add_argument("--chunk-overlap", type=int, default=Settings().chunk_overlap)
    ap.add_argument("--keep-index", type=Path, default=None, help="leave the last index here")
    ap.add_argument("--skip-bare", action="store_true", help="only build (for quality runs)")
    args = ap.parse_args()

    corpus, _, qrels = load_beir(args.dataset)
    if args.subset:
        judged = {d for rels in qrels.values() for d in rels}
        others = set([d for d in corpus if d not in judged][: args.subset])
        corpus = {d: corpus[d] for d in corpus if d in judged or d in others}
    ids = list(corpus)
    per = args.per_round or len(ids)
    work = Path(tempfile.mkdtemp(prefix="rag-bench-"))
    defaults = Settings()
    embedder = SentenceTransformerEmbedder(
        batch_size=defaults.embed_batch_size, batch_tokens=defaults.embed_batch_tokens
    )
    embedder.model.encode(["warm up the model"] * 64, batch_size=32)
    _ = embedder.fingerprint

    rounds = []
    for r in range(args.rounds):
        part = {d: corpus[d] for d in ids[r * per : (r + 1) * per]}
        if not part:
            break
        files = write_corpus_files(part, work / f"files-{r}")
        index_dir = args.keep_index if args.keep_index and r == args.rounds - 1 else None
        index_dir = index_dir or work / f"index-{r}"
        shutil.rmtree(index_dir, ignore_errors=True)
        settings = Settings(
            index=index_dir, chunk_tokens=args.chunk_tokens, chunk_overlap=args.chunk_overlap
        )
        if args.skip_bare:
            pipe_s, model_s, texts, summary = run_pipeline(files, settings, embedder)
            bare_s = float("nan")
        elif r % 2 == 0:
            pipe_s, model_s, texts, summary = run_pipeline(files, settings, embedder)
            bare_s = run_bare(texts, embedder)
        else:  # bare first: needs the chunks, so split them without embedding
            with RagIndex.open(
                settings.model_copy(update={"index": work / "split"}), embedder
            ) as s:
                texts = [
                    c.text for f in sorted(files.iterdir()) for c in s.splitter.split(f.read_text())
                ]
            shutil.rmtree(work / "split")
            bare_s = run_bare(texts, embedder)
            pipe_s, model_s, texts2, summary = run_pipeline(files, settings, embedder)
            assert len(texts2) == len(texts)
        tokens = sum(embedder.count_tokens(texts))
        row = {
            "documents": len(part),
            "chunks": len(texts),
            "tokens": tokens,
            "pipeline_s": round(pipe_s, 2),
            "bare_encode_s": round(bare_s, 2),
            "ratio": round(pipe_s / bare_s, 3),
            "pipeline_outside_model_s": round(pipe_s - model_s, 2),
            "report": summary,
        }
        rounds.append(row)
        print(row, flush=True)

    pipe = sum(r["pipeline_s"] for r in rounds)
    bare = sum(r["bare_encode_s"] for r in rounds)
    chunks = sum(r["chunks"] for r in rounds)
    tokens = sum(r["tokens"] for r in rounds)
    result = {
        "dataset": args.dataset,
        "documents": sum(r["documents"] for r in rounds),
        "chunks": chunks,
        "tokens": tokens,
        "chunk_tokens": args.chunk_tokens,
        "batch_size": Settings().embed_batch_size,
        "pipeline_chunks_per_s": round(chunks / pipe, 1),
        "pipeline_tokens_per_s": round(tokens / pipe, 1),
        "bare_chunks_per_s": round(chunks / bare, 1),
        "bare_tokens_per_s": round(tokens / bare, 1),
        "overhead_pct_total": round(100 * (pipe / bare - 1), 1),
        "outside_model_pct_of_bare": round(
            100 * sum(r["pipeline_outside_model_s"] for r in rounds) / bare, 1
        ),
        "overhead_pct_median_round": round(
            100 * (statistics.median(r["ratio"] for r in rounds) - 1), 1
        ),
        "rounds": rounds,
        "machine": machine(),
    }
    tag = f"_subset{args.subset}_{args.chunk_tokens}" if args.subset else ""
    print(save(f"ingest_{args.dataset}{tag}", result))
    for k, v in result.items():
        if k not in ("machine", "rounds"):
            print(f"{k:>28}: {v}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
