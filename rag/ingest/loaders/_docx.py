"""Word documents: paragraphs and tables in body order; Title and Heading N become sections."""

from __future__ import annotations

import io
import re

import docx
from docx.table import Table, _Row

from ._common import Headings, Parsed, Reject, one_line


def load_docx(raw: bytes) -> Parsed:
    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as e:  # not a zip, a bad zip, a zip that is no Word document
        raise Reject(f"corrupt or unreadable DOCX ({one_line(e, 100)})") from None
    heads, blocks, offset = Headings(), [], 0
    title_paragraph = None
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            block = "\n".join(_row_text(row) for row in item.rows).strip()
        else:
            block = item.text.strip()
            level = _heading_level(item.style.name if item.style is not None else None)
            if block and level is not None:
                heads.add(offset, level, " ".join(block.split()))
                title_paragraph = title_paragraph or (block if level == 0 else None)
        if block:
            blocks.append(block)
            offset += len(block) + 2  # the "\n\n" between blocks
    title = (document.core_properties.title or "").strip() or title_paragraph
    return Parsed("\n\n".join(blocks), title=title, sections=heads.sections)


def _heading_level(style: str | None) -> int | None:
    """0 for the Title style, N for 'Heading N', None for any other paragraph."""
    if style == "Title":
        return 0
    m = re.fullmatch(r"Heading ([1-9])", style or "")
    return int(m.group(1)) if m else None


def _row_text(row: _Row) -> str:
    cells, seen = [], set()
    for cell in row.cells:
        if cell._tc not in seen:  # a merged cell repeats once per grid column it spans
            seen.add(cell._tc)
            cells.append(" ".join(cell.text.split()))
    return " | ".join(cells)
