"""Word documents, streamed: paragraphs and tables in body order; Title and Heading N become sections.

A DOCX is a zip of XML, and a small one can expand enormously (a 1.2 MB file to 300 MB of XML;
41 KB to 9 million characters). So nothing here builds the document tree: each XML part is
decompressed in pieces and fed to a pull parser, every element is cleared once handled, and the
decompressed bytes and extracted characters are counted as they come, against `Limits`. Before
anything is decompressed, the sizes the zip declares are checked against the same limits.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field

from lxml import etree

from ..tables import is_data_table, markdown_table
from ._common import Headings, Limits, Parsed, Reject, one_line, too_many_chars

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}Relationship"
_DC_TITLE = "{http://purl.org/dc/elements/1.1/}title"
_PIECE = 64 * 1024
# Run children that python-docx (and Word's plain-text export) write as characters.
_RUN_CHARS = {"tab": "\t", "ptab": "\t", "cr": "\n", "noBreakHyphen": "-"}
# Text under these is not part of the visible body: deletions, text boxes (their own stories).
_HIDDEN = {"del", "moveFrom", "txbxContent", "instrText", "delInstrText", "comment"}


def load_docx(raw: bytes, limits: Limits | None = None) -> Parsed:
    limits = limits or Limits()
    try:
        zf = zipfile.ZipFile(io.BytesIO(raw))
        main = _main_part(zf, limits)
    except Reject:
        raise
    except Exception as e:  # not a zip, a bad zip, a zip that is no Word document
        raise Reject(f"corrupt or unreadable DOCX ({one_line(e, 100)})") from None
    budget = _Budget(limits)
    with zf:
        _check_declared(zf, [main, _related(zf, main, "styles"), "docProps/core.xml"], limits)
        styles = _styles(zf, _related(zf, main, "styles"), budget)
        title = _core_title(zf, budget)
        body = _Body(styles, limits)
        try:
            _stream(zf, main, budget, body.start, body.end)
        except (etree.XMLSyntaxError, zipfile.BadZipFile, EOFError, ValueError) as e:
            raise Reject(f"corrupt or unreadable DOCX ({one_line(e, 100)})") from None
    return Parsed("\n\n".join(body.blocks), title=title or body.title, sections=body.heads.sections)


# ------------------------------------------------------------------------------------ the zip
class _Budget:
    """Decompressed bytes read so far, over every part, against the limit."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.read = 0

    def add(self, n: int) -> None:
        self.read += n
        if self.read > self.limits.max_expanded_bytes:
            raise Reject(_expanded_message(self.read, self.limits, "expands to over"))


def _expanded_message(size: int, limits: Limits, verb: str) -> str:
    mb = limits.max_expanded_bytes / 1024 / 1024
    return (
        f"decompression bomb? the DOCX {verb} {size / 1024 / 1024:.0f} MB of XML, over the "
        f"{mb:g} MB limit; raise RAG_MAX_EXPANDED_MB to index it"
    )


def _check_declared(zf: zipfile.ZipFile, names: list[str | None], limits: Limits) -> None:
    """Refuse on the sizes the zip declares, before decompressing a byte of them."""
    infos = [zf.getinfo(n) for n in dict.fromkeys(names) if n and n in zf.NameToInfo]
    total = sum(i.file_size for i in infos)
    if total > limits.max_expanded_bytes:
        raise Reject(_expanded_message(total, limits, "declares"))
    for i in infos:
        ratio = i.file_size / max(i.compress_size, 1)
        if i.file_size > 1024 * 1024 and ratio > limits.max_expansion_ratio:
            raise Reject(
                f"decompression bomb? {i.filename} expands {ratio:.0f}-fold (limit "
                f"{limits.max_expansion_ratio:g}); raise RAG_MAX_EXPANSION_RATIO to index it"
            )


def _stream(
    zf: zipfile.ZipFile,
    name: str,
    budget: _Budget,
    on_start: Callable[[etree._Element, list[str]], None] | None,
    on_end: Callable[[etree._Element, list[str]], None],
) -> None:
    """Feed one part to a pull parser in pieces; call back on element starts and ends (with the
    local names of the open elements), then clear each element so no tree is ever built."""
    parser = etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
    )
    stack: list[str] = []
    checked = False
    with zf.open(name) as part:
        while piece := part.read(_PIECE):
            budget.add(len(piece))
            parser.feed(piece)
            for event, elem in parser.read_events():
                tag = elem.tag
                if not isinstance(tag, str):  # a processing instruction or an entity
                    continue
                if not checked:
                    checked = True
                    if elem.getroottree().docinfo.internalDTD is not None:
                        # Word never writes a DTD; one here is XXE or entity expansion.
                        raise Reject(f"DOCX part {name} has a DTD (refused: entity expansion)")
                if event == "start":
                    stack.append(tag[tag.rfind("}") + 1 :])
                    if on_start is not None:
                        on_start(elem, stack)
                    continue
                on_end(elem, stack)
                local = stack.pop()
                # Clearing every element costs more than parsing it; clearing the units that
                # hold the rest (runs, paragraphs, rows) keeps the tree just as small.
                if local in _UNITS or len(stack) <= 2:
                    elem.clear(keep_tail=False)
                    while elem.getprevious() is not None:  # siblings already handled
                        del elem.getparent()[0]
        parser.close()


