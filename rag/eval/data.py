"""Evaluation data: BEIR retrieval sets and question sets (seed format, SQuAD 2.0, NQ-open
oracle), read into one shape, with the documents written out as files to ingest."""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..errors import ConfigError

QAFormat = Literal["seed", "squad", "nq"]


@dataclass
class BeirSet:
    name: str
    corpus: dict[str, dict[str, str]]  # doc id -> {title, text}
    queries: dict[str, str]  # query id -> text (only judged queries)
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: relevance}


@dataclass
class QAItem:
    id: str
    question: str
    answerable: bool
    answers: list[str] = field(default_factory=list)  # gold answer strings (SQuAD, NQ)
    must_mention_any: list[list[str]] = field(default_factory=list)  # seed format
    sources: list[str] = field(default_factory=list)  # file names an answer must cite
    spans: list[tuple[int, int]] = field(default_factory=list)  # gold spans in the source file
    group: str = ""  # what the held-out split goes by: the SQuAD article, the NQ passage title


@dataclass
class QASet:
    name: str
    format: QAFormat
    items: list[QAItem]
    documents: dict[str, str]  # file name -> text, to ingest; empty: use the index as it is


def load_beir(folder: Path, split: str = "test") -> BeirSet:
    try:
        data = _beir(Path(folder), split)
    except (KeyError, ValueError) as exc:
        what = f"has no {exc} field" if isinstance(exc, KeyError) else f"is malformed ({exc})"
        raise ConfigError(
            f"{folder}: a record {what}; BEIR wants corpus.jsonl lines with _id, title and "
            "text, queries.jsonl lines with _id and text, and qrels lines 'query-id corpus-id "
            "score'"
        ) from None
    missing = sorted({d for judged in data.qrels.values() for d in judged} - set(data.corpus))
    if missing:
        # A judged document that cannot be retrieved would be scored as a miss of every mode.
        raise ConfigError(
            f"{folder}: qrels/{split}.tsv judges {len(missing)} document(s) that corpus.jsonl "
            f"does not hold (first: {missing[0]!r}); fix the qrels or the corpus"
        )
    if not data.queries:
        raise ConfigError(
            f"{folder}: no query of queries.jsonl has a judgement in qrels/{split}.tsv"
        )
    return data


def _beir(folder: Path, split: str) -> BeirSet:
    needed = [folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise ConfigError(
            f"{folder} is not a BEIR folder: missing {', '.join(missing)} "
            "(expected corpus.jsonl, queries.jsonl and qrels/<split>.tsv)"
        )
    corpus: dict[str, dict[str, str]] = {}
    with needed[0].open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                rec = _json(line, needed[0], n)
                corpus[str(rec["_id"])] = {"title": rec.get("title") or "", "text": rec["text"]}
    qrels: dict[str, dict[str, int]] = {}
    with needed[2].open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            parts = line.split()
            if not parts or (n == 1 and not parts[-1].lstrip("-").isdigit()):
                continue  # the header line
            if len(parts) != 3:
                raise ConfigError(f"{needed[2]}:{n}: expected 'query-id corpus-id score'")
            if int(parts[2]) > 0:
                qrels.setdefault(parts[0], {})[parts[1]] = int(parts[2])
    queries: dict[str, str] = {}
    with needed[1].open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                rec = _json(line, needed[1], n)
                if str(rec["_id"]) in qrels:
                    queries[str(rec["_id"])] = rec["text"]
    return BeirSet(folder.name, corpus, queries, {q: qrels[q] for q in queries})


def beir_file_name(doc_id: str) -> str:
    """A file name for a BEIR document id; ids that are not safe names are hashed."""
    safe = all(ch.isalnum() or ch in "-_." for ch in doc_id) and not doc_id.startswith(".")
    return f"{doc_id}.txt" if safe and len(doc_id) < 120 else f"{_hash(doc_id)}.txt"


def beir_documents(data: BeirSet, ids: list[str] | None = None) -> dict[str, str]:
    out = {}
    for did in ids if ids is not None else list(data.corpus):
        rec = data.corpus[did]
        out[beir_file_name(did)] = (
            f"{rec['title']}\n\n{rec['text']}" if rec["title"] else rec["text"]
        )
    return out


def detect_format(path: Path) -> QAFormat:
    if path.suffix == ".json":
        return "squad"
    with path.open(encoding="utf-8") as f:
        line = next((x for x in f if x.strip()), "")
    if not line:
        raise ConfigError(f"{path} holds no questions")
    first = _json(line, path, 1)
    if "ctxs" in first:
        return "nq"
    if "question" in first and ("must_mention_any" in first or "answerable" in first):
        return "seed"
    raise ConfigError(
        f"{path}: cannot tell the format; pass --format seed, squad or nq "
        "(seed: JSON lines with question, answerable, sources, must_mention_any; squad: SQuAD 2.0 "
        "JSON; nq: JSON lines with question, answers, ctxs)"
    )


def load_qa(path: Path, fmt: QAFormat | None = None) -> QASet:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"question set {path} not found")
    fmt = fmt or detect_format(path)
    loader = {"squad": _squad, "nq": _nq}.get(fmt, _seed)
    try:
        qa = loader(path)
    except (KeyError, TypeError, ValueError) as exc:
        what = f"has no {exc} field" if isinstance(exc, KeyError) else f"is malformed ({exc})"
        raise ConfigError(
            f"{path}: a {fmt} record {what}; docs/evaluation.md shows the {fmt} format"
        ) from None
    if not qa.items:
        raise ConfigError(f"{path} holds no questions")
    return qa


