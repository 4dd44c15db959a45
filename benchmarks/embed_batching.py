"""How should texts be grouped into model calls? Texts/s of `Embedder.embed` under several batch
bounds, on three kinds of real text, measured side by side (interleaved rounds, same process).

    .venv/bin/python benchmarks/embed_batching.py [--rounds 3]

Texts (SciFact, ../shared/datasets/scifact): `sentences` (what /v1/embeddings clients send, about
36 tokens) embedded in one call, `sentences/25` the same sentences 25 per call in random order (as
the server's dynamic batches reach the model), `chunks` (80-word windows, about 110 tokens: what ingestion embeds at the default
chunk size) and `long` (190-word windows, about 250 tokens). Configurations:

- `count 32`: the bound rag used before, 32 texts per call whatever their length;
- `tokens N`: at most N tokens per call once padded to the call's longest text (and at most 64
  texts);
- `tokens N, fill F`: the same, and a call also ends where texts fall below F of its longest
  text's length: what rag does, with N = `embed_batch_tokens` and F = `batch_fill`;
- `encode bs B`: bare `SentenceTransformer.encode(texts, batch_size=B)` for reference.

Every configuration embeds the same texts in each round; the order of configurations rotates
from round to round, so the machine's drift spreads over all of them.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable

from common import load_beir, machine, save, scifact_sentences

from rag.embeddings import SentenceTransformerEmbedder


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
    ap.add_argument("--budgets", default="1024,2048")
    ap.add_argument("--fills", default="0.6")
    args = ap.parse_args()
    budgets = [int(b) for b in args.budgets.split(",")]
    fills = [float(f) for f in args.fills.split(",")]

    emb = SentenceTransformerEmbedder()
    model = emb.model
    sentences = scifact_sentences(384)
    sets = {"sentences": sentences, "sentences/25": sentences}
    sets.update(chunks=windows(80, 256), long=windows(190, 128))
    emb.embed(sets["sentences"][:64])  # warm up

    def with_bounds(size: int, tokens: int, fill: float) -> Callable[[list[str]], object]:
        def run(texts: list[str]) -> object:
            emb.batch_size, emb.batch_tokens, emb.batch_fill = size, tokens, fill
            return emb.embed(texts)

        return run

    configs: dict[str, Callable[[list[str]], object]] = {"count 32": with_bounds(32, 1 << 30, 0)}
    for b in budgets:
        configs[f"tokens {b}"] = with_bounds(64, b, 0)
        for f in fills:
            configs[f"tokens {b}, fill {f}"] = with_bounds(64, b, f)
    for bs in (8, 32):
        configs[f"encode bs {bs}"] = lambda t, bs=bs: model.encode(
            t, batch_size=bs, normalize_embeddings=True, show_progress_bar=False
        )

    rates: dict[str, dict[str, list[float]]] = {k: {c: [] for c in configs} for k in sets}
    tokens = {k: round(statistics.mean(emb.count_tokens(v)), 1) for k, v in sets.items()}
    names = list(configs)
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for kind, texts in sets.items():
            per_call = 25 if kind == "sentences/25" else len(texts)
            for name in order:
                t0 = time.perf_counter()
                for lo in range(0, len(texts), per_call):
                    configs[name](texts[lo : lo + per_call])
                rates[kind][name].append(len(texts) / (time.perf_counter() - t0))
        print(f"round {r + 1}/{args.rounds} done", flush=True)

    summary = {
        kind: {name: round(statistics.median(v), 1) for name, v in by.items()}
        for kind, by in rates.items()
    }
    print(f"texts/s, median of {args.rounds} rounds (mean tokens per text: {tokens})")
    print("| configuration | " + " | ".join(sets) + " |")
    print("|---|" + "---|" * len(sets))
    for name in names:
        print(f"| {name} | " + " | ".join(str(summary[k][name]) for k in sets) + " |")
    save(
        "embed_batching",
        {
            "machine": machine(),
            "rounds": args.rounds,
            "texts": {k: len(v) for k, v in sets.items()},
            "mean_tokens": tokens,
            "texts_per_s": {
                k: {c: [round(x, 1) for x in v] for c, v in by.items()} for k, by in rates.items()
            },
            "median_texts_per_s": summary,
        },
    )


if __name__ == "__main__":
    main()
