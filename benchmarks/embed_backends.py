"""Embedding throughput of the backends side by side: PyTorch fp32, ONNX Runtime fp32 and int8.

    .venv/bin/python benchmarks/embed_backends.py [--chunks 192] [--rounds 3]

Texts: SciFact abstracts cut by rag's own splitter at the default settings (200 tokens, 32
overlap), i.e. what `rag ingest` embeds; each backend embeds the same chunks through
`Embedder.embed` (the token-bounded batching of rag/embeddings.py) in every round, and the order
of the backends rotates from round to round so the machine's drift spreads over all of them.
Reported per backend: tokens/s by wall clock (median, min, max over rounds) and tokens per
second of process CPU time (all threads), which a busy shared machine disturbs less. The CPU's
SIMD features, and so the int8 kernel ONNX Runtime picks, are read at run time and recorded.

`--int8-forms` adds the int8 graph with the other weight form beside the one this CPU gets
(`rag.onnx_export.int8_weight_type`: signed weights, u8 x s8, with VNNI; unsigned, u8 x u8,
without), quantised from the same fp32 graph, to measure both on one CPU.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from common import load_beir, machine, save

from rag.embeddings import Embedder, SentenceTransformerEmbedder
from rag.ingest.splitter import TokenSplitter
from rag.onnx_embed import OnnxEmbedder, cpu_features, int8_kernel
from rag.onnx_export import _quantize, fused_graph, int8_weight_type


def other_int8_form(int8: OnnxEmbedder, cache: Path) -> tuple[str, str, OnnxEmbedder]:
    """(this CPU's form, the other form, an embedder running the other form's graph)."""
    from onnxruntime.quantization import QuantType

    int8.embed(["load"])  # exports the fp32 and int8 graphs into the cache
    mine = int8_weight_type()
    other = QuantType.QUInt8 if mine == QuantType.QInt8 else QuantType.QInt8
    form = {QuantType.QInt8: "u8 x s8", QuantType.QUInt8: "u8 x u8"}
    graph = Path(tempfile.mkdtemp(prefix="rag-int8-", dir=cache)) / "model-int8.onnx"
    fused_graph(int8.path, graph.with_name("fused.onnx"))  # int8 starts from the unpacked graph
    _quantize(graph.with_name("fused.onnx"), graph, other)
    return form[mine], form[other], OnnxEmbedder.of_graph(graph)


def ingest_chunks(embedder: Embedder, n: int) -> list[str]:
    """n chunks of SciFact abstracts as `rag ingest` cuts them, in a fixed random order."""
    corpus, _, _ = load_beir("scifact")
    docs = list(corpus.values())
    random.Random(0).shuffle(docs)
    splitter = TokenSplitter(embedder.count_tokens, 200, 32)
    out: list[str] = []
    for rec in docs:
        out += [c.text for c in splitter.split(f"{rec['title']}\n\n{rec['text']}")]
        if len(out) >= n:
            break
    return out[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chunks", type=int, default=192)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--cache", type=Path, default=None, help="RAG_CACHE_DIR (default: a temp dir)")
    ap.add_argument("--int8-forms", action="store_true", help="measure both int8 weight forms")
    args = ap.parse_args()
    cache = args.cache or Path(tempfile.mkdtemp(prefix="rag-onnx-"))

    backends: dict[str, Embedder] = {
        "PyTorch fp32": SentenceTransformerEmbedder(),
        "ONNX fp32": OnnxEmbedder(cache_dir=cache),
        "ONNX int8": OnnxEmbedder(cache_dir=cache, precision="int8"),
    }
    forms = None
    if args.int8_forms:
        int8 = backends.pop("ONNX int8")
        mine, other, other_emb = other_int8_form(int8, cache)  # type: ignore[arg-type]
        forms = {"this CPU's": mine, "other": other}
        backends[f"ONNX int8 {mine} (rag's choice)"] = int8
        backends[f"ONNX int8 {other}"] = other_emb
    texts = ingest_chunks(backends["PyTorch fp32"], args.chunks)
    tokens = sum(min(n, 254) + 2 for n in backends["PyTorch fp32"].count_tokens(texts))
    print(f"{len(texts)} chunks, {tokens} tokens (with [CLS]/[SEP], truncated at 256)")
    vectors = {}
    for name, emb in backends.items():  # load (and export, the first time) outside the timing
        vectors[name] = emb.embed(texts[:16])
    wall: dict[str, list[float]] = {k: [] for k in backends}
    cpu: dict[str, list[float]] = {k: [] for k in backends}
    names = list(backends)
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            t0, c0 = time.perf_counter(), time.process_time()
            vecs = backends[name].embed(texts)
            wall[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
            vectors[name] = vecs
            print(f"round {r} {name}: {tokens / wall[name][-1]:.0f} tokens/s", flush=True)

    ref = vectors["PyTorch fp32"]
    base = tokens / statistics.median(wall["PyTorch fp32"])
    rows = {}
    for name in names:
        med = tokens / statistics.median(wall[name])
        cos = (vectors[name] * ref).sum(axis=1)
        rows[name] = {
            "tokens_per_s_median": round(med),
            "tokens_per_s_min": round(tokens / max(wall[name])),
            "tokens_per_s_max": round(tokens / min(wall[name])),
            "tokens_per_cpu_s": round(tokens / statistics.median(cpu[name])),
            "vs_pytorch": round(med / base, 2),
            "min_cosine_vs_pytorch": round(float(cos.min()), 5),
            "max_abs_diff_vs_pytorch": float(np.abs(vectors[name] - ref).max()),
        }
    result = {
        "machine": machine(),
        "cpu_features": cpu_features(),
        "int8_kernel": int8_kernel(),
        "int8_weight_forms": forms,
        "onnxruntime_threads": len(os.sched_getaffinity(0)),
        "load_average": os.getloadavg(),
        "chunks": len(texts),
        "tokens": tokens,
        "rounds": args.rounds,
        "backends": rows,
    }
    print(f"\nCPU features {cpu_features()}; int8 kernel family: {int8_kernel()}")
    print("| backend | tokens/s median (min-max) | tokens per CPU-s | vs PyTorch | min cosine |")
    print("|---|---|---|---|---|")
    for name, row in rows.items():
        print(
            f"| {name} | {row['tokens_per_s_median']:,} ({row['tokens_per_s_min']:,}-"
            f"{row['tokens_per_s_max']:,}) | {row['tokens_per_cpu_s']:,} | "
            f"{row['vs_pytorch']:.2f}x | {row['min_cosine_vs_pytorch']:.4f} |"
        )
    print(f"load average {os.getloadavg()}; saved {save('embed_backends', result)}")


if __name__ == "__main__":
    main()
