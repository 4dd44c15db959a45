"""Format invariance: the same SQuAD 2.0 questions asked of the same articles written as .txt,
.md, .html, .docx and .pdf (rag.eval.render). A format that reads worse than .txt shows up as
a lower "contains a gold answer" or refusal recall, or as citations that no longer map back to
the paragraph they quote.

Articles, not questions, are sampled (with a fixed seed), from the held-out articles by
default, and every question of a sampled article is a candidate: each format's index holds
whole articles, one file each, so retrieval must find the right paragraph inside a long
document as it must in a user's files.

Per format, besides rag eval's answer metrics:
- quote_exact: the share of citations whose quote is the document's text at their offsets.
- citation_maps_back: the share of answered questions whose every citation, read as plain
  text, is found in one paragraph of the article (the span is whole text, not a fragment that
  crosses paragraphs or a page's furniture).
- citation_gold_paragraph: the share of answered answerable questions with a citation inside
  the gold paragraph.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..answer import Answer, make_answerer
from ..api import SPLITTER_VERSION, RagIndex
from ..config import Settings
from ..embeddings import Embedder
from ..errors import ConfigError
from ..text.markup import plain_text
from .data import QAItem, is_heldout
from .metrics import score_answer, summarise
from .render import FORMATS, render

Progress = Callable[[str, int, int], None]


def _letters(text: str) -> str:
    """Letters and digits only: compares a quote with its paragraph whatever the layout did to
    spaces, line breaks, hyphens and markup."""
    return re.sub(r"[\W_]+", "", text.lower())


def load_articles(
    path: Path, articles: int, seed: int, split: str = "heldout"
) -> tuple[str, list[tuple[str, list[str]]], list[tuple[QAItem, int, int]]]:
    """(set name, [(title, paragraphs)], [(question, article, paragraph)]) of `articles`
    articles of the split ("heldout", "train" or "all"; rag.eval.data.is_heldout) drawn with
    `seed`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not SQuAD 2.0 JSON ({exc})") from exc
    pool = [
        n
        for n, a in enumerate(data)
        if split == "all" or is_heldout(a["title"]) == (split == "heldout")
    ]
    chosen = sorted(random.Random(seed).sample(pool, min(articles, len(pool))))
    docs, items = [], []
    for a, n in enumerate(chosen):
        article = data[n]
        paragraphs = [" ".join(p["context"].split()) for p in article["paragraphs"]]
        docs.append((article["title"].replace("_", " "), paragraphs))
        for p, para in enumerate(article["paragraphs"]):
            for qa in para["qas"]:
                answers = [x["text"] for x in qa.get("answers", [])]
                impossible = bool(qa.get("is_impossible", not answers))
                item = QAItem(qa["id"], qa["question"], not impossible, answers, [], [])
                items.append((item, a, p))
    return Path(path).stem, docs, items


def eval_formats(
    path: Path,
    settings: Settings,
    *,
    formats: tuple[str, ...] = FORMATS,
    articles: int = 3,
    split: str = "heldout",
    limit: int | None = 200,
    sample_seed: int = 0,
    backend: str | None = None,
    work: Path | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """The same questions against each format, side by side (one row per format)."""
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown format {unknown[0]!r}: choose from {', '.join(FORMATS)}")
    name, docs, items = load_articles(path, articles, sample_seed, split)
    if limit is not None and limit < len(items):
        keep = set(random.Random(sample_seed).sample(range(len(items)), limit))
        items = [x for i, x in enumerate(items) if i in keep]
    backend = backend or settings.backend
    folder = f"{name}-formats-{split}-{articles}-{sample_seed}-{SPLITTER_VERSION}"
    work = work or settings.cache_dir / "eval" / folder
    results, all_rows, ingest_s = {}, {}, {}
    for fmt in formats:
        rows, seconds = _run_format(fmt, docs, items, settings, backend, work, embedder, progress)
        summary = summarise(rows, [r["latency_ms"] for r in rows])
        for key in ("quote_exact", "citation_maps_back", "citation_gold_paragraph"):
            vals = [r[key] for r in rows if key in r]
            if vals:
                summary[key] = round(sum(vals) / len(vals), 4)
        results[fmt], all_rows[fmt], ingest_s[fmt] = summary, rows, round(seconds, 1)
    return {
        "kind": "answers",
        "dataset": f"{name}-formats-{'-'.join(formats)}",
        "format": "squad",
        "questions": len(items),
        "answerable": sum(i.answerable for i, _, _ in items),
        "documents": len(docs),
        "articles": [title for title, _ in docs],
        "limit": limit,
        "split": split,
        "sample_seed": sample_seed,
        "ingest_s": ingest_s,
        "backends": [backend],
        "results": results,
        "rows": all_rows,
        "metrics": {f"{f}/{m}": v for f, r in results.items() for m, v in r.items()},
    }


def _run_format(
    fmt: str,
    docs: list[tuple[str, list[str]]],
    items: list[tuple[QAItem, int, int]],
    settings: Settings,
    backend: str,
    work: Path,
    embedder: Embedder | None,
    progress: Progress | None,
) -> tuple[list[dict[str, Any]], float]:
    folder = work / fmt / "documents"
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for a, (title, paragraphs) in enumerate(docs):
        path = folder / f"article{a:02d}.{fmt}"
        data = render(fmt, title, paragraphs)
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
        files.append(path)
    for stale in set(folder.iterdir()) - set(files):
        stale.unlink()
    index_settings = settings.model_copy(update={"index": work / fmt / "index"})
    idx = RagIndex.open(index_settings, embedder, create=True)
    try:
        t0 = time.perf_counter()
        idx.ingest([folder], prune=True)
        ingest_s = time.perf_counter() - t0
        answerer = make_answerer(
            index_settings.model_copy(update={"backend": backend}),
            idx.embedder,
            idx.store.term_counts,
        )
        texts: dict[str, str] = {}
        rows = []
        for n, (item, a, p) in enumerate(items):
            t = time.perf_counter()
            hits = idx.search(item.question)
            answer = answerer.answer(item.question, hits)
            ms = (time.perf_counter() - t) * 1000
            item.sources = [files[a].name]
            row = score_answer(item, answer, [h.source for h in hits])
            row.update(_spans(answer, idx, texts, docs[a][1], p, item.answerable))
            row["latency_ms"] = round(ms, 1)
            row["answer"] = answer.render()
            row["format"] = fmt
            rows.append(row)
            if progress:
                progress(fmt, n + 1, len(items))
    finally:
        idx.close()
    return rows, ingest_s


def _spans(
    answer: Answer,
    idx: RagIndex,
    texts: dict[str, str],
    paragraphs: list[str],
    gold: int,
    answerable: bool,
) -> dict[str, Any]:
    if answer.refused or not answer.citations:
        return {}
    exact, maps, in_gold = [], [], []
    for c in answer.citations:
        if c.doc_id not in texts:
            texts[c.doc_id] = idx.store.document(c.doc_id).text
        exact.append(texts[c.doc_id][c.start : c.end] == c.quote)
        quote = _letters(plain_text(c.quote))
        found = [i for i, p in enumerate(paragraphs) if quote and quote in _letters(p)]
        maps.append(bool(found))
        in_gold.append(gold in found)
    out: dict[str, Any] = {
        "quote_exact": sum(exact) / len(exact),
        "citation_maps_back": all(maps),
    }
    if answerable:
        out["citation_gold_paragraph"] = any(in_gold)
    return out
