"""Question sets made from a person's own index, so recall can be measured on their corpus.

Each question comes from one sentence of one document, and its answer is a known span of that
sentence: a number or a multi-word name. Without a language model the question is a cloze
("Fill in the blank: The kiln reaches ___ degrees when firing stoneware."); with one configured,
the model writes a natural question from the sentence and the answer, and the question is kept
only if it ends with a question mark, does not give the answer away and shares words with the
sentence (otherwise the cloze is used). The output is the seed format (JSON lines) that
`rag eval answers` reads: question, answers, the source file, and the answer's character span.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..answer.evidence import content_terms
from ..answer.instructions import looks_like_instruction
from ..store import Store
from ..text.sentences import split_sentences

_NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w])")
_NAME = re.compile(r"(?<=[a-z,;:] )([A-Z][a-z]+(?:\s+[A-Z][a-z]+)+)")

# (question, answer, sentence) -> a question, or None to keep the cloze
WriteQuestion = Callable[[str, str], str | None]


def answer_spans(sentence: str) -> list[tuple[int, int]]:
    """Numbers and multi-word names in a sentence (not at its start)."""
    spans = [(m.start(), m.end()) for m in _NUMBER.finditer(sentence) if len(m.group()) >= 2]
    spans += [(m.start(1), m.end(1)) for m in _NAME.finditer(sentence)]
    return spans


def generate(
    store: Store,
    n: int = 100,
    *,
    seed: int = 0,
    writer: WriteQuestion | None = None,
) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    per_doc: list[list[dict[str, Any]]] = []
    for info in store.documents():
        doc = store.document(info.id)
        options = []
        for span in split_sentences(doc.text):
            words = len(span.text.split())
            if not 8 <= words <= 60 or looks_like_instruction(span.text):
                continue
            for a, b in answer_spans(span.text):
                options.append((span, a, b))
        rng.shuffle(options)
        items = []
        for span, a, b in options[:5]:
            answer = span.text[a:b]
            cloze = f"Fill in the blank: {span.text[:a]}___{span.text[b:]}"
            question = cloze
            written = writer(span.text, answer) if writer else None
            if written and _good_question(written, answer, span.text):
                question = written
            items.append(
                {
                    "question": question,
                    "answerable": True,
                    "answers": [answer],
                    "must_mention_any": [[answer]],
                    "sources": [Path(info.source).name],
                    "spans": [[span.start + a, span.start + b]],
                    "sentence": span.text,
                    "generated_by": "model" if question != cloze else "cloze",
                }
            )
        if items:
            per_doc.append(items)
    rng.shuffle(per_doc)
    out: list[dict[str, Any]] = []
    while len(out) < n and any(per_doc):  # round-robin over documents: no document dominates
        for items in per_doc:
            if items and len(out) < n:
                out.append(items.pop(0))
    for i, item in enumerate(out, 1):
        item["id"] = f"g{i:04d}"
    return out


def _good_question(question: str, answer: str, sentence: str) -> bool:
    q = question.strip()
    return (
        q.endswith("?")
        and 3 <= len(q.split()) <= 40
        and answer.lower() not in q.lower()
        and bool(set(content_terms(q)) & set(content_terms(sentence)))
    )


def write_jsonl(items: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps(item, ensure_ascii=False) + "\n")
