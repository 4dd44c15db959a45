"""Answer metrics. Ranking metrics are not here: they come from ranx (rag/eval/retrieval.py).

- SQuAD exact match and F1, with the official normalisation (lower case, no punctuation, no
  articles, single spaces); a refusal is the empty answer, which is right for an unanswerable
  question. Because the extractive backend answers in whole sentences, `contains` (a gold answer
  appears in the reply) is the measure that compares backends fairly.
- must-mention (seed format): every group of alternatives has one member in the answer.
- Citation precision: the share of citations whose span lies in a gold source (the gold
  paragraph or file), or overlaps a gold span when the set has spans.
- Short answers (the name, date or number shown inside the cited sentence): for answered,
  answerable questions of a kind that gets one (who / when / how many), the share that got one
  (`short_given`), and EM / F1 of those given against the gold answers (`short_em`,
  `short_f1`): how often the highlighted span is the answer.
- Citation recall, ALCE-style: the share of answer sentences fully supported by their own
  citations. Without an NLI model on this machine, "fully supported" is lexical: at least 80% of
  the sentence's content words, and every number in it, appear in its cited quotes.
"""

from __future__ import annotations

import collections
import re
import string
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..answer import Answer
from ..answer.align import numbers_in
from ..answer.evidence import content_terms, expected_type
from .data import QAItem

_PUNCT = set(string.punctuation)


def normalize(text: str) -> str:
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def f1(prediction: str, gold: str) -> float:
    p, g = normalize(prediction).split(), normalize(gold).split()
    if not p or not g:
        return float(p == g)
    common = sum((collections.Counter(p) & collections.Counter(g)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(g)
    return 2 * precision * recall / (precision + recall)


def exact(prediction: str, gold: str) -> float:
    return float(normalize(prediction) == normalize(gold))


def supported_by_citations(sentence: str, quotes: list[str]) -> bool:
    terms = content_terms(sentence)
    if not terms or not quotes:
        return False
    cited = " ".join(quotes)
    have = set(content_terms(cited))
    coverage = sum(t in have for t in terms) / len(terms)
    return coverage >= 0.8 and numbers_in(sentence) <= numbers_in(cited)


def score_answer(item: QAItem, answer: Answer, retrieved_sources: list[str]) -> dict[str, Any]:
    """One question's row: correctness, citations, refusal, retrieval."""
    pred = "" if answer.refused else answer.text
    row: dict[str, Any] = {
        "id": item.id,
        "answerable": item.answerable,
        "refused": answer.refused,
        "fallback": answer.fallback is not None,
    }
    golds = item.answers if item.answerable else [""]
    if item.answers or not item.answerable:
        row["em"] = max(exact(pred, g) for g in golds or [""])
        row["f1"] = max(f1(pred, g) for g in golds or [""])
        row["contains_gold"] = (
            item.answerable
            and not answer.refused
            and any(normalize(g) and normalize(g) in normalize(pred) for g in item.answers)
        )
    if item.answerable and item.answers and not answer.refused:
        short = answer.short_answer
        if short is not None or expected_type(item.question) is not None:
            row["short_given"] = short is not None
        if short is not None:
            row["short"] = short.text
            row["short_em"] = max(exact(short.text, g) for g in item.answers)
            row["short_f1"] = max(f1(short.text, g) for g in item.answers)
    if item.must_mention_any:
        text = pred.lower()
        row["mentions"] = all(any(m.lower() in text for m in g) for g in item.must_mention_any)
    gold = set(item.sources)
    if item.answerable and not answer.refused and answer.citations and gold:
        good = [_citation_ok(c.source, c.start, c.end, item) for c in answer.citations]
        row["citation_precision"] = sum(good) / len(good)
        by_number = {c.number: c.quote for c in answer.citations}
        supported = [
            supported_by_citations(s.text, [by_number[n] for n in s.citations if n in by_number])
            for s in answer.sentences
        ]
        row["citation_recall"] = sum(supported) / len(supported) if supported else 0.0
    if item.answerable and gold:
        row["retrieved_gold"] = any(is_gold(s, gold) for s in retrieved_sources)
    if item.must_mention_any and item.answerable:
        cited = [c.source for c in answer.citations]
        row["correct"] = (
            not answer.refused
            and row["mentions"]
            and bool(cited)
            and all(is_gold(c, gold) for c in cited)
        )
    elif not item.answerable:
        row["correct"] = answer.refused
    elif item.answers:
        row["correct"] = row["contains_gold"]
    return row


def is_gold(source: str, gold: Iterable[str]) -> bool:
    """Whether an indexed file is one a question's `sources` name: by file name
    ("expenses.md"), by a path ending ("handbook/expenses.md"), or by its whole path."""
    path = Path(source).as_posix()
    for g in gold:
        want = Path(g).as_posix().removeprefix("./")
        if want == Path(source).name or path == want or path.endswith("/" + want):
            return True
    return False


def _citation_ok(source: str, start: int, end: int, item: QAItem) -> bool:
    if not is_gold(source, item.sources):
        return False
    if item.spans:
        return any(start < b and a < end for a, b in item.spans)
    return True


def refusal_scores(rows: list[dict[str, Any]]) -> dict[str, float]:
    refused = [r for r in rows if r["refused"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    answerable = [r for r in rows if r["answerable"]]
    out = {
        "answerable_answered": _share(not r["refused"] for r in answerable),
    }
    if unanswerable:
        # With nothing refused, precision has nothing to measure: left out (0 read as "every
        # refusal was wrong"); a baseline that had it then reports it as gone.
        if refused:
            out["refusal_precision"] = _share(not r["answerable"] for r in refused)
        out["refusal_recall"] = _share(r["refused"] for r in unanswerable)
    return out


def summarise(rows: list[dict[str, Any]], latencies_ms: list[float]) -> dict[str, float]:
    import numpy as np

    out: dict[str, float] = {"questions": float(len(rows))}
    answerable = [r for r in rows if r["answerable"]]
    for key in ("em", "f1"):
        vals = [r[key] for r in rows if key in r]
        if vals:
            out[key] = float(np.mean(vals))
    for key in ("contains_gold", "mentions", "retrieved_gold"):
        vals = [r[key] for r in answerable if key in r]
        if vals:
            out[key] = float(np.mean(vals))
    for key in ("citation_precision", "citation_recall", "short_given", "short_em", "short_f1"):
        vals = [r[key] for r in rows if key in r]
        if vals:
            out[key] = float(np.mean(vals))
    judged = [r["correct"] for r in rows if "correct" in r]  # none for an item with no key
    if judged:
        out["correct"] = float(np.mean(judged))
    out.update(refusal_scores(rows))
    if any(r["fallback"] for r in rows):
        out["fallback_rate"] = float(np.mean([r["fallback"] for r in rows]))
    if latencies_ms:
        out["latency_ms_p50"] = float(np.percentile(latencies_ms, 50))
        out["latency_ms_p95"] = float(np.percentile(latencies_ms, 95))
        out["latency_ms_mean"] = float(np.mean(latencies_ms))
    return {k: round(v, 4) for k, v in out.items()}


def _share(flags: Any) -> float:
    values = list(flags)
    return sum(bool(v) for v in values) / len(values) if values else 0.0
