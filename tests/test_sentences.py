"""Sentence segmentation on text as the loaders produce it from each format, and the plain and
HTML forms of a cited sentence. Every span must be the exact source: text[start:end]."""

from __future__ import annotations

import pytest

from rag.text.markup import join_lines, markup_html, plain_text, source_of
from rag.text.sentences import blocks, split_sentences

from .conftest import ROOT


def sentences(text: str, offset: int = 0) -> list[str]:
    """The plain sentences of `text`, after checking every span's offsets."""
    spans = split_sentences(text, offset)
    for s in spans:
        assert text[s.start - offset : s.end - offset] == s.text
        assert s.text == s.text.strip() and s.text
    assert [s.start for s in spans] == sorted(s.start for s in spans)
    return [plain_text(s.text) for s in spans]


# pypdf's text of a one-page report printed by chromium: a line break after every printed line.
PDF_PAGE = """Harbour report 2026
The breakwater at the north entrance was repaired in the spring at a cost of 2.4
million euros, paid by the port authority and the U.S. Army Corps of Engineers.
Fishing landings fell by eleven percent compared with the previous year, mostly
because of the closure of the cod season. The harbour master, Dr. A. Jensen, ex-
pects a better year: "Most boats are back."
Manage-
ment of the new berths starts in May."""


def test_pdf_lines_join_into_sentences_and_hyphenated_words_are_joined() -> None:
    assert sentences(PDF_PAGE) == [
        "Harbour report 2026",
        "The breakwater at the north entrance was repaired in the spring at a cost of 2.4 "
        "million euros, paid by the port authority and the U.S. Army Corps of Engineers.",
        "Fishing landings fell by eleven percent compared with the previous year, mostly "
        "because of the closure of the cod season.",
        'The harbour master, Dr. A. Jensen, expects a better year: "Most boats are back."',
        "Management of the new berths starts in May.",
    ]


def test_offsets_are_shifted_and_exact_inside_a_longer_text() -> None:
    text = "Preamble.\n\n" + PDF_PAGE
    spans = split_sentences(text[11:], offset=11)
    assert spans[1].text.startswith("The breakwater")
    assert all(text[s.start : s.end] == s.text for s in spans)
    assert "\n" in spans[1].text  # the span is the source, line break and all


def test_a_page_break_and_a_blank_line_end_a_sentence() -> None:
    # pypdf pages are joined by a blank line; a form feed is a page break in plain text.
    assert sentences("the end of page one\n\nand page two") == [
        "the end of page one",
        "and page two",
    ]
    assert sentences("first page text\fsecond page text") == ["first page text", "second page text"]


# docs/app.md, hard-wrapped at 100 columns: a list item continues on an indented line.
MARKDOWN = """## Documents

- **Files that cannot be indexed** (an unsupported type, a corrupt or encrypted PDF, an empty
  file) are named in a message with the reason; the other files of the upload are indexed
  anyway.
- **Remove a document** by choosing it in the list under the table and pressing "Remove from
  index". A file that was uploaded (through the app or `rag serve`) is deleted from the
  `uploads` folder too.
1. Install it with [pip](https://pip.pypa.io/) and run
   `rag ingest`.
2) Ask.
"""


def test_markdown_list_items_headings_and_wrapped_lines() -> None:
    assert sentences(MARKDOWN) == [
        "Documents",
        "Files that cannot be indexed (an unsupported type, a corrupt or encrypted PDF, an empty "
        "file) are named in a message with the reason; the other files of the upload are "
        "indexed anyway.",
        'Remove a document by choosing it in the list under the table and pressing "Remove from '
        'index".',
        "A file that was uploaded (through the app or rag serve) is deleted from the uploads "
        "folder too.",
        "Install it with pip and run rag ingest.",
        "Ask.",
    ]


