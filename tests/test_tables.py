"""Tables kept as Markdown tables (issue 13): read from HTML, DOCX and PDF, never split inside
a row by the splitter, their header repeated in a chunk that starts inside them, and each row a
citable unit read with its header."""

from __future__ import annotations

import io
from pathlib import Path

import docx
import pytest

from rag.answer.evidence import candidates
from rag.documents import SearchHit
from rag.ingest.loaders import load_file
from rag.ingest.loaders._html import load_html
from rag.ingest.splitter import TokenSplitter
from rag.ingest.tables import find_tables, header_length, labelled_row, markdown_table, split_row

from .table_questions import MOUNTAINS, _pdf


def words(texts: list[str]) -> list[int]:
    return [len(t.split()) for t in texts]


# --- Markdown tables -------------------------------------------------------------------------


def test_markdown_table_pads_rows_escapes_pipes_and_merges_header_rows() -> None:
    table = markdown_table([["", "Population", "Population"], ["City", "2010", "2020"],
                            ["Springfield | IL", "116,250"], ["", "", ""]], header_rows=2)  # fmt: skip
    assert table == (
        "| City | Population 2010 | Population 2020 |\n"
        "| --- | --- | --- |\n"
        "| Springfield \\| IL | 116,250 |  |"
    )
    [span] = find_tables(table)
    assert (span.start, span.end) == (0, len(table))
    assert split_row(table.splitlines()[2]) == ["Springfield | IL", "116,250", ""]
    assert labelled_row(span.header(table), table.splitlines()[2]) == (
        "City: Springfield | IL; Population 2010: 116,250"
    )


def test_find_tables_needs_a_rule_under_the_header() -> None:
    text = (
        "| not | a table |\nprose\n\nBefore.\n| A | B |\n|---|:---:|\n| 1 | 2 |\n| 3 | 4 |\nAfter."
    )
    [t] = find_tables(text)
    assert text[t.start : t.end] == "| A | B |\n|---|:---:|\n| 1 | 2 |\n| 3 | 4 |"
    assert [text[a:b] for a, b in t.rows(text)] == ["| 1 | 2 |", "| 3 | 4 |"]
    assert t.header(text) == "| A | B |\n|---|:---:|"


# --- loaders ---------------------------------------------------------------------------------

HTML = b"""<html><body><h1>Cities</h1><p>Intro.</p>
<table><caption>Population by census</caption>
<thead><tr><th rowspan="2">City</th><th colspan="2">Population</th></tr>
<tr><th>2010</th><th>2020</th></tr></thead>
<tbody><tr><td>Springfield</td><td>116,250</td><td>114,394</td></tr>
<tr><td rowspan="2">Peoria</td><td colspan="2">not counted</td></tr>
<tr><td>115,007</td><td>113,150</td></tr></tbody></table>
<p>After.</p>
<table><tr><td>Menu</td><td><table><tr><td>a</td><td>b</td></tr></table></td></tr></table>
</body></html>"""


def test_html_table_with_thead_colspan_rowspan_and_caption() -> None:
    text = load_html(HTML).text
    assert (
        "Intro.\n\nPopulation by census\n\n"
        "| City | Population 2010 | Population 2020 |\n"
        "| --- | --- | --- |\n"
        "| Springfield | 116,250 | 114,394 |\n"
        "| Peoria | not counted |  |\n"  # a body cell spanning columns says it once
        "| Peoria | 115,007 | 113,150 |\n\n"  # a cell spanning rows is read in each
        "After."
    ) in text
    assert text.endswith("After.\n\nMenu\n\na | b")  # a layout table (nested): read as text


def test_html_table_without_th_takes_its_first_row_as_header() -> None:
    text = load_html(b"<table><tr><td>Year</td><td>Host</td></tr><tr><td>1936</td>"
                     b"<td>Berlin</td></tr></table>").text  # fmt: skip
    assert text == "| Year | Host |\n| --- | --- |\n| 1936 | Berlin |"


def test_docx_tables_in_order_with_paragraphs_and_header_rows(tmp_path: Path) -> None:
    d = docx.Document()
    d.add_paragraph("Before the table.")
    t = d.add_table(rows=3, cols=3)
    for r, row in enumerate([["Year", "Births", ""], ["2019", "10", "5"], ["2020", "11", "6"]]):
        for c, value in enumerate(row):
            t.cell(r, c).text = value
    t.cell(0, 1).merge(t.cell(0, 2))  # "Births" over two columns
    t.cell(2, 1).merge(t.cell(2, 2))
    d.add_paragraph("Between.")
    one = d.add_table(rows=1, cols=2)  # one row: no table of data
    one.cell(0, 0).text, one.cell(0, 1).text = "Signed", "J. Smith"
    d.add_paragraph("After.")
    path = tmp_path / "t.docx"
    d.save(str(path))
    assert load_file(path).text == (
        "Before the table.\n\n"
        "| Year | Births | Births |\n| --- | --- | --- |\n| 2019 | 10 | 5 |\n| 2020 | 11 6 |  |"
        "\n\nBetween.\n\nSigned | J. Smith\n\nAfter."
    )


def test_docx_rows_marked_as_header_make_the_header(tmp_path: Path) -> None:
    from docx.oxml import OxmlElement
    from docx.oxml.ns import qn

    d = docx.Document()
    t = d.add_table(rows=3, cols=2)
    for r, row in enumerate([["", "Sales"], ["Region", "2024"], ["North", "42"]]):
        for c, value in enumerate(row):
            t.cell(r, c).text = value
    for r in (0, 1):
        t.rows[r]._tr.get_or_add_trPr().append(OxmlElement("w:tblHeader"))
    assert t.rows[0]._tr.trPr.find(qn("w:tblHeader")) is not None
    buf = io.BytesIO()
    d.save(buf)
    path = tmp_path / "h.docx"
    path.write_bytes(buf.getvalue())
    assert load_file(path).text == "| Region | Sales 2024 |\n| --- | --- |\n| North | 42 |"


