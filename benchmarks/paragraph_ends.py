"""Paragraph ends in wrapped text: which line breaks of a PDF, hard-wrapped Markdown or e-mail
end a paragraph, and which only wrap one (rag.text.sentences.wrapped_breaks). The splitter
cuts a long document first at sentences that begin a paragraph, so a break read wrongly either
way changes which sentences share a chunk, and with it retrieval and the answer gate: the same
article then answers differently as .pdf or .md than as .txt (EVAL.md, "File formats").

SQuAD 2.0 part 1 articles written by rag.eval.render as .md (80 columns, paragraphs apart),
.pdf (fpdf2, justified and two-column pages, read back by pypdf), .txt (one paragraph a line)
and .txt with one sentence a line ("lines": short lines of every length, which must not read
as wrapped). Every single line break between two lines of text is labelled by where the paragraphs
really end (aligned on letters and digits, so hyphens, doubled spaces and markup do not
matter); a break read as a paragraph end where there is none is a false cut. WRAP_FIT is the
value with the best F1 on the training articles (rag.eval.data.is_heldout); held-out articles
are reported, never used to choose.

    .venv/bin/python benchmarks/paragraph_ends.py     # about two minutes; writes results/
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from common import DATASETS, RESULTS, ROOT  # type: ignore[import-not-found]

sys.path.insert(0, str(ROOT))

from rag.eval.data import is_heldout
from rag.eval.render import render
from rag.ingest.loaders import load_file
from rag.text.sentences import WRAP_FIT, split_sentences, wrapped_breaks

FITS = [0.7, 0.75, 0.8, 0.82, 0.84, 0.86, 0.88, 0.9, 0.92, 0.94, 0.96, 1.0]
FORMATS = ("pdf", "md", "txt", "lines")  # lines: .txt with one sentence a line


def labelled_breaks(text: str, pieces: list[str]) -> list[tuple[int, bool]]:
    """(offset, ends a paragraph) of each single line break between two lines of text."""
    ends, n = set(), 0
    for piece in pieces:
        n += sum(c.isalnum() for c in piece)
        ends.add(n)
    out, count = [], 0
    for i, c in enumerate(text):
        if c.isalnum():
            count += 1
        elif c == "\n" and text[i - 1 : i].strip() and text[i + 1 : i + 2].strip():
            out.append((i, count in ends))
    return out


def scores(docs: list[tuple[str, list[tuple[int, bool]]]], fit: float) -> dict[str, float]:
    tp = fp = fn = 0
    for text, labels in docs:
        wraps = wrapped_breaks(text, fit)
        for offset, end in labels:
            cut = offset not in wraps
            tp, fp, fn = tp + (cut and end), fp + (cut and not end), fn + (end and not cut)
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    breaks = sum(len(x) for _, x in docs)
    return {"precision": round(p, 4), "recall": round(r, 4), "f1": round(f1, 4),
            "false_cuts": fp, "breaks": breaks, "paragraph_ends": tp + fn}  # fmt: skip


def main() -> None:
    path = DATASETS / "squad2-dev" / "dev-v2.0-part1.json"
    if not path.is_file():
        raise SystemExit(f"missing {path}: see ../shared/datasets/README.md")
    articles = json.loads(path.read_text(encoding="utf-8"))["data"]
    docs: dict[tuple[str, str], list[tuple[str, list[tuple[int, bool]]]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for article in articles:
            split = "heldout" if is_heldout(article["title"]) else "train"
            title = article["title"].replace("_", " ")
            paragraphs = [" ".join(p["context"].split()) for p in article["paragraphs"]]
            lines = [s.text for p in paragraphs for s in split_sentences(p)]
            for fmt in FORMATS:
                file = Path(tmp) / f"article.{'txt' if fmt == 'lines' else fmt}"
                pieces = lines if fmt == "lines" else paragraphs
                file.write_bytes(render("txt" if fmt == "lines" else fmt, title, pieces))
                text = load_file(file).text
                docs.setdefault((fmt, split), []).append(
                    (text, labelled_breaks(text, [title, *pieces]))
                )
    rows = {
        f"{fmt}/{split}": {str(fit): scores(d, fit) for fit in FITS}
        for (fmt, split), d in sorted(docs.items())
    }
    train = rows["pdf/train"]
    best = max(FITS, key=lambda f: (train[str(f)]["f1"], -abs(f - 0.85)))
    result = {
        "heldout_articles": sum(1 for a in articles if is_heldout(a["title"])),
        "chosen_on": "pdf/train, best F1",
        "best_fit": best,
        "wrap_fit_in_code": WRAP_FIT,
        "rows": rows,
    }
    for key, row in rows.items():
        print(key, {f: (r["precision"], r["recall"], r["false_cuts"]) for f, r in row.items()})
    print("best WRAP_FIT on pdf/train:", best, "(code has", WRAP_FIT, ")")
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "paragraph_ends.json"
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
