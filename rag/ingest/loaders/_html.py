"""HTML to plain text, built here (not by get_text) so that heading offsets are known."""

from __future__ import annotations

import contextlib
import re
import warnings

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning
from bs4.element import NavigableString, PageElement, PreformattedString, Tag

from ..tables import is_data_table, markdown_table
from ._common import Headings, Limits, Parsed, normalize_newlines, sniff_unicode

_SKIP = {"script", "style", "noscript", "template", "svg", "head", "math", "iframe", "object"}
_PARAGRAPH = {"p", "pre", "blockquote", "table", "section", "article", "header", "footer",
              "nav", "main", "aside", "figure", "form", "fieldset", "address", "hr", "dl",
              "h1", "h2", "h3", "h4", "h5", "h6"}  # fmt: skip
_LINE = {"div", "li", "ul", "ol", "tr", "dt", "dd", "caption", "figcaption", "details",
         "summary", "option", "legend", "tbody", "thead", "tfoot"}  # fmt: skip
_HEADING = re.compile(r"h([1-6])")


def load_html(raw: bytes, limits: Limits | None = None) -> Parsed:
    decoded = sniff_unicode(raw)  # BOM, UTF-16, binary
    if decoded is None:
        with contextlib.suppress(UnicodeDecodeError):
            decoded = raw.decode("utf-8")  # else bs4 goes by the declared charset
    with warnings.catch_warnings():
        # XHTML starts with <?xml and is still HTML to us; bs4 would print ten lines about it.
        warnings.simplefilter("ignore", XMLParsedAsHTMLWarning)
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(decoded if decoded is not None else raw, "lxml")
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text().split()) if title_tag else ""
    out, heads = _TextBuilder(), Headings()
    _walk(soup, out, heads)
    return Parsed("".join(out.parts), title=title or heads.title, sections=heads.sections)


class _TextBuilder:
    """Plain text; line breaks and spaces are owed, then written before the next text."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.breaks = 0  # newlines owed before the next text
        self.gap = ""  # inline separator owed before the next text: " " or " | "
        self.at_line_start = True
        self.mark: int | None = None  # offset of the first text written since mark was reset
        self.mark_part = 0  # and its index in parts

    def block(self, newlines: int) -> None:
        self.breaks = max(self.breaks, newlines)

    def inline_gap(self, sep: str) -> None:
        if len(sep) > len(self.gap):
            self.gap = sep

    def text(self, s: str, pre: bool) -> None:
        if pre:
            if s:
                self._write(normalize_newlines(s))
            return
        if s[:1].isspace():
            self.inline_gap(" ")
        words = " ".join(s.split())
        if words:
            self._write(words)
            if s[-1].isspace():
                self.inline_gap(" ")

    def _write(self, s: str) -> None:
        if self.size and self.breaks:
            self._put("\n" * (self.breaks - self.at_line_start))
        elif self.gap and not self.at_line_start:
            self._put(self.gap)
        self.breaks, self.gap = 0, ""
        if self.mark is None:
            self.mark, self.mark_part = self.size, len(self.parts)
        self._put(s)

    def _put(self, s: str) -> None:
        if s:
            self.parts.append(s)
            self.size += len(s)
            self.at_line_start = s.endswith("\n")


def _walk(root: Tag, out: _TextBuilder, heads: Headings) -> None:
    """Depth-first, with an explicit stack: broken HTML (unclosed <b> ...) nests very deep."""
    todo: list[tuple[PageElement, bool, bool]] = [
        (c, False, False) for c in reversed(root.contents)
    ]
    while todo:
        node, pre, leaving = todo.pop()
        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):  # comments, doctype, CDATA
                out.text(str(node), pre)
            continue
        if not isinstance(node, Tag) or node.name in _SKIP:
            continue
        if node.name == "br":
            out.block(min(2, out.breaks + 1))
            continue
        if node.name == "table" and not leaving and (table := _markdown(node)) is not None:
            out.block(2)
            out.text(table, pre=True)
            out.block(2)
            continue
        newlines = 2 if node.name in _PARAGRAPH else 1 if node.name in _LINE else 0
        heading = _HEADING.fullmatch(node.name)
        if leaving:
            if heading and out.mark is not None:
                label = " ".join("".join(out.parts[out.mark_part :]).split())
                heads.add(out.mark, int(heading.group(1)), label)
            out.block(newlines)
            continue
        if node.name in ("td", "th") and node.find_previous_sibling(("td", "th")):
            out.inline_gap(" | ")
        out.block(newlines)
        if heading:
            out.mark = None
        todo.append((node, pre, True))
        inner_pre = pre or node.name == "pre"
        todo.extend((c, inner_pre, False) for c in reversed(node.contents))


def _markdown(table: Tag) -> str | None:
    """A data table as a Markdown table, its <caption> on the line above; None for a table
    used for layout (nested tables, one column, long cells), which is read as text."""
    if table.find("table") is not None:
        return None
    rows: list[list[str]] = []
    header_rows = 0
    below: dict[int, tuple[int, str]] = {}  # column -> (rows still covered, text): rowspan
    for tr in table.find_all("tr"):
        cells = tr.find_all(("td", "th"), recursive=False)
        is_head = tr.parent is not None and tr.parent.name == "thead"
        is_head = is_head or (bool(cells) and all(c.name == "th" for c in cells))
        row: list[str] = []
        for cell in cells:
            while len(row) in below:  # a cell of a row above, spanning down into this one
                row.append(_carry(below, len(row)))
            text = " ".join(cell.get_text(" ").split())
            span = _span(cell, "colspan", 64)
            down = _span(cell, "rowspan", 1000)
            for k in range(span):
                # A header spanning columns names each of them; a body cell says it once.
                value = text if k == 0 or is_head else ""
                if down > 1:
                    below[len(row)] = (down - 1, value)
                row.append(value)
        while len(row) in below:
            row.append(_carry(below, len(row)))
        if header_rows == len(rows) and is_head:
            header_rows += 1
        rows.append(row)
    if not is_data_table(rows):
        return None
    caption = table.find("caption")
    title = " ".join(caption.get_text(" ").split()) if caption else ""
    body = markdown_table(rows, header_rows)
    return f"{title}\n\n{body}" if title else body


def _carry(below: dict[int, tuple[int, str]], col: int) -> str:
    left, text = below.pop(col)
    if left > 1:
        below[col] = (left - 1, text)
    return text


def _span(cell: Tag, name: str, limit: int) -> int:
    try:
        return max(1, min(int(str(cell.get(name) or 1)), limit))
    except ValueError:
        return 1