_UNITS = {"r", "p", "tc", "tr", "tbl", "sdt", "style", "hyperlink"}


def _part_names(zf: zipfile.ZipFile, rels_name: str, base: str) -> dict[str, str]:
    """Relationship type (its last path segment) -> part name, from one .rels part."""
    if rels_name not in zf.NameToInfo or zf.getinfo(rels_name).file_size > 1024 * 1024:
        return {}
    root = etree.fromstring(
        zf.read(rels_name), etree.XMLParser(resolve_entities=False, no_network=True)
    )
    out: dict[str, str] = {}
    for rel in root.iter(_REL):
        target, kind = rel.get("Target") or "", (rel.get("Type") or "").rsplit("/", 1)[-1]
        if rel.get("TargetMode") != "External" and kind not in out:
            out[kind] = posixpath.normpath(posixpath.join(base, target)).lstrip("/")
    return out


def _main_part(zf: zipfile.ZipFile, limits: Limits) -> str:
    name = _part_names(zf, "_rels/.rels", "").get("officeDocument", "word/document.xml")
    if name not in zf.NameToInfo:
        raise Reject(f"corrupt or unreadable DOCX (no {name} in the file)")
    return name


def _related(zf: zipfile.ZipFile, main: str, kind: str) -> str | None:
    folder, file = posixpath.split(main)
    rels = posixpath.join(folder, "_rels", file + ".rels")
    name = _part_names(zf, rels, folder).get(kind) or posixpath.join(folder, f"{kind}.xml")
    return name if name in zf.NameToInfo else None


# ------------------------------------------------------------------------------------ the parts
def _styles(zf: zipfile.ZipFile, name: str | None, budget: _Budget) -> dict[str, str]:
    """Paragraph style id -> style name ('heading 1', 'Title'); '' -> the default style's name."""
    styles: dict[str, str] = {}
    if name is None:
        return styles
    current: list[str] = []

    def start(elem: etree._Element, stack: list[str]) -> None:
        if stack[-1] == "style":
            current[:] = [elem.get(f"{_W}styleId") or "", elem.get(f"{_W}default") or ""]

    def end(elem: etree._Element, stack: list[str]) -> None:
        if stack[-1] == "name" and len(stack) > 1 and stack[-2] == "style" and current:
            styles[current[0]] = elem.get(f"{_W}val") or ""
            if current[1] in ("1", "true"):
                styles.setdefault("", styles[current[0]])

    _stream(zf, name, budget, start, end)
    return styles


def _core_title(zf: zipfile.ZipFile, budget: _Budget) -> str:
    if "docProps/core.xml" not in zf.NameToInfo:
        return ""
    found: list[str] = []

    def end(elem: etree._Element, stack: list[str]) -> None:
        if elem.tag == _DC_TITLE and elem.text and not found:
            found.append(" ".join(elem.text[:1000].split()))

    _stream(zf, "docProps/core.xml", budget, None, end)
    return found[0] if found else ""


def heading_level(style: str | None) -> int | None:
    """0 for the Title style, N for 'Heading N' (any case, as name or id), else None."""
    s = (style or "").strip().lower()
    if s == "title":
        return 0
    m = re.fullmatch(r"heading ?([1-9])", s)
    return int(m.group(1)) if m else None


@dataclass
class _Cell:
    paragraphs: list[str] = field(default_factory=list)
    span: int = 1
    vmerge: str | None = None


