"""Wrapped text (a PDF page, hard-wrapped Markdown or e-mail: a line break after every printed
line) is chunked and scored as its one-line text is (issue 15): chunks begin and end where
sentences do, and the answer model reads a sentence's lines joined and de-hyphenated, while
offsets and quotes stay the source's."""

from __future__ import annotations

import random
import textwrap
import time

import numpy as np

from rag.answer.evidence import candidates, featurize
from rag.documents import SearchHit
from rag.ingest.splitter import MAYBE_PARAGRAPHS, TokenSplitter
from rag.store.keyword import stems
from rag.text.markup import reading_text
from rag.text.sentences import split_sentences, wrapped_breaks

from .conftest import FakeEmbedder

WORDS = [
    "harbour", "boats", "cod", "season", "landings", "fell", "repaired", "breakwater", "cost",
    "euros", "port",
]  # fmt: skip


def _paragraphs(n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 18))).capitalize() + "."
            for _ in range(rng.randint(1, 5))
        ]
        out.append(" ".join(sentences))
    return out


def test_chunks_of_wrapped_text_begin_and_end_where_sentences_do() -> None:
    emb = FakeEmbedder()
    for seed in range(5):
        # A PDF page as pypdf reads it: paragraphs on lines of 45 to 70 characters.
        paragraphs = _paragraphs(15, seed)
        text = "\n".join(textwrap.fill(p, 45 + 5 * seed) for p in paragraphs)
        spans = split_sentences(text)
        starts, ends = {s.start for s in spans}, {s.end for s in spans}
        chunks = TokenSplitter(emb.count_tokens, 40, 8).split(text)
        assert len(chunks) > 5
        for c in chunks:
            assert text[c.start : c.end] == c.text
            assert c.start in starts, f"chunk begins inside a sentence: {c.text[:40]!r}"
            assert c.end in ends, f"chunk ends inside a sentence: {c.text[-40:]!r}"


def test_one_paragraph_a_line_is_still_chunked_by_whole_paragraphs() -> None:
    emb = FakeEmbedder()
    paragraphs = [p for p in _paragraphs(30, 7) if emb.count_tokens([p])[0] < 40]
    text = "\n".join(paragraphs)
    line_starts = {0} | {i + 1 for i, ch in enumerate(text) if ch == "\n"}
    line_ends = {i for i, ch in enumerate(text) if ch == "\n"} | {len(text)}
    chunks = TokenSplitter(emb.count_tokens, 40, 8).split(text)
    assert len(chunks) > 5
    assert all(c.start in line_starts and c.end in line_ends for c in chunks)


def test_a_wrapped_file_is_grouped_into_chunks_as_its_one_line_copy_is() -> None:
    # Hard-wrapped Markdown: a sentence that begins a printed line by chance is no paragraph
    # start, so the chunks hold the same sentences as the one-paragraph-a-line copy's.
    emb = FakeEmbedder()
    for seed in range(4):
        paragraphs = _paragraphs(12, seed)
        wrapped = "\n\n".join(textwrap.fill(p, 80) for p in paragraphs)
        want = TokenSplitter(emb.count_tokens, 60, 0).split("\n".join(paragraphs))
        got = TokenSplitter(emb.count_tokens, 60, 0).split(wrapped)
        assert [" ".join(c.text.split()) for c in got] == [" ".join(c.text.split()) for c in want]


def test_a_pdf_page_is_never_cut_at_a_line_that_only_wraps() -> None:
    # A PDF page: paragraphs not apart, only their shorter last line shows where they end.
    # Reading a wrap as a paragraph end (and cutting a chunk there) is what made a PDF answer
    # differently from its .txt copy; a last line nearly full cannot be told from a wrap.
    for seed in range(4):
        lines = [textwrap.wrap(p, 60) for p in _paragraphs(12, seed)]
        text = "\n".join("\n".join(x) for x in lines)
        wraps, ends, pos = set(), set(), 0
        for x in lines:
            for line in x:
                pos += len(line) + 1
                (ends if line is x[-1] else wraps).add(pos - 1)
        found = wrapped_breaks(text)
        assert wraps <= found
        short = {e for e in ends if e < len(text) and e - text.rfind("\n", 0, e) < 40}
        assert short and not short & found


def test_a_paragraph_end_that_looks_like_a_wrap_is_still_tried_first_on_a_pdf_page() -> None:
    # A PDF page holds several paragraphs with no blank line between them. Where a paragraph's
    # last line is nearly full its end reads as a wrap; a sentence that begins a printed line
    # may then begin a paragraph, and is a cut before other sentences. In Markdown (paragraphs
    # apart) such a sentence begins its line by chance and never is. (A page is known to hold
    # several paragraphs by the ends that do show: 87% of them on the PDFs of EVAL.md.)
    emb = FakeEmbedder()
    found = 0
    for seed in range(40):
        paragraphs = _paragraphs(6, seed)
        lines = [textwrap.wrap(p, 50) for p in paragraphs]
        page = "\n".join("\n".join(x) for x in lines)
        firsts, pos, missed = [], 0, []
        for x in lines:
            firsts.append(pos)
            pos += sum(len(line) + 1 for line in x)
        wraps = wrapped_breaks(page)
        missed = [f for f in firsts[1:] if f - 1 in wraps]
        if not missed or len(missed) == len(firsts) - 1:
            continue  # a page is known to hold paragraphs by the ends that do show
        found += 1
        pieces = TokenSplitter(emb.count_tokens, 40, 0)
        pieces._text = page
        pieces._sentence_starts()
        assert set(missed) <= set(pieces._starts[MAYBE_PARAGRAPHS])
        md = "\n\n".join("\n".join(x) for x in lines)
        pieces._text = md
        pieces._sentence_starts()
        assert not pieces._starts[MAYBE_PARAGRAPHS]
    assert found >= 3


