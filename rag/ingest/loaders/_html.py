"""HTML to plain text, built here (not by get_text) so that heading offsets are known."""

from __future__ import annotations

import contextlib
import re
import warnings

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, XMLParsedAsHTMLWarning
from bs4.element import NavigableString, PageElement, PreformattedString, Tag

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
