"""How should texts be grouped into model calls? Texts/s of `Embedder.embed` under several ways of
cutting texts into calls, on three kinds of real text, measured side by side (interleaved rounds,
same process).

    .venv/bin/python benchmarks/embed_batching.py [--rounds 3] [--backend onnx|torch]

Texts (SciFact, ../shared/datasets/scifact): `sentences` (what /v1/embeddings clients send, about
36 tokens) embedded in one call, `sentences/8` and `sentences/32` the same sentences 8 or 32 per
call in random order (as the server's dynamic batches reach the model at 8 and 32 clients),
`chunks` (80-word windows, about 110 tokens: what ingestion embeds at the default chunk size),
`chunks/32` and `long` (190-word windows, about 250 tokens). Every configuration sorts texts by
token count and keeps calls within 64 texts and 2,048 padded tokens; they differ in where calls
end:

- `count 32`: 32 texts per call whatever their length (rag before commit 1720660);
- `fill 0.6`: a call also ends where texts fall below 0.6 of its longest (rag before this
  script's last change);
- `calls K`: the cheapest cuts when a call costs its padded tokens plus K (rag now, with
  K = `embed_call_tokens`).

Every configuration embeds the same texts in each round; the order of configurations rotates
from round to round, so the machine's drift spreads over all of them.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

import numpy as np
from common import load_beir, machine, save, scifact_sentences

from rag.config import Settings
from rag.embeddings import Embedder, make_embedder, normalize


def fill_calls(emb: Embedder, texts: list[str], fill: float, size: int) -> np.ndarray:
    """The former grouping: sorted texts, a call ends at `size` texts, 2,048 padded tokens, or
    where a text is shorter than `fill` of the call's longest."""
    width = [min(n, emb.max_tokens) + 2 for n in emb.count_tokens(texts)]
    order = sorted(range(len(texts)), key=lambda i: width[i], reverse=True)
    out = np.empty((len(texts), emb.dim), dtype=np.float32)
    lo = 0
    while lo < len(order):
        head = width[order[lo]]
        end = min(len(order), lo + max(1, min(size, 2048 // head)))
        hi = lo + 1
        while hi < end and width[order[hi]] >= fill * head:
            hi += 1
        idx = order[lo:hi]
        lo = hi
        out[idx] = emb._embed_batch([texts[i] for i in idx])
    return normalize(out)


def windows(size: int, n: int) -> list[str]:
    """n windows of `size` words of SciFact abstracts (a last window under half a size is
    left out), in a fixed random order."""
    corpus, _, _ = load_beir("scifact")
    out: list[str] = []
    for rec in corpus.values():
        words = rec["text"].split()
        out += [
            " ".join(words[lo : lo + size])
            for lo in range(0, len(words), size)
            if len(words[lo : lo + size]) >= size // 2
        ]
    random.Random(0).shuffle(out)
    return out[:n]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--backend", default="onnx", choices=["onnx", "torch"])
    ap.add_argument("--calls", default="0,8,16,32,64,128", help="call_tokens values to try")
    args = ap.parse_args()

    emb = make_embedder(Settings(embed_backend=args.backend))
    sentences = scifact_sentences(384)
    chunks = windows(80, 256)
    sets = {"sentences": (sentences, 0), "sentences/8": (sentences, 8)}
    sets.update({"sentences/32": (sentences, 32), "chunks": (chunks, 0)})
    sets.update({"chunks/32": (chunks, 32), "long": (windows(190, 128), 0)})
    emb.embed(sentences[:64])  # warm up (and export the ONNX graph if it is not cached)

    def with_calls(k: int) -> Callable[[list[str]], object]:
        def run(texts: list[str]) -> object:
            emb.call_tokens = k
            return emb.embed(texts)

        return run

    configs: dict[str, Callable[[list[str]], object]] = {
        "count 32": lambda t: fill_calls(emb, t, 0.0, 32),
        "fill 0.6": lambda t: fill_calls(emb, t, 0.6, 64),
    }
    for k in (int(x) for x in args.calls.split(",")):
        configs[f"calls {k}"] = with_calls(k)

    rates: dict[str, dict[str, list[float]]] = {k: {c: [] for c in configs} for k in sets}
    tokens = {k: round(statistics.mean(emb.count_tokens(v[0])), 1) for k, v in sets.items()}
    names = list(configs)
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for kind, (texts, per_call) in sets.items():
            shuffled = list(texts)
            random.Random(r).shuffle(shuffled)
            step = per_call or len(texts)
            for name in order:
                t0 = time.perf_counter()
                for lo in range(0, len(texts), step):
                    configs[name](shuffled[lo : lo + step])
                rates[kind][name].append(len(texts) / (time.perf_counter() - t0))
        print(f"round {r + 1}/{args.rounds} done", flush=True)

    summary = {
        kind: {name: round(statistics.median(v), 1) for name, v in by.items()}
        for kind, by in rates.items()
    }
    print(f"{emb.describe()}")
    print(f"texts/s, median of {args.rounds} rounds (mean tokens per text: {tokens})")
    print("| configuration | " + " | ".join(sets) + " |")
    print("|---|" + "---|" * len(sets))
    for name in names:
        print(f"| {name} | " + " | ".join(str(summary[k][name]) for k in sets) + " |")
    save(
        f"embed_batching_{args.backend}",
        {
            "machine": machine(),
            "embedder": emb.describe(),
            "rounds": args.rounds,
            "texts": {k: len(v[0]) for k, v in sets.items()},
            "mean_tokens": tokens,
            "texts_per_s": {
                k: {c: [round(x, 1) for x in v] for c, v in by.items()} for k, by in rates.items()
            },
            "median_texts_per_s": summary,
        },
    )


if __name__ == "__main__":
    main()
