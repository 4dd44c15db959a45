"""Format invariance without the model: one article written as each format (rag.eval.render),
read back by rag's loaders, gives the sentences of the one-line text; and `rag eval formats`
runs end to end with the fake embedder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rag.config import Settings
from rag.eval.data import is_heldout
from rag.eval.formats import eval_formats
from rag.eval.render import FORMATS, render
from rag.ingest.loaders import load_file
from rag.text.markup import plain_text
from rag.text.sentences import split_sentences

from .conftest import FakeEmbedder

TITLE = "Harbour of Nordvik"
PARAGRAPHS = [
    "The harbour of Nordvik was built in 1872 by the Norwegian Public Roads Administration. "
    "Its breakwater, 420 metres long, protects the inner basin from the north-westerly "
    "storms that reach the coast every winter. The administration's engineers considered "
    "three alternative sites before choosing the present one.",
    "In 2025 the north breakwater was repaired at a cost of 2.4 million euros, paid by the "
    "port authority and the U.S. Army Corps of Engineers under a cooperation agreement. "
    "The repairs took eleven weeks. Dr. A. Jensen, the harbour master, called them "
    '"overdue but thorough."',
    "Fishing landings fell by eleven percent compared with the previous year, mostly because "
    "of the closure of the cod season. Herring landings, by contrast, rose to their highest "
    "level since 1998, and the fish processing industry hired forty additional workers.",
    "The municipality expects the harbour's importance to grow: a new ferry terminal is "
    "planned, and the environmental assessment of the extension is underway. Construction "
    "could begin in 2027 if the parliament approves the transportation budget.",
    "Visitors can reach Nordvik by bus from Bodø in about three hours, or by the coastal "
    "express, which calls at the harbour twice a day. The maritime museum near the quay "
    "documents the history of the fisheries and the reconstruction after 1945.",
]


def _sentences(text: str) -> list[str]:
    out = []
    for s in split_sentences(text):
        assert text[s.start : s.end] == s.text
        out.append(" ".join(plain_text(s.text).split()))
    return out


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_reads_back_to_the_sentences_of_the_one_line_text(
    fmt: str, tmp_path: Path
) -> None:
    path = tmp_path / f"article.{fmt}"
    path.write_bytes(render(fmt, TITLE, PARAGRAPHS))
    text = load_file(path).text
    want = [s for p in PARAGRAPHS for s in _sentences(p)]
    got = set(_sentences(text))
    missing = [s for s in want if s not in got]
    assert not missing, f"{fmt}: {missing}\n--- the loader's text:\n{text}"
    if fmt in ("md", "pdf"):
        assert any("\n" in s.text for s in split_sentences(text)), "not wrapped: tests nothing"


def test_the_pdf_has_printed_line_breaks_and_two_columns(tmp_path: Path) -> None:
    pdf = render("pdf", TITLE, PARAGRAPHS * 2)
    from pypdf import PdfReader

    reader = PdfReader(__import__("io").BytesIO(pdf))
    lines = [ln for page in reader.pages for ln in page.extract_text().splitlines() if ln]
    widths = sorted(len(ln) for ln in lines)
    # Full-width lines of about 90 characters and column lines of about 45.
    assert widths[len(widths) // 2] < 80 < widths[-1]


def _squad(tmp_path: Path) -> Path:
    """Questions made of the first words of a sentence (the fake embedder is a bag of words),
    so the extractive answerer answers and cites, and one question per paragraph it cannot."""
    data = []
    for n, title in enumerate(["Sky_(United_Kingdom)", "Oxygen", "Normans"]):
        paras = []
        for p, context in enumerate(PARAGRAPHS):
            first = next(s.text for s in split_sentences(context) if re.search(r"\d", s.text))
            m = re.search(r"\d[\d.,]*\d|\d", first)
            assert m is not None
            # The start of the sentence: the rest is what the answer adds.
            question = " ".join(first.split()[:7]) + "?"
            qas = [
                {"id": f"{n}-{p}", "question": question,
                 "answers": [{"text": m.group(), "answer_start": context.index(first) + m.start()}],
                 "is_impossible": False},
                {"id": f"{n}-{p}-x", "question": "Who painted the Mona Lisa?", "answers": [],
                 "is_impossible": True},
            ]  # fmt: skip
            paras.append({"context": context, "qas": qas})
        data.append({"title": title, "paragraphs": paras})
    path = tmp_path / "squad.json"
    path.write_text(json.dumps({"data": data}), encoding="utf-8")
    return path


def test_eval_formats_reports_every_format_side_by_side(tmp_path: Path) -> None:
    assert is_heldout("Oxygen") and not is_heldout("Normans")  # the split formats samples from
    # Every question answered (threshold 0): this checks the pipeline and the cited spans in
    # each format, not the answerer's choices, which the fake embedder cannot show.
    settings = Settings(
        index=tmp_path / "unused", chunk_tokens=60, chunk_overlap=10, answer_threshold=0.0
    )
    result = eval_formats(
        _squad(tmp_path),
        settings,
        formats=("txt", "md", "pdf"),
        articles=2,
        limit=12,
        work=tmp_path / "work",
        embedder=FakeEmbedder(),
    )
    assert list(result["results"]) == ["txt", "md", "pdf"]
    assert set(result["articles"]) == {"Sky (United Kingdom)", "Oxygen"}  # held out only
    assert result["questions"] == 12
    for fmt, summary in result["results"].items():
        assert summary["questions"] == 12
        assert summary["answerable_answered"] == 1.0, (fmt, summary)
        assert summary["quote_exact"] == 1.0  # every quote is the document's own text
        assert summary["citation_maps_back"] == 1.0  # ... and lies inside one paragraph
        assert "citation_gold_paragraph" in summary
    assert sorted(p.name for p in (tmp_path / "work" / "pdf" / "documents").iterdir()) == [
        "article00.pdf",
        "article01.pdf",
    ]
