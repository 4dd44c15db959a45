"""Tables in PDF pages, found by pdfplumber's table finder and written as Markdown tables.

pdfplumber reads a page about ten times slower than pypdf, so it reads only the pages whose
content draws lines or rectangles (the ruling a table finder needs): the rest keep pypdf's
text. A ruled page on which no data table is found keeps pypdf's text too.
"""

from __future__ import annotations

import io
import logging
import re
from typing import Any

from pypdf import PageObject

from ..tables import is_data_table, markdown_table
from ._common import normalize_newlines, one_line

_log = logging.getLogger(__name__)
# Path operators that draw ruling: a rectangle ("re") or a line segment ("l"), each after its
# numeric operands.
_RULING = re.compile(rb"[\d.]\s+(re|l)\s")


def has_ruling(page: PageObject) -> bool:
    """Whether the page's content draws rectangles or lines (pypdf has decoded it already)."""
    try:
        contents = page.get_contents()
        return contents is not None and bool(_RULING.search(contents.get_data()))
    except Exception:  # a broken stream: pypdf's text stands
        return False


def with_tables(raw: bytes, texts: list[str], pages: list[int]) -> list[str]:
    """`texts` (one per page), with the text of each of `pages` (0-based) that holds a data
    table read again by pdfplumber, its tables as Markdown in reading order."""
    out = list(texts)
    try:
        import pdfplumber  # 0.3 s to import: only for PDFs with ruled pages

        with pdfplumber.open(io.BytesIO(raw)) as pdf:
            for i in pages:
                try:
                    text = page_text(pdf.pages[i])
                except Exception as e:  # pdfminer on an odd page: pypdf's text stands
                    _log.debug("PDF page %d: tables not read: %s", i + 1, one_line(e))
                    continue
                if text is not None:
                    out[i] = text
    except Exception as e:  # pdfplumber missing or failing: pypdf's text, tables flattened
        _log.debug("PDF tables not read: %s", one_line(e))
    return out


def page_text(page: Any) -> str | None:
    """The page's text with its data tables as Markdown tables, top to bottom; None if the
    page has no data table."""
    found = []
    for table in page.find_tables():
        rows = [[cell or "" for cell in row] for row in table.extract()]
        if is_data_table(rows):
            found.append((table.bbox, rows))
    if not found:
        return None
    found.sort(key=lambda t: t[0][1])
    boxes = [bbox for bbox, _ in found]
    outside = page.filter(lambda obj: not _in_any(obj, boxes))
    x0, top, x1, bottom = page.bbox
    parts: list[str] = []
    y = top
    for (_, t_top, _, t_bottom), rows in found:
        parts.append(_text(outside, (x0, y, x1, max(y, t_top))))
        parts.append(_text(outside, (x0, max(y, t_top), x1, max(y, t_bottom))))  # beside it
        parts.append(markdown_table(rows))
        y = max(y, t_bottom)
    parts.append(_text(outside, (x0, y, x1, bottom)))
    return "\n\n".join(p for p in parts if p)


def _in_any(obj: dict[str, Any], boxes: list[tuple[float, float, float, float]]) -> bool:
    if "x0" not in obj or "top" not in obj:
        return False
    cx, cy = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
    return any(x0 <= cx <= x1 and top <= cy <= bottom for x0, top, x1, bottom in boxes)


def _text(page: Any, bbox: tuple[float, float, float, float]) -> str:
    if bbox[3] - bbox[1] < 1:
        return ""
    return normalize_newlines(page.crop(bbox, strict=False).extract_text() or "").strip()