def test_a_chunk_is_embedded_and_indexed_as_it_reads() -> None:
    # Markdown marks and words hyphenated at a line end would make a file's chunks embed and
    # match differently from its one-paragraph-a-line copy.
    assert reading_text("# Pharmacy") == "Pharmacy"
    assert (
        reading_text(
            "- Pharmacists are **trained**\n  in drug manage-\n  ment. See [the guide](x)."
        )
        == "Pharmacists are trained in drug management. See the guide."
    )
    assert stems("the breakwater was re-\npaired") == stems("the breakwater was repaired")
    assert stems("high- and low-pressure") == ["high", "and", "low", "pressur"]


def test_line_breaks_that_only_wrap_a_paragraph() -> None:
    pdf = (
        "Sky picked up the remaining four for £1.3bn. In February 2015, Sky bid £4.2bn\n"
        "for a package of 120 premier league games across the three seasons from 2016.\n"
        "This represented an increase of 70% on the previous contract and was said to\n"
        "be £1bn more than the company had expected to pay.\n"
        "While  BSkyB  had  been  excluded  from  being  a  part  of  the  ONdigital  group,\n"
        "thereby making them a competitor by default, BSkyB was able to join Freeview.\n"
    )
    breaks = [i for i, c in enumerate(pdf) if c == "\n"][:-1]
    # The first break falls where a sentence ends and the next begins a line, but the word
    # "This" would not have fit: a wrap. "pay." is a short last line: a paragraph ends.
    assert sorted(wrapped_breaks(pdf)) == [breaks[0], breaks[1], breaks[2], breaks[4]]
    # One paragraph a line, however short and alike in length, is never read as wrapped.
    lines = "The port reopened in May.\nBoats came back in June.\nThe cod season closed.\n"
    assert wrapped_breaks(lines * 5) == frozenset()
    # Lines wider than anyone wraps text are paragraphs.
    assert wrapped_breaks(("word " * 60 + "end\n") * 6) == frozenset()


def test_splitting_a_long_text_into_sentences_takes_linear_time() -> None:
    # 300 KB with a period every 20 characters: looking back from each period to the start of
    # the text (as the abbreviation check did) took about a minute; now well under a second.
    line = "Dr. Smith met the U.S. team at 2.4 p.m. on Jan. 3 and left early. Then it rained."
    text = "\n".join([line] * 3600)
    t0 = time.perf_counter()
    spans = split_sentences(text)
    assert time.perf_counter() - t0 < 5
    assert len(spans) == 2 * 3600
    assert all(text[s.start : s.end] == s.text for s in spans[:50])


ONE_LINE = (
    "The breakwater at the north entrance was repaired in the spring at a cost of 2.4 million "
    "euros, paid by the port authority. Fishing landings fell by eleven percent, mostly because "
    "of the closure of the cod season. Harbour master Anna Jensen expects better management of "
    "the new berths."
)
# The same text as a PDF prints it: justified lines (pypdf reads double spaces), words
# hyphenated at a line end, a name broken across two lines.
WRAPPED = (
    "The breakwater at the north entrance was re-\n"
    "paired in the spring at a cost of 2.4 million\n"
    "euros,  paid  by  the  port  authority.  Fishing\n"
    "landings fell by eleven percent, mostly because\n"
    "of the closure of the cod season. Harbour master Anna\n"
    "Jensen expects better manage-\n"
    "ment of the new berths."
)


def _evidence(text: str, question: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    hit = SearchHit(1, "doc", "report.pdf", "pdf", 100, 100 + len(text), text, 1.0, rank=1)
    cands = candidates([hit])
    for c in cands:  # offsets and quotes are the source's, line breaks and hyphens included
        assert text[c.start - 100 : c.end - 100] == c.text
    ev = featurize(question, cands, FakeEmbedder(), lambda terms: ({t: 1 for t in terms}, 50))
    probs = np.linspace(0.9, 0.1, len(cands))
    return ev.rows, ev.gate_x(probs), [c.text for c in cands]


def test_a_wrapped_sentence_is_scored_as_its_one_line_text() -> None:
    for question in (
        "How much did the repair of the breakwater cost?",
        "Who expects better management of the berths?",
        "Why did fishing landings fall?",
    ):
        rows, gate, quotes = _evidence(ONE_LINE, question)
        wrapped_rows, wrapped_gate, wrapped_quotes = _evidence(WRAPPED, question)
        assert len(quotes) == len(wrapped_quotes) == 3
        assert "re-\npaired" in wrapped_quotes[0]
        np.testing.assert_allclose(wrapped_rows, rows, atol=1e-6)
        np.testing.assert_allclose(wrapped_gate, gate, atol=1e-6)