def test_the_user_guide_answer_is_one_whole_sentence() -> None:
    guide = (ROOT / "docs" / "app.md").read_text(encoding="utf-8")
    whole = [s for s in sentences(guide) if s.startswith("Remove a document")]
    assert whole == [
        'Remove a document by choosing it in the list under the table and pressing "Remove from '
        'index".'
    ]


# A table as the DOCX and HTML loaders write it (cells joined by " | "), and a Markdown table.
TABLE = """Port | Landings | Change
Aberdeen | 12,400 t | -11%
Peterhead | 140,200 t | +2%

| Port | Landings |
|------|----------|
| Aberdeen | 12,400 t |"""


def test_code_blocks_are_never_joined_into_prose() -> None:
    text = "Remove them by path:\n```bash\nrag remove ~/old.md\nrag remove 3f9a\n```\nDone."
    assert sentences(text) == [
        "Remove them by path:",
        "```bash",
        "rag remove ~/old.md",
        "rag remove 3f9a",
        "```",
        "Done.",
    ]


def test_every_table_row_is_its_own_span() -> None:
    got = sentences(TABLE)
    assert got[:3] == [
        "Port | Landings | Change",
        "Aberdeen | 12,400 t | -11%",
        "Peterhead | 140,200 t | +2%",
    ]
    assert len(got) == 6


def test_abbreviations_initials_numbers_and_quotes() -> None:
    text = (
        'Mr. Smith paid $2.4 million, i.e. more than planned, to the U.S. Navy. "Was it '
        'worth it?" she asked. He said: "Yes." The No. 5 berth (built ca. 1900) opened at 9 '
        "a.m. on Monday. Lloyd J. Austin III spoke. Prices rose 3.5% in Jan. and fell in "
        "March. Then it ended..."
    )
    assert sentences(text) == [
        "Mr. Smith paid $2.4 million, i.e. more than planned, to the U.S. Navy.",
        '"Was it worth it?" she asked.',
        'He said: "Yes."',
        "The No. 5 berth (built ca. 1900) opened at 9 a.m. on Monday.",
        "Lloyd J. Austin III spoke.",
        "Prices rose 3.5% in Jan. and fell in March.",
        "Then it ended...",
    ]


def test_a_line_ending_in_terminal_punctuation_ends_a_sentence() -> None:
    # Plain-text e-mail: a sentence a line, the last one without a full stop.
    mail = "The repair is done.\nThanks for the quick reply!\nWe start on Monday"
    assert sentences(mail) == ["The repair is done.", "Thanks for the quick reply!",
                               "We start on Monday"]  # fmt: skip
    # ... unless the next line reads on in lower case: an abbreviation at a printed line end.
    wrapped = "Many commute to L.A.\nand Orange County, where most of it was built after\n1950."
    assert sentences(wrapped) == [
        "Many commute to L.A. and Orange County, where most of it was built after 1950."
    ]


def test_numbers_and_letters_at_a_wrapped_line_start_are_not_list_items() -> None:
    # SQuAD text wrapped at 45 columns, as in a PDF column.
    text = (
        "this can also infringe article\n34. So, in a 2009 case, the Court held that\n"
        "the set of triples (a, b,\nc) such that a × b = c holds. The Social\n"
        "Chapter of the 1992 Maastricht Treaty -\ninstead, it was a protocol."
    )
    assert sentences(text) == [
        "this can also infringe article 34.",
        "So, in a 2009 case, the Court held that the set of triples (a, b, c) such that a × b = "
        "c holds.",
        "The Social Chapter of the 1992 Maastricht Treaty - instead, it was a protocol.",
    ]


def test_a_table_of_two_columns_and_a_stray_pipe() -> None:
    rows = "Port | Landings\nAberdeen | 12,400 t\nPeterhead | 140,200 t"
    assert sentences(rows) == ["Port | Landings", "Aberdeen | 12,400 t", "Peterhead | 140,200 t"]
    prose = "the language {xx\n| x is any binary string} can be solved in linear time."
    assert sentences(prose) == ["the language {xx | x is any binary string} can be solved in "
                                "linear time."]  # fmt: skip