def _seed(path: Path) -> QASet:
    items = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        rec = _json(line, path, n)
        items.append(
            QAItem(
                str(rec.get("id", n)),
                rec["question"],
                bool(rec.get("answerable", True)),
                answers=list(rec.get("answers", [])),
                must_mention_any=[list(g) for g in rec.get("must_mention_any", [])],
                sources=list(rec.get("sources", [])),
                spans=[(int(s[0]), int(s[1])) for s in rec.get("spans", [])],
            )
        )
    return QASet(path.stem, "seed", items, {})


def _squad(path: Path) -> QASet:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not SQuAD 2.0 JSON ({exc})") from exc
    items: list[QAItem] = []
    docs: dict[str, str] = {}
    for a, article in enumerate(data):
        for p, para in enumerate(article["paragraphs"]):
            name = f"{a:03d}_{p:03d}.txt"
            docs[name] = para["context"]
            for qa in para["qas"]:
                answers = [x["text"] for x in qa.get("answers", [])]
                spans = [
                    (x["answer_start"], x["answer_start"] + len(x["text"]))
                    for x in qa.get("answers", [])
                ]
                impossible = bool(qa.get("is_impossible", not answers))
                items.append(
                    QAItem(
                        qa["id"],
                        qa["question"],
                        not impossible,
                        answers,
                        [],
                        [name],
                        spans,
                        group=str(article.get("title", a)),
                    )
                )
    return QASet(path.stem, "squad", items, docs)


def _nq(path: Path) -> QASet:
    items: list[QAItem] = []
    docs: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        rec = _json(line, path, n)
        sources = []
        for ctx in rec.get("ctxs", []):
            body = f"{ctx.get('title', '')}\n\n{ctx['text']}".strip()
            name = f"{_hash(body)}.txt"  # the same passage for two questions is one file
            docs[name] = body
            sources.append(name)
        title = next((c.get("title", "") for c in rec.get("ctxs", [])), "")
        items.append(
            QAItem(f"nq{n}", rec["question"], True, list(rec["answers"]), [], sources, group=title)
        )
    return QASet(path.stem, "nq", items, docs)


def sample(items: list[Any], limit: int | None, seed: int) -> list[Any]:
    """A reproducible random sample, in the set's own order."""
    if limit is None or limit >= len(items):
        return list(items)
    keep = set(random.Random(seed).sample(range(len(items)), limit))
    return [x for i, x in enumerate(items) if i in keep]


Split = Literal["all", "train", "heldout"]


def is_heldout(group: str) -> bool:
    """About 30% of groups (articles, passage titles), fixed by a hash of the name: the answer
    model is trained on the rest, and its figures are reported on these."""
    digest = hashlib.sha256(f"rag-heldout:{group}".encode()).hexdigest()
    return int(digest[:8], 16) % 10 < 3


def split_items(items: list[QAItem], split: Split) -> list[QAItem]:
    if split == "all":
        return list(items)
    if any(not i.group for i in items):
        raise ConfigError(
            "this question set has no articles or titles to split by; use --split all"
        )
    return [i for i in items if is_heldout(i.group) == (split == "heldout")]


def write_documents(docs: dict[str, str], folder: Path) -> Path:
    """Writes files that differ, deletes files not in `docs`: the folder mirrors the set."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in docs.items():
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    for path in folder.iterdir():
        if path.name not in docs and path.is_file():
            path.unlink()
    return folder


def _hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def _json(line: str, path: Path, n: int) -> dict[str, Any]:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}:{n}: not JSON ({exc.msg})") from exc
    if not isinstance(rec, dict):
        raise ConfigError(f"{path}:{n}: expected a JSON object")
    return rec
