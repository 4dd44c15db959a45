"""One article (a title and its paragraphs) written as each file format users bring, the way
those files are really laid out: .txt one paragraph a line; .md hard-wrapped at 80 columns with
a heading and a bulleted paragraph; .html; .docx (python-docx); .pdf (fpdf2) with the printed
line breaks, hyphenated long words and, on every second page, two columns.

The evaluation asks the same questions of every format (rag.eval.formats)."""

from __future__ import annotations

import html
import io
import re
import textwrap
from collections.abc import Callable
from pathlib import Path

from ..errors import ConfigError

FORMATS = ("txt", "md", "html", "docx", "pdf")
BULLETED = 1  # the paragraph written as a list item in .md, .html and .docx


def render(fmt: str, title: str, paragraphs: list[str]) -> bytes:
    """The article as a file of format `fmt` (one of FORMATS)."""
    writers: dict[str, Callable[[str, list[str]], bytes]] = {
        "txt": _txt,
        "md": _md,
        "html": _html,
        "docx": _docx,
        "pdf": _pdf,
    }
    if fmt not in writers:
        raise ValueError(f"unknown format {fmt!r}: one of {', '.join(FORMATS)}")
    return writers[fmt](title, [" ".join(p.split()) for p in paragraphs])


def _txt(title: str, paragraphs: list[str]) -> bytes:
    return "\n".join([title, *paragraphs]).encode("utf-8") + b"\n"


def _md(title: str, paragraphs: list[str]) -> bytes:
    parts = [f"# {title}"]
    for i, p in enumerate(paragraphs):
        if i == BULLETED:
            parts.append(textwrap.fill(p, 80, initial_indent="- ", subsequent_indent="  ",
                                       break_on_hyphens=False))  # fmt: skip
        else:
            parts.append(textwrap.fill(p, 80, break_on_hyphens=False))
    return ("\n\n".join(parts) + "\n").encode("utf-8")


def _html(title: str, paragraphs: list[str]) -> bytes:
    body = []
    for i, p in enumerate(paragraphs):
        # Source lines wrapped as an editor would; the browser (and the loader) reflow them.
        wrapped = "\n".join(textwrap.wrap(html.escape(p), 100, break_on_hyphens=False))
        body.append(f"<ul><li>{wrapped}</li></ul>" if i == BULLETED else f"<p>{wrapped}</p>")
    page = (
        f"<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head>\n<body>\n<h1>{html.escape(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n"
    )
    return page.encode("utf-8")


def _docx(title: str, paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading(title, level=1)
    for i, p in enumerate(paragraphs):
        document.add_paragraph(p, style="List Bullet" if i == BULLETED else None)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# Long words get a soft hyphen after their first syllable-ish part, so that the PDF breaks
# some of them at a line end ("manage-" / "ment"), as typeset documents do.
_LONG_WORD = re.compile(r"\b([a-z]{4,}?[aeiou][b-df-hj-np-tv-z])([a-z]{4,})\b")


def _hyphenate(text: str) -> str:
    return _LONG_WORD.sub("\\1\u00ad\\2", text)


def _font() -> Path:
    """DejaVu Sans from matplotlib (a dependency): a Unicode TrueType font on every machine."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


def _pdf(title: str, paragraphs: list[str]) -> bytes:
    try:
        from fpdf import FPDF
    except ImportError:
        raise ConfigError("writing PDFs needs fpdf2: pip install fpdf2 (or rag[dev])") from None

    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=18)
    pdf.add_font("dejavu", "", str(_font()))
    pdf.set_font("dejavu", size=11)
    pdf.set_title(title)
    pdf.add_page()
    pdf.set_font_size(16)
    pdf.multi_cell(0, 9, title)
    pdf.ln(2)
    pdf.set_font_size(11)
    # Every second page of paragraphs is set in two columns.
    per_page = 4
    for start in range(0, len(paragraphs), per_page):
        group = [_hyphenate(p) for p in paragraphs[start : start + per_page]]
        if start:
            pdf.add_page()
        if (start // per_page) % 2:
            with pdf.text_columns(ncols=2, gutter=8, text_align="LEFT") as cols:
                for p in group:
                    cols.write(p + "\n\n")
        else:
            for p in group:
                pdf.multi_cell(0, 5.5, p)
                pdf.ln(3)
    return bytes(pdf.output())
