"""Packed rows: is putting several short texts side by side in one model row (each seeing only its
own tokens and positions) cheaper than one text a row? CPU time per text of the ONNX fp32
embedder on one thread (as each of `rag serve`'s model processes runs it), packed and not,
measured side by side: each round runs every configuration on the same calls, in rotating order.

    .venv/bin/python benchmarks/embed_packing.py [--rounds 8] [--calls 40]

Calls (SciFact sentences, ../shared/datasets/scifact, about 36 tokens each):
- `random/N`: N sentences drawn at random per call, as a server's batch reaches its model
  process from N waiting clients (10-14 texts at 32 clients with two model processes);
- `sorted/256`: 256 sentences in one embed call, as ingestion and the benchmark's ideal embed
  them (sorted by length into calls of like-length texts).
Configurations: `rows` (one text a row: `RAG_EMBED_PACK_TEXTS=0`) and `packed/C` (rows of up
to C tokens). The figure is each configuration's CPU per text over `rows`, per round; the median
over rounds is reported with its range.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from common import machine, save, scifact_sentences

from rag.config import Settings
from rag.onnx_embed import OnnxEmbedder


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--calls", type=int, default=40, help="calls per workload and round")
    ap.add_argument("--sizes", default="1,4,10,14,32")
    ap.add_argument("--capacities", default="48,64,96")
    args = ap.parse_args()
    texts = scifact_sentences(256)
    caps = [int(c) for c in args.capacities.split(",")]
    configs: dict[str, OnnxEmbedder] = {}
    for name, pack, cap in [("rows", 0, 64)] + [(f"packed/{c}", 10**6, c) for c in caps]:
        emb = OnnxEmbedder(cache_dir=Settings().cache_dir, threads=1, pack_texts=pack)
        emb.pack_tokens = cap
        emb.embed(texts[:8])  # load (and export once if the cache lacks the graph)
        configs[name] = emb
    rng = random.Random(0)
    workloads: dict[str, list[list[str]]] = {
        f"random/{n}": [rng.sample(texts, n) for _ in range(args.calls)]
        for n in (int(x) for x in args.sizes.split(","))
    }
    workloads["sorted/256"] = [texts]
    per_text: dict[str, dict[str, list[float]]] = {w: {c: [] for c in configs} for w in workloads}
    names = list(configs)
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for w, calls in workloads.items():
            n = sum(len(c) for c in calls)
            for name in order:
                emb = configs[name]
                t0 = time.process_time()
                for call in calls:
                    emb.embed(call)
                per_text[w][name].append((time.process_time() - t0) * 1000 / n)
        print(f"round {r + 1} done")
    table = {}
    for w, by in per_text.items():
        row = {"rows_cpu_ms_per_text": round(statistics.median(by["rows"]), 2)}
        for name in names[1:]:
            ratios = [a / b for a, b in zip(by[name], by["rows"], strict=True)]
            row[name] = {
                "of_rows_median": round(statistics.median(ratios), 3),
                "range": [round(min(ratios), 3), round(max(ratios), 3)],
            }
        table[w] = row
        print(w, row)
    print(
        "saved", save("embed_packing", {"machine": machine(), "args": vars(args), "table": table})
    )


if __name__ == "__main__":
    main()
