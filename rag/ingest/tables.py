"""Tables as Markdown: how the loaders write them, and where they are in a document's text.

A table read from HTML, DOCX or PDF becomes a Markdown (GFM) table: one line per row, cells
between pipes, the header row followed by its `| --- |` rule. One line per row is what lets the
splitter cut between rows only, repeat the header in a chunk that starts inside a table, and the
sentence segmenter cite a single row.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

# A row: "| a | b |". A rule: "| --- | :---: |".
_ROW = re.compile(r"[ \t]{0,3}\|.*\|[ \t]*")
_RULE = re.compile(r"[ \t]{0,3}\|(?:[ \t]*:?-{3,}:?[ \t]*\|)+[ \t]*")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
MAX_CELL_CHARS = 400  # a "cell" longer than this is a page laid out in a table, not data


def clean_cell(text: str) -> str:
    """A cell's text on one line, with its pipes escaped so they do not end the cell."""
    return " ".join(text.split()).replace("|", "\\|")


def is_data_table(rows: Sequence[Sequence[str]]) -> bool:
    """Rows and columns of short cells: a table of data, not a page laid out with <table>."""
    filled = [r for r in rows if any(c.strip() for c in r)]
    return (
        len(filled) >= 2
        and max(len(r) for r in filled) >= 2
        and all(len(c) <= MAX_CELL_CHARS for r in filled for c in r)
    )


def markdown_table(rows: Sequence[Sequence[str]], header_rows: int = 1) -> str:
    """Rows of cell texts as a Markdown table. The first `header_rows` rows (at least one) are
    merged column by column into the header row ("Population" over "2010" reads
    "Population 2010"); rows are padded to the widest; empty rows are dropped."""
    cells = [[clean_cell(c) for c in r] for r in rows]
    header_rows = max(1, header_rows)
    head, body = cells[:header_rows], [r for r in cells[header_rows:] if any(r)]
    width = max(len(r) for r in cells)
    header = []
    for col in range(width):
        parts = [r[col] for r in head if col < len(r) and r[col]]
        header.append(" ".join(dict.fromkeys(parts)))
    lines = [_line(header), "|" + " --- |" * width]
    lines += [_line(r + [""] * (width - len(r))) for r in body]
    return "\n".join(lines)


def _line(cells: Sequence[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def split_row(line: str) -> list[str]:
    """The cells of one Markdown row, stripped, pipes unescaped."""
    inner = line.strip()
    inner = inner[1:] if inner.startswith("|") else inner
    inner = inner[:-1] if inner.endswith("|") and not inner.endswith("\\|") else inner
    return [c.strip().replace("\\|", "|") for c in _CELL_SPLIT.split(inner)]


@dataclass(frozen=True)
class TableSpan:
    """A Markdown table in a text: [start, end) from its header row to its last row's end;
    `body` is where the first row after the rule begins (== end for a header-only table)."""

    start: int
    body: int
    end: int

    def header(self, text: str) -> str:
        """The header row and its rule, as they are in `text`."""
        return text[self.start : self.body].rstrip("\n")

    def rows(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each body row."""
        out, pos = [], self.body
        while pos < self.end:
            stop = text.find("\n", pos, self.end)
            stop = self.end if stop < 0 else stop
            out.append((pos, stop))
            pos = stop + 1
        return out


def find_tables(text: str) -> list[TableSpan]:
    """Every Markdown table in `text`: a row line, a rule line under it, and the row lines that
    follow."""
    if "|" not in text:
        return []
    lines: list[tuple[int, int]] = []
    pos = 0
    for line in text.split("\n"):
        lines.append((pos, pos + len(line)))
        pos += len(line) + 1
    out: list[TableSpan] = []
    i = 0
    while i + 1 < len(lines):
        (a, b), (c, d) = lines[i], lines[i + 1]
        if _ROW.fullmatch(text, a, b) and _RULE.fullmatch(text, c, d):
            j = i + 2
            while j < len(lines) and _ROW.fullmatch(text, *lines[j]):
                j += 1
            body = lines[i + 2][0] if j > i + 2 else d
            out.append(TableSpan(a, body, lines[j - 1][1]))
            i = j
        else:
            i += 1
    return out


def header_length(text: str, start: int, end: int) -> int:
    """How much of a chunk's `text` comes before its span [start, end) of the document: the
    table header the splitter repeats at the top of a chunk that starts inside a table (0 for
    every other chunk, whose text is exactly the document's text[start:end])."""
    return max(0, len(text) - (end - start))


def table_at(tables: Sequence[TableSpan], offset: int) -> TableSpan | None:
    """The table whose rows hold `offset`, if any."""
    for t in tables:
        if t.start <= offset < t.end:
            return t
    return None


def labelled_row(header: str, row: str) -> str:
    """A body row read with its header: "Year: 2019; Population: 331,449" (cells whose header
    is empty keep their value alone; empty cells are left out)."""
    names = split_row(header.split("\n", 1)[0])
    parts = []
    for i, value in enumerate(split_row(row)):
        if not value:
            continue
        name = names[i] if i < len(names) else ""
        parts.append(f"{name}: {value}" if name and name != value else value)
    return "; ".join(parts)