class _Body:
    """The state machine over document.xml's events: body paragraphs and top-level tables."""

    def __init__(self, styles: dict[str, str], limits: Limits) -> None:
        self.styles = styles
        self.limits = limits
        self.blocks: list[str] = []
        self.heads = Headings()
        self.title: str | None = None
        self.offset = 0
        self.chars = 0
        self.hidden = 0  # depth inside deleted text, text boxes and the like
        self.tables = 0  # table nesting; only the outermost table's cells are read
        self.para: list[str] | None = None  # the text of the paragraph being read
        self.style = ""
        self.rows: list[list[tuple[str, int]]] = []  # each cell's text and column span
        self.row: list[tuple[str, int]] = []
        self.header_rows = 0  # rows marked "repeat as header row" at the table's top
        self.cell: _Cell | None = None
        self.col = 0
        self.above: dict[int, str] = {}  # text of a vertically merged cell, by grid column

    def _block_parent(self, stack: list[str]) -> bool:
        parent = stack[-2] if len(stack) > 1 else ""
        if self.tables == 0:
            return parent == "body" or (parent == "sdtContent" and "p" not in stack[:-1])
        return self.tables == 1 and parent == "tc"

    def start(self, elem: etree._Element, stack: list[str]) -> None:
        local = stack[-1]
        if local in _HIDDEN:
            self.hidden += 1
        elif local == "tbl":
            self.tables += 1
            if self.tables == 1:
                self.rows, self.above, self.header_rows = [], {}, 0
        elif self.tables == 1 and local == "tr" and stack[-2] == "tbl":
            self.row, self.col = [], 0
        elif self.tables == 1 and local == "tc" and stack[-2] == "tr":
            self.cell = _Cell()
        elif local == "p" and self.hidden == 0 and self._block_parent(stack):
            self.para, self.style = [], ""

    def end(self, elem: etree._Element, stack: list[str]) -> None:
        local = stack[-1]
        parent = stack[-2] if len(stack) > 1 else ""
        if local in _HIDDEN:
            self.hidden -= 1
        elif self.hidden:
            pass
        elif self.para is not None and parent == "r":
            if local == "t":
                self._text(elem.text or "")
            elif local in _RUN_CHARS:
                self._text(_RUN_CHARS[local])
            elif local == "br" and elem.get(f"{_W}type") in (None, "textWrapping"):
                self._text("\n")
        elif self.para is not None and local == "pStyle" and parent == "pPr":
            self.style = elem.get(f"{_W}val") or ""
        elif self.para is not None and local == "p" and self._block_parent(stack):
            self._paragraph("".join(self.para))
            self.para = None
        elif self.cell is not None and local == "gridSpan" and parent == "tcPr":
            self.cell.span = max(1, min(int(elem.get(f"{_W}val") or 1), 64))
        elif self.cell is not None and local == "vMerge" and parent == "tcPr":
            self.cell.vmerge = elem.get(f"{_W}val") or "continue"
        elif local == "tc" and self.cell is not None and self.tables == 1:
            self._cell(self.cell)
            self.cell = None
        elif local == "tblHeader" and parent == "trPr" and self.tables == 1:
            if elem.get(f"{_W}val") not in ("0", "false") and self.header_rows == len(self.rows):
                self.header_rows += 1
        elif local == "tr" and self.tables == 1:
            self.rows.append(self.row)
        elif local == "tbl":
            self.tables -= 1
            if self.tables == 0:
                self._block(_table_text(self.rows, self.header_rows))

    def _text(self, text: str) -> None:
        assert self.para is not None
        self.chars += len(text)
        if self.chars > self.limits.max_chars:
            raise Reject(too_many_chars(self.chars, self.limits, "DOCX"))
        self.para.append(text)

    def _paragraph(self, text: str) -> None:
        if self.cell is not None:
            self.cell.paragraphs.append(text)
            return
        block = text.strip()
        level = heading_level(self.styles.get(self.style, self.style))
        if level is None and self.style:
            level = heading_level(self.style)  # a style id like 'Heading1' without styles.xml
        if block and level is not None:
            self.heads.add(self.offset, level, " ".join(block.split()))
            if level == 0 and self.title is None:
                self.title = block
        self._block(block)

    def _cell(self, cell: _Cell) -> None:
        text = " ".join("\n".join(cell.paragraphs).split())
        if cell.vmerge == "continue":  # python-docx reads the merged cell's text again here
            text = self.above.get(self.col, "")
        elif cell.vmerge is not None:
            for c in range(self.col, self.col + cell.span):
                self.above[c] = text
        self.row.append((text, cell.span))
        self.col += cell.span

    def _block(self, block: str) -> None:
        if block:
            self.blocks.append(block)
            self.offset += len(block) + 2  # the "\n\n" between blocks


def _table_text(rows: list[list[tuple[str, int]]], header_rows: int) -> str:
    """A table of data as Markdown (a cell spanning columns fills them in a header row, the
    first of them elsewhere); a table used for layout as its rows' cells joined by " | "."""
    grid = []
    for i, row in enumerate(rows):
        cells: list[str] = []
        for text, span in row:
            cells += [text] + [text if i < max(header_rows, 1) else ""] * (span - 1)
        grid.append(cells)
    if is_data_table(grid):
        return markdown_table(grid, header_rows)
    return "\n".join(" | ".join(text for text, _ in row) for row in rows).strip()