def test_a_short_line_over_text_is_a_title_not_part_of_the_sentence() -> None:
    html_text = (
        "Annual report\nThe port handled 4.1 million tonnes of cargo in 2025, more than in any "
        "year\nbefore it, and the new quay opened in October."
    )
    assert sentences(html_text) == [
        "Annual report",
        "The port handled 4.1 million tonnes of cargo in 2025, more than in any year before it, "
        "and the new quay opened in October.",
    ]


def test_two_column_pdf_text_joins_within_each_column() -> None:
    # pypdf gives a two-column page column by column, lines about 45 characters long.
    page = (
        "The Normans were the people who in the 10th\n"
        "and 11th centuries gave their name to\n"
        "Normandy, a region in France.\n"
        "They were descended from Norse raiders and\n"
        "pirates from Denmark, Iceland and Norway."
    )
    assert sentences(page) == [
        "The Normans were the people who in the 10th and 11th centuries gave their name to "
        "Normandy, a region in France.",
        "They were descended from Norse raiders and pirates from Denmark, Iceland and Norway.",
    ]


def test_one_paragraph_a_line_is_split_as_before() -> None:
    text = (
        "Secretary of Defence Lloyd. J. Austin III spoke today. The U.S. commitment is firm. "
        "Dr. Smith agreed!\n\nA new paragraph? Yes.\nA line"
    )
    assert sentences(text) == [
        "Secretary of Defence Lloyd. J. Austin III spoke today.",
        "The U.S. commitment is firm.",
        "Dr. Smith agreed!",
        "A new paragraph?",
        "Yes.",
        "A line",
    ]


@pytest.mark.parametrize("text", ["", "   \n\n \f ", "word", "a\n\n\nb", "x.\n", "- ", "|"])
def test_degenerate_text_keeps_exact_offsets(text: str) -> None:
    sentences(text)


def test_blocks_cover_the_text_in_order() -> None:
    got = blocks(MARKDOWN)
    assert got == sorted(got)
    assert all(a < b for a, b in got)


def test_plain_text_strips_markup_and_joins_lines() -> None:
    assert join_lines("a cost of 2.4\n  million, manage-\nment, X-\nRay, pages 10-\n12") == (
        "a cost of 2.4 million, management, X-Ray, pages 10-12"
    )
    # As in pdftotext: a compound broken at its own hyphen loses it (SQuAD's normalisation,
    # which drops punctuation, reads both the same).
    assert join_lines("well-\nknown") == "wellknown"
    assert join_lines("high-\nand low-pressure") == "high- and low-pressure"
    assert plain_text("# The **harbour** report") == "The harbour report"
    assert plain_text("> quoted\n> text") == "quoted text"
    assert plain_text("* a _b_ snake_case_name and *c* ~~d~~ ![img](x.png)") == (
        "a b snake_case_name and c d img"
    )
    assert plain_text("See <https://example.org> and [**the guide**](docs/app.md).") == (
        "See https://example.org and the guide."
    )
    assert plain_text("2 * 3 * 4 = 24") == "2 * 3 * 4 = 24"  # not emphasis


def test_markup_html_formats_and_escapes() -> None:
    got = markup_html("- **Remove** it; see [docs](https://x.org/a?b=1) or [x](javascript:1) <b>")
    assert got == (
        '<strong>Remove</strong> it; see <a href="https://x.org/a?b=1" target="_blank" '
        'rel="noopener">docs</a> or <u>x</u> &lt;b&gt;'
    )
    assert markup_html("a `x*y` and 1*2") == "a <code>x\\*y</code> and 1\\*2"


def test_source_of_finds_the_quote_a_sentence_was_made_from() -> None:
    quote = "- **Remove a document** by pressing\n  it."
    assert source_of(plain_text(quote), ["other", quote]) == quote
    assert source_of("plain", ["plain"]) is None  # nothing to format
    assert source_of("a model's sentence", [quote]) is None
