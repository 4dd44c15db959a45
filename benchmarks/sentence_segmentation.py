"""rag's sentence rules against pysbd, on the SQuAD 2.0 paragraphs (../shared), one line and
hard-wrapped as PDFs and Markdown print them.

- answers cut: the share of gold answer spans that a sentence boundary cuts in two (a false
  split; an answer inside one sentence can be cited whole). Lower is better.
- wrapped, same sentences: the paragraph wrapped at 80 columns (Markdown, e-mail) and at 45
  (a PDF column) must give the sentences of the one-line text (compared as plain text, lines
  joined): the share of one-line sentences found again. Higher is better.
- agreement: boundaries of the one-line text the two segmenters share (F1), for reference.
- speed: characters per second on the one-line paragraphs.

    .venv/bin/python benchmarks/sentence_segmentation.py   # about a minute; writes results/
"""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from common import DATASETS, RESULTS, ROOT  # type: ignore[import-not-found]

sys.path.insert(0, str(ROOT))

from rag.text.markup import join_lines
from rag.text.sentences import blocks, split_sentences

Segmenter = Callable[[str], list[tuple[int, int]]]


def rules(text: str) -> list[tuple[int, int]]:
    return [(s.start, s.end) for s in split_sentences(text)]


def make_pysbd() -> tuple[Segmenter, Segmenter]:
    import pysbd

    seg = pysbd.Segmenter(language="en", clean=False, char_span=True)

    def raw(text: str) -> list[tuple[int, int]]:
        out = []
        for s in seg.segment(text):
            piece = text[s.start : s.end]
            lead = len(piece) - len(piece.lstrip())
            if piece.strip():
                out.append((s.start + lead, s.start + lead + len(piece.strip())))
        return out

    def in_blocks(text: str) -> list[tuple[int, int]]:
        # rag's structural blocks, then pysbd inside each with line breaks read as spaces
        # (same length, so offsets hold).
        out = []
        for a, b in blocks(text):
            out += [(a + s, a + e) for s, e in raw(text[a:b].replace("\n", " "))]
        return out

    return raw, in_blocks


def sentences_of(seg: Segmenter, text: str) -> list[str]:
    return [" ".join(join_lines(text[a:b]).split()) for a, b in seg(text)]


def answers_cut(seg: Segmenter, paragraphs: list[tuple[str, list[tuple[int, int]]]]) -> float:
    cut = total = 0
    for text, spans in paragraphs:
        ends = {e for _, e in seg(text)[:-1]}
        for a, b in spans:
            total += 1
            cut += any(a < e < b for e in ends)
    return cut / total


def wrapped_same(seg: Segmenter, texts: list[str], width: int) -> float:
    found = total = 0
    for text in texts:
        want = sentences_of(seg, text)
        got = set(sentences_of(seg, textwrap.fill(text, width, break_on_hyphens=False)))
        total += len(want)
        found += sum(s in got for s in want)
    return found / total


def agreement(a: Segmenter, b: Segmenter, texts: list[str]) -> float:
    shared = na = nb = 0
    for text in texts:
        ea, eb = {e for _, e in a(text)[:-1]}, {e for _, e in b(text)[:-1]}
        shared, na, nb = shared + len(ea & eb), na + len(ea), nb + len(eb)
    return 2 * shared / (na + nb) if na + nb else 1.0


def speed(seg: Segmenter, texts: list[str]) -> float:
    t0 = time.perf_counter()
    for text in texts:
        seg(text)
    return sum(map(len, texts)) / (time.perf_counter() - t0)


def main() -> None:
    path = DATASETS / "squad2-dev" / "dev-v2.0-part1.json"
    if not path.is_file():
        raise SystemExit(f"missing {path}: see ../shared/datasets/README.md")
    paragraphs = []
    for article in json.loads(path.read_text(encoding="utf-8"))["data"]:
        for para in article["paragraphs"]:
            spans = {
                (x["answer_start"], x["answer_start"] + len(x["text"]))
                for qa in para["qas"]
                for x in qa.get("answers", [])
            }
            paragraphs.append((para["context"], sorted(spans)))
    texts = [t for t, _ in paragraphs]
    # A few contexts hold line breaks of their own (chemical formulas: "O\n2"); the one-line
    # text the wrapped copies are compared with has none.
    flat = [" ".join(t.split()) for t in texts]
    raw, in_blocks = make_pysbd()
    segmenters = {"rag rules": rules, "pysbd": raw, "rag blocks + pysbd": in_blocks}
    rows = {}
    for name, seg in segmenters.items():
        rows[name] = {
            "answers_cut": round(answers_cut(seg, paragraphs), 4),
            "wrapped_80_same": round(wrapped_same(seg, flat, 80), 4),
            "wrapped_45_same": round(wrapped_same(seg, flat, 45), 4),
            "sentences_per_paragraph": round(sum(len(seg(t)) for t in texts) / len(texts), 2),
            "chars_per_s": round(speed(seg, texts)),
        }
        print(name, rows[name], flush=True)
    result = {
        "paragraphs": len(texts),
        "answer_spans": sum(len(s) for _, s in paragraphs),
        "agreement_f1_rules_vs_pysbd": round(agreement(rules, raw, texts), 4),
        "rows": rows,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "sentence_segmentation.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(json.dumps(result, indent=2))
    print(f"wrote {Path(out).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