def test_pdf_tables_become_markdown_and_other_pages_keep_their_text(tmp_path: Path) -> None:
    path = tmp_path / "m.pdf"
    _pdf(path, "The highest mountains", "Ten of them, with their first ascent:", MOUNTAINS[:4],
         "Most climbers use oxygen.")  # fmt: skip
    doc = load_file(path)
    assert doc.text == (
        "The highest mountains\nTen of them, with their first ascent:\n\n"
        "| Mountain | Height (m) | First ascent |\n| --- | --- | --- |\n"
        "| Mount Everest | 8,849 | 1953 |\n| K2 | 8,611 | 1954 |\n"
        "| Kangchenjunga | 8,586 | 1955 |\n\n"
        "Most climbers use oxygen."
    )
    assert doc.page_starts == [0]


def test_pdf_without_tables_is_read_by_pypdf_alone(tmp_path: Path) -> None:
    from fpdf import FPDF

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("Helvetica", size=11)
    pdf.line(10, 10, 200, 10)  # a rule, but no table
    pdf.multi_cell(0, 6, "Only prose on this page.")
    path = tmp_path / "p.pdf"
    pdf.output(str(path))
    assert load_file(path).text == "Only prose on this page."


# --- the splitter ----------------------------------------------------------------------------

ROWS = [f"| {1900 + i} | {1000 + 7 * i:,} | note {i} |" for i in range(40)]
DOC = (
    "Intro paragraph with a few words.\n\nPopulation of Springfield by year\n\n"
    "| Year | Population | Note |\n| --- | --- | --- |\n" + "\n".join(ROWS) + "\n\nAfter it."
)


@pytest.mark.parametrize("chunk_tokens", [30, 50, 120])
def test_a_table_is_cut_between_rows_and_each_part_repeats_its_header(chunk_tokens: int) -> None:
    chunks = TokenSplitter(words, chunk_tokens, 8).split(DOC)
    [table] = find_tables(DOC)
    header = table.header(DOC)
    seen: list[str] = []
    for c in chunks:
        own = DOC[c.start : c.end]
        assert c.text.endswith(own)
        assert c.text[: header_length(c.text, c.start, c.end)] in ("", header + "\n")
        assert c.n_tokens <= chunk_tokens
        if table.body <= c.start < table.end:  # starts inside the table's rows
            # A header of 14 words would take more than a third of a 30-word chunk: then it is
            # not repeated (the rows would have too little room).
            assert c.text.startswith(header + "\n| 19") == (chunk_tokens >= 3 * 14)
        if c.start <= table.start < c.end and chunk_tokens >= 50:  # room for it
            assert c.text.startswith("Population of Springfield by year\n\n| Year")  # its title
        if c.start < table.end and table.start < c.end:
            for line in own.split("\n"):
                if line.startswith("| 19"):
                    assert line in ROWS  # whole rows only
                    seen.append(line)
    assert sorted(set(seen)) == sorted(ROWS)  # every row in some chunk


def test_a_table_that_fits_stays_whole_with_its_neighbours() -> None:
    text = "Before.\n\n| A | B |\n| --- | --- |\n| 1 | 2 |\n\nAfter."
    [chunk] = TokenSplitter(words, 100, 10).split(text)
    assert chunk.text == text and header_length(chunk.text, chunk.start, chunk.end) == 0


# --- citing a row ----------------------------------------------------------------------------


def test_each_row_is_a_candidate_read_with_its_header_and_cited_exactly() -> None:
    chunks = TokenSplitter(words, 50, 8).split(DOC)
    later = chunks[3]  # starts inside the table: the header is put before it
    assert header_length(later.text, later.start, later.end) > 0
    hit = SearchHit(1, "d", "/x/pop.md", "md", later.start, later.end, later.text, 1.0,
                    rank=1, section="Springfield")  # fmt: skip
    cands = candidates([hit])
    assert cands and all(DOC[c.start : c.end] == c.text for c in cands)
    assert all(c.text in ROWS for c in cands)  # rows only: the header is not an answer
    first = cands[0]
    assert first.row == labelled_row("| Year | Population | Note |", first.text)
    assert first.row.startswith("Year: 19") and "; Population: " in first.row
    assert first.reading == f"Springfield. {first.row}"


def test_the_app_shows_a_cited_table_as_a_table_with_the_row_highlighted() -> None:
    from rag.answer.evidence import citation
    from rag.ui.render import citation_cards

    chunks = TokenSplitter(words, 50, 8).split(DOC)
    later = chunks[3]  # the header is put before its span
    hit = SearchHit(7, "d", "/x/pop.md", "md", later.start, later.end, later.text, 1.0, rank=1)
    row = candidates([hit])[1]
    card = citation_cards([citation(row, 1)], [hit], turn=1)
    assert (
        '<table class="rag-table"><thead><tr><th>Year</th><th>Population</th><th>Note</th>' in card
    )
    cells = "".join(f"<td>{c}</td>" for c in split_row(row.text))
    assert f'<tr class="rag-cited">{cells}</tr>' in card and card.count("rag-cited") == 1
    assert "<mark>" not in card  # the row is highlighted whole, inside the table
