"""Can a learned map of the question's vector pick the answering sentence better than the
packaged embedder's own cosine? (EVAL.md, "The answer model": tried and not kept.)

Within each answerable SQuAD 2.0 question's own paragraph (part 1, paragraphs of two sentences
or more), the share whose most similar sentence holds an answer start: the cosine of the
packaged embedder's vectors, against the cosine after mapping the question's vector by a matrix
learnt on the training articles (a softmax over the paragraph's sentences, the gold ones its
target, the matrix kept near the identity), full (384 x 384) or diagonal. Trained on the
training articles, reported on the held-out ones (rag.eval.data.is_heldout, by article).

    .venv/bin/python benchmarks/question_adapter.py     # about 3 minutes on 2 cores
"""

from __future__ import annotations

import json
import sys
from typing import Any

import numpy as np
from answer_encoder import Question, squad_sentences  # type: ignore[import-not-found]
from common import ROOT, machine, save  # type: ignore[import-not-found]

sys.path.insert(0, str(ROOT))

from rag.config import Settings
from rag.embeddings import make_embedder


def collect() -> tuple[np.ndarray, np.ndarray, list[Question]]:
    sentences, asked, rows = squad_sentences()
    emb = make_embedder(Settings())
    return emb.embed(sentences), emb.embed(asked), rows


def top1(S: np.ndarray, Q: np.ndarray, rows: list[Question], held: bool) -> float:
    hits = [int(np.argmax(S[ids] @ Q[i])) in gold for i, ids, gold, h in rows if h == held]
    return float(np.mean(hits))


def fit(S: np.ndarray, Q: np.ndarray, rows: list[Question], diagonal: bool, lam: float) -> Any:
    import torch

    torch.manual_seed(0)
    s, q = torch.tensor(S), torch.tensor(Q)
    w = torch.ones(384) if diagonal else torch.eye(384)
    w.requires_grad_(True)
    opt = torch.optim.Adam([w], lr=1e-2 if diagonal else 1e-3)
    train = [r for r in rows if not r[3]]
    for _ in range(20):
        order = torch.randperm(len(train)).tolist()
        for b in range(0, len(order), 64):
            loss = torch.zeros(())
            for i, ids, gold, _ in (train[j] for j in order[b : b + 64]):
                v = q[i] * w if diagonal else q[i] @ w
                logits = 20 * (s[ids] @ (v / v.norm()))
                loss = loss + torch.logsumexp(logits, 0) - torch.logsumexp(logits[gold], 0)
            base = torch.ones(384) if diagonal else torch.eye(384)
            reg = ((w - base) ** 2).sum() * (1 if diagonal else 1 / 384)
            loss = loss / 64 + lam * reg
            opt.zero_grad()
            loss.backward()
            opt.step()
    return w.detach().numpy()


def main() -> None:
    S, Q, rows = collect()
    out: dict[str, Any] = {
        "questions": {"train": sum(not r[3] for r in rows), "heldout": sum(r[3] for r in rows)},
        "cosine": {"train": top1(S, Q, rows, False), "heldout": top1(S, Q, rows, True)},
    }
    for name, diagonal, lam in (
        ("full, lambda 1", False, 1.0),
        ("diagonal, lambda 0.01", True, 0.01),
    ):
        w = fit(S, Q, rows, diagonal, lam)
        mapped = Q * w if diagonal else Q @ w
        mapped /= np.linalg.norm(mapped, axis=1, keepdims=True)
        out[name] = {"train": top1(S, mapped, rows, False), "heldout": top1(S, mapped, rows, True)}
        print(name, out[name], flush=True)
    out["machine"] = machine()
    print(json.dumps({k: v for k, v in out.items() if k != "machine"}, indent=1))
    print("wrote", save("question_adapter", out))


if __name__ == "__main__":
    main()
