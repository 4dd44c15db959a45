"""Fine-tuning the packaged all-MiniLM-L6-v2 to pick the answering sentence (EVAL.md, "The
answer model"), measured on its own: rag.answer.train_encoder trains the shipped encoder the
same way (all six layers).

Task: within each answerable SQuAD 2.0 question's own paragraph (part 1, paragraphs of two
sentences or more), the share whose most similar sentence holds an answer start. Training: the
training articles only (rag.eval.data.is_heldout, by article), one pass in batches of 8
questions, a softmax over each question's paragraph sentences (scale 20, the gold ones its
target), AdamW at 3e-5; the top `--train-layers` transformer layers learn, the rest stay as
packaged. Reported on the held-out articles, before and after, in the same run.

    .venv/bin/python benchmarks/answer_encoder.py [--train-layers 6]    # ~11 min on 2 cores

`--nq` adds NQ-open part 1's training questions (by passage title; the sentences of the gold
passage holding an answer's text are the targets: rag.answer.train_encoder.nq_paragraphs) and
reports NQ-open's held-out titles beside SQuAD's, with the shipped encoder's figures (~16 min).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

import numpy as np
from common import DATASETS, ROOT, machine, save  # type: ignore[import-not-found]

sys.path.insert(0, str(ROOT))

from rag.answer.train_encoder import (
    Asked,
    fine_tune,
    merged,
    nq_paragraphs,
    squad_paragraphs,
    st_embed,
    top1,
)
from rag.eval.data import is_heldout

Question = tuple[int, list[int], list[int], bool]  # row in asked, its sentences, gold, held out


def squad_sentences() -> tuple[list[str], list[str], list[Question]]:
    """The sentences, the questions, and each question's paragraph sentences and gold ones."""
    data = squad_paragraphs(DATASETS / "squad2-dev" / "dev-v2.0-part1.json")
    rows = [(i, a.sentences, a.gold, is_heldout(a.group)) for i, a in enumerate(data.asked)]
    return data.sentences, [a.question for a in data.asked], rows


def retrieved(model: Any) -> dict[str, Any]:
    """Held-out answerable questions, the sentences of their 5 retrieved passages: the share,
    among those whose sentences hold a gold answer, whose top sentence holds one, by the
    packaged model's cosine, the tuned model's cosine, and the shipped answer model."""
    from rag.answer.evidence import candidates, score
    from rag.api import RagIndex
    from rag.config import Settings
    from rag.eval.answers import open_eval_index
    from rag.eval.data import load_qa
    from rag.text.markup import plain_text

    path = DATASETS / "squad2-dev" / "dev-v2.0-part1.json"
    qa = load_qa(path)
    idx, _, _ = open_eval_index(qa, path, Settings())
    assert isinstance(idx, RagIndex)
    answerer: Any = idx.answerer
    hits_gold = {"packaged cosine": 0, "tuned cosine": 0, "answer model": 0}
    asked = 0
    try:
        for item in qa.items:
            if not item.answerable or not is_heldout(item.group):
                continue
            cands = candidates(idx.search(item.question, 5))
            texts = [plain_text(c.reading) for c in cands]
            has = [any(a.lower() in t.lower() for a in item.answers) for t in texts]
            if not any(has):
                continue
            asked += 1
            score(item.question, cands, answerer.embedder, answerer.doc_freq, answerer.model)
            base = answerer.embedder.embed([item.question, *texts])
            tuned = model.encode([item.question, *texts], normalize_embeddings=True)
            picks = {
                "packaged cosine": int(np.argmax(base[1:] @ base[0])),
                "tuned cosine": int(np.argmax(tuned[1:] @ tuned[0])),
                "answer model": int(np.argmax([c.score for c in cands])),
            }
            for name, i in picks.items():
                hits_gold[name] += has[i]
    finally:
        idx.close()
    return {"questions": asked, **{k: round(v / asked, 4) for k, v in hits_gold.items()}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--train-layers", type=int, default=6, help="top layers that learn (of 6)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--epochs", type=int, default=1, help="passes over the training questions")
    ap.add_argument(
        "--by-article",
        action="store_true",
        help="batches of one article's questions, the softmax over all their paragraphs' sentences",
    )
    ap.add_argument(
        "--retrieved",
        action="store_true",
        help="also compare, among the sentences of the passages retrieved for each held-out "
        "question (rag eval answers' scratch index), the packaged cosine, the tuned cosine and "
        "the shipped answer model",
    )
    ap.add_argument(
        "--nq",
        action="store_true",
        help="also train on NQ-open part 1's training questions (answer text in the gold "
        "passage's sentences), and report NQ-open's held-out top-1 beside SQuAD's, the shipped "
        "encoder's too",
    )
    args = ap.parse_args()

    squad = squad_paragraphs(DATASETS / "squad2-dev" / "dev-v2.0-part1.json")
    nq = (
        nq_paragraphs(DATASETS / "nq-open-oracle" / "nq-open-oracle-part1.jsonl")
        if args.nq
        else None
    )
    data = merged(squad, nq) if nq else squad

    def held(a: Asked) -> bool:
        return is_heldout(a.group)

    def held_squad(a: Asked) -> bool:
        return held(a) and a.kind == "squad"

    def held_nq(a: Asked) -> bool:
        return held(a) and a.kind == "nq"

    from sentence_transformers import SentenceTransformer

    from rag.embeddings import packaged_model_path

    packaged = SentenceTransformer(str(packaged_model_path()), device="cpu")

    def figures(model: Any) -> dict[str, float]:
        out = {"heldout": top1(st_embed(model), data, held_squad)}
        if args.nq:
            out["heldout_nq"] = top1(st_embed(model), data, held_nq)
        return out

    result: dict[str, Any] = {"args": vars(args), "before": figures(packaged)}
    if args.nq:
        from rag.answer.encoder import assemble
        from rag.answer.train_encoder import DEFAULT_ENCODER
        from rag.config import Settings
        from rag.onnx_embed import file_sha256

        folder = assemble(DEFAULT_ENCODER, file_sha256(DEFAULT_ENCODER), Settings().cache_dir)
        result["shipped"] = figures(SentenceTransformer(str(folder), device="cpu"))
        print("shipped", result["shipped"], flush=True)
    print("before", result["before"], flush=True)
    t0 = time.perf_counter()
    model = fine_tune(
        data,
        lambda a: not held(a),
        train_layers=args.train_layers,
        batch=args.batch,
        lr=args.lr,
        by_article=args.by_article,
        epochs=args.epochs,
    )
    result["train_s"] = round(time.perf_counter() - t0)
    result["after"] = {
        **figures(model),
        "train": top1(st_embed(model), data, lambda a: not held(a)),
    }
    result["questions"] = {
        "train": sum(not held(a) for a in data.asked),
        "heldout": sum(held_squad(a) for a in data.asked),
        "heldout_nq": sum(held_nq(a) for a in data.asked),
    }
    bert = model[0].auto_model
    result["trainable_parameters"] = sum(
        p.numel()
        for layer in bert.encoder.layer[6 - args.train_layers :]
        for p in layer.parameters()
    )
    print("after", result["after"], "in", result["train_s"], "s", flush=True)
    if args.retrieved:
        result["retrieved"] = retrieved(model)
        print("retrieved", result["retrieved"], flush=True)
    result["machine"] = machine()
    name = f"answer_encoder-top{args.train_layers}" + ("-by-article" if args.by_article else "")
    name += f"-{args.epochs}-epochs" if args.epochs > 1 else ""
    name += "-nq" if args.nq else ""
    print("wrote", save(name, result))


if __name__ == "__main__":
    main()
