"""Read one file (txt, md, html, pdf, docx) into a Document, or say in one line why not.

Each loader returns the text that chunk offsets point into, plus the page starts (PDF) and
the heading sections (md, html, docx) that map an offset back to a place in the file.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import logging
import re
import stat
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docx
from bs4 import BeautifulSoup
from bs4.element import NavigableString, PageElement, PreformattedString, Tag
from docx.table import Table, _Row
from pypdf import PdfReader
from pypdf.errors import DependencyError

from rag.documents import Document, Section, content_hash
from rag.errors import LoadError, UnsupportedFileError

SUPPORTED_SUFFIXES: dict[str, str] = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
}
_SUPPORTED_LIST = ".txt, .md, .html, .htm, .pdf, .docx"
_MB = 1024 * 1024
_log = logging.getLogger(__name__)


class _Reject(Exception):
    """Raised inside a loader with the one-line reason; load_file adds the path."""


@dataclass
class _Parsed:
    text: str
    title: str | None = None
    page_starts: list[int] = field(default_factory=list)
    sections: list[Section] = field(default_factory=list)


def file_type_of(path: Path) -> str | None:
    """The type rag reads `path` as ('txt', 'md', 'html', 'pdf', 'docx'), by suffix; else None."""
    return SUPPORTED_SUFFIXES.get(Path(path).suffix.lower())


def load_file(path: Path, *, max_bytes: int = 64 * _MB, data: bytes | None = None) -> Document:
    """Read `path` (or `data`, its bytes already read) into a Document; raise LoadError if not."""
    path = Path(path)
    name = str(path)
    raw = _read(path, max_bytes) if data is None else data
    file_type = file_type_of(path)
    if file_type is None:
        shown = f"'{path.suffix}'" if path.suffix else "(no extension)"
        raise UnsupportedFileError(
            name, f"unsupported file type {shown} (supported: {_SUPPORTED_LIST})"
        )
    if len(raw) > max_bytes:
        raise LoadError(name, _too_big(len(raw), max_bytes))
    if not raw:
        raise LoadError(name, "empty file")
    try:
        parsed = _LOADERS[file_type](raw)
    except _Reject as e:
        raise LoadError(name, str(e)) from None
    except Exception as e:  # a parser bug or a file it chokes on: still one line, still LoadError
        raise LoadError(name, f"could not read {file_type} file ({_one_line(e)})") from e
    if not parsed.text.strip():
        raise LoadError(name, "no text found")
    return Document(
        source=_resolve(path),
        file_type=file_type,
        text=parsed.text,
        content_hash=content_hash(raw),
        title=parsed.title or None,
        page_starts=parsed.page_starts,
        sections=sorted(parsed.sections, key=lambda s: s.start),
    )


def _read(path: Path, max_bytes: int) -> bytes:
    name = str(path)
    try:
        st = path.stat()
        if stat.S_ISDIR(st.st_mode):
            raise LoadError(name, "is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise LoadError(name, "not a regular file (device, pipe or socket)")
        if st.st_size > max_bytes:  # checked before reading: never load a huge file into memory
            raise LoadError(name, _too_big(st.st_size, max_bytes))
        return path.read_bytes()
    except FileNotFoundError:
        raise LoadError(name, "file not found") from None
    except PermissionError:
        raise LoadError(name, "permission denied (check the file's read permission)") from None
    except OSError as e:
        raise LoadError(name, f"cannot read file ({e.strerror or type(e).__name__})") from None


def _too_big(size: int, limit: int) -> str:
    limit_mb = f"{limit / _MB:.1f}".removesuffix(".0")
    return f"file is {size / _MB:.1f} MB, over the {limit_mb} MB limit; raise RAG_MAX_FILE_MB to index it"


def _one_line(e: BaseException, limit: int = 160) -> str:
    text = " ".join(f"{type(e).__name__}: {e}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _resolve(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # e.g. a symlink loop
        return str(path.absolute())


# --- decoding ------------------------------------------------------------------------------

# UTF-32 before UTF-16: the UTF-32 LE BOM starts with the UTF-16 LE one.
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CONTROL = bytes([*range(0, 9), *range(14, 27), *range(28, 32), 127])  # not \t\n\v\f\r, ESC


def _sniff_unicode(raw: bytes) -> str | None:
    """Decode by BOM or by UTF-16's NUL pattern; reject binary; None: an 8-bit encoding."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            return raw[len(bom) :].decode(encoding, errors="replace")
    sample = raw[:8192]
    half = max(1, len(sample) // 2)
    even_nuls, odd_nuls = sample[0::2].count(0), sample[1::2].count(0)
    if odd_nuls > 0.3 * half and even_nuls < 0.05 * half:  # ASCII in UTF-16 LE: "a\0b\0"
        return raw.decode("utf-16-le", errors="replace")
    if even_nuls > 0.3 * half and odd_nuls < 0.05 * half:
        return raw.decode("utf-16-be", errors="replace")
    controls = len(sample) - len(sample.translate(None, _CONTROL))
    if 0 in sample or controls > 0.05 * len(sample):
        raise _Reject("binary file, not text (is the extension wrong?)")
    return None


def _decode(raw: bytes) -> str:
    text = _sniff_unicode(raw)
    if text is None:
        for encoding in ("utf-8", "cp1252"):
            with contextlib.suppress(UnicodeDecodeError):
                return _newlines(raw.decode(encoding))
        text = raw.decode("latin-1")  # maps every byte: never fails
    return _newlines(text)


def _newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


class _Headings:
    """Turns (level, title) headings into Sections whose path is the chain of parent titles."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, str]] = []
        self.sections: list[Section] = []
        self.first: tuple[int, str] | None = None  # the first level-1 heading, else the first

    def add(self, start: int, level: int, title: str) -> None:
        while self.stack and self.stack[-1][0] >= level:
            self.stack.pop()
        self.stack.append((level, title))
        self.sections.append(Section(start, " > ".join(t for _, t in self.stack)))
        if self.first is None or (level == 1 and self.first[0] != 1):
            self.first = (level, title)

    @property
    def title(self) -> str | None:
        return self.first[1] if self.first else None


# --- txt / md ------------------------------------------------------------------------------


def _load_txt(raw: bytes) -> _Parsed:
    return _Parsed(_decode(raw))


_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*))?")
_ATX_CLOSE = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")  # the optional closing '##' of '## Title ##'
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*")
_NOT_PARAGRAPH = re.compile(r"\s*$| {4}|\t| {0,3}(>|[-*+][ \t]|\d{1,9}[.)][ \t])")


def _load_md(raw: bytes) -> _Parsed:
    """Sections from ATX (# Title) and setext (Title / ===) headings outside code fences."""
    text = _decode(raw)
    heads = _Headings()
    fence = ""  # the fence that opened the code block we are in, if any
    para: tuple[int, str] | None = None  # the previous line, if it can be a setext title
    lines, offset = text.split("\n"), 0
    if lines[0].rstrip() == "---":  # YAML front matter: its closing '---' is no underline
        ends = [i for i, ln in enumerate(lines[1:], 1) if ln.rstrip() in ("---", "...")]
        if ends:
            offset = sum(len(ln) + 1 for ln in lines[: ends[0] + 1])
            lines = lines[ends[0] + 1 :]
    for line in lines:
        start, offset = offset, offset + len(line) + 1
        fence_match = _FENCE.match(line)
        if fence:
            closes = fence_match and fence_match.group(1).startswith(fence)
            if closes and fence_match and not line[fence_match.end() :].strip():
                fence = ""
            continue
        if fence_match:
            fence, para = fence_match.group(1), None
        elif m := _ATX.fullmatch(line):
            if title := _ATX_CLOSE.sub("", m.group(2) or "").strip():
                heads.add(start, len(m.group(1)), title)
            para = None
        elif (m := _SETEXT.fullmatch(line)) and para is not None:
            heads.add(para[0], 1 if m.group(1)[0] == "=" else 2, para[1])
            para = None
        else:
            para = None if _NOT_PARAGRAPH.match(line) else (start, line.strip())
    return _Parsed(text, title=heads.title, sections=heads.sections)


# --- html ----------------------------------------------------------------------------------

_SKIP = {"script", "style", "noscript", "template", "svg", "head", "math", "iframe", "object"}
_PARAGRAPH = {"p", "pre", "blockquote", "table", "section", "article", "header", "footer",
              "nav", "main", "aside", "figure", "form", "fieldset", "address", "hr", "dl",
              "h1", "h2", "h3", "h4", "h5", "h6"}  # fmt: skip
_LINE = {"div", "li", "ul", "ol", "tr", "dt", "dd", "caption", "figcaption", "details",
         "summary", "option", "legend", "tbody", "thead", "tfoot"}  # fmt: skip
_HEADING = re.compile(r"h([1-6])")


class _TextBuilder:
    """Plain text from an HTML tree; line breaks and spaces are owed, then written lazily."""

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
                self._write(_newlines(s))
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


def _load_html(raw: bytes) -> _Parsed:
    decoded = _sniff_unicode(raw)  # BOM, UTF-16, binary
    if decoded is None:
        with contextlib.suppress(UnicodeDecodeError):
            decoded = raw.decode("utf-8")  # else bs4 goes by the declared charset
    soup = BeautifulSoup(decoded if decoded is not None else raw, "lxml")
    title_tag = soup.find("title")
    title = " ".join(title_tag.get_text().split()) if title_tag else ""
    out, heads = _TextBuilder(), _Headings()
    _walk(soup, out, heads)
    return _Parsed("".join(out.parts), title=title or heads.title, sections=heads.sections)


def _walk(root: Tag, out: _TextBuilder, heads: _Headings) -> None:
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
        inner_pre = pre or node.name == "pre"
        todo.append((node, pre, True))
        todo.extend((c, inner_pre, False) for c in reversed(node.contents))


# --- pdf -----------------------------------------------------------------------------------


@contextlib.contextmanager
def _quiet_pypdf() -> Iterator[None]:
    """pypdf logs a warning per oddity it repairs; a bad file should give only our one line."""
    logger = logging.getLogger("pypdf")
    level = logger.level
    logger.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def _load_pdf(raw: bytes) -> _Parsed:
    if b"%PDF-" not in raw[:1024]:
        raise _Reject("corrupt or unreadable PDF (no %PDF header)")
    with _quiet_pypdf():
        reader = _open_pdf(raw)
        texts: list[str] = []
        for number, page in enumerate(reader.pages, 1):
            try:
                texts.append(_newlines(page.extract_text() or "").strip())
            except Exception as e:  # one broken page should not cost the rest of the document
                _log.debug("PDF page %d skipped: %s", number, _one_line(e))
                texts.append("")
        title = None
        with contextlib.suppress(Exception):
            title = " ".join(str(reader.metadata.title or "").split()) if reader.metadata else None
    if not texts:
        raise _Reject("PDF has no pages")
    if not any(texts):
        raise _Reject(
            "no text layer (scanned PDF?): run OCR first, e.g. ocrmypdf, then ingest again"
        )
    starts, offset = [], 0
    for text in texts:
        starts.append(offset)
        offset += len(text) + 2
    return _Parsed("\n\n".join(texts), title=title, page_starts=starts)


def _open_pdf(raw: bytes) -> PdfReader:
    try:
        reader = PdfReader(io.BytesIO(raw))
        locked = reader.is_encrypted and not reader.decrypt("")  # try an empty user password
        if not locked:
            _ = len(reader.pages)  # parses the page tree: a broken one fails here, not later
    except DependencyError:
        raise _Reject(
            "encrypted PDF needs the 'cryptography' package (pip install cryptography)"
        ) from None
    except Exception as e:
        raise _Reject(f"corrupt or unreadable PDF ({_one_line(e, 100)})") from None
    if locked:
        raise _Reject("encrypted PDF: remove the password (e.g. qpdf --decrypt) and ingest again")
    return reader


# --- docx ----------------------------------------------------------------------------------


def _load_docx(raw: bytes) -> _Parsed:
    """Paragraphs and tables in body order; Title and Heading N paragraphs become sections."""
    try:
        document = docx.Document(io.BytesIO(raw))
    except Exception as e:
        raise _Reject(f"corrupt or unreadable DOCX ({_one_line(e, 100)})") from None
    heads, blocks, offset = _Headings(), [], 0
    title_paragraph = None
    for item in document.iter_inner_content():
        if isinstance(item, Table):
            block = "\n".join(_docx_row(row) for row in item.rows).strip()
        else:
            block = item.text.strip()
            level = _docx_heading_level(item.style.name if item.style is not None else "")
            if block and level is not None:
                heads.add(offset, level, " ".join(block.split()))
                title_paragraph = title_paragraph or (block if level == 0 else None)
        if block:
            blocks.append(block)
            offset += len(block) + 2
    title = (document.core_properties.title or "").strip() or title_paragraph
    return _Parsed("\n\n".join(blocks), title=title, sections=heads.sections)


def _docx_heading_level(style: str | None) -> int | None:
    if style == "Title":
        return 0
    m = re.fullmatch(r"Heading ([1-9])", style or "")
    return int(m.group(1)) if m else None


def _docx_row(row: _Row) -> str:
    cells, seen = [], set()
    for cell in row.cells:
        if id(cell._tc) not in seen:  # a merged cell repeats once per grid column it spans
            seen.add(id(cell._tc))
            cells.append(" ".join(cell.text.split()))
    return " | ".join(cells)


_LOADERS: dict[str, Callable[[bytes], _Parsed]] = {
    "txt": _load_txt,
    "md": _load_md,
    "html": _load_html,
    "pdf": _load_pdf,
    "docx": _load_docx,
}
