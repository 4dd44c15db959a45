"""Read one file (txt, md, html, pdf, docx; images by OCR) into a Document, or say why not.

Each format's loader returns the text that chunk offsets point into, plus the page starts
(PDF) and the heading sections (md, html, docx) that map an offset back to a place in the file.
Every failure is a LoadError whose `reason` is one short line saying what to do.
"""

from __future__ import annotations

import importlib
import stat
from collections.abc import Callable
from pathlib import Path

from rag.documents import Document, content_hash
from rag.errors import LoadError, UnsupportedFileError

from ._common import Limits, Parsed, Reject, one_line, too_many_chars
from ._text import load_md, load_txt

__all__ = ["SUPPORTED_SUFFIXES", "Limits", "file_type_of", "load_file"]

SUPPORTED_SUFFIXES: dict[str, str] = {
    ".txt": "txt",
    ".text": "txt",
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".pdf": "pdf",
    ".docx": "docx",
    ".png": "image",
    ".jpg": "image",
    ".jpeg": "image",
    ".tif": "image",
    ".tiff": "image",
}
_SUPPORTED_LIST = ", ".join(SUPPORTED_SUFFIXES)  # every one: '.text' and '.markdown' were left out
_MB = 1024 * 1024
# Why a file is skipped when it holds no text at all. Unlike a file that cannot be read, such a
# file's earlier version leaves the index (pipeline.py): what the file now says is nothing.
EMPTY_FILE = "empty file"
NO_TEXT = "no text found"
NOTHING_TO_INDEX = frozenset({EMPTY_FILE, NO_TEXT})

# Each loader takes the file's bytes and the limits on what they may expand to. The parsers of
# html, pdf and docx (bs4, pypdf, lxml: 0.5 s to import) are loaded when a file needs them, so
# `rag search` and `rag ask`, which import this package through the index, never pay for them.
_LOADERS: dict[str, Callable[[bytes, Limits], Parsed]] = {"txt": load_txt, "md": load_md}
_LAZY_LOADERS = {"html": "_html", "pdf": "_pdf", "docx": "_docx", "image": "_image"}


def _loader(file_type: str) -> Callable[[bytes, Limits], Parsed]:
    if file_type not in _LOADERS:
        module = importlib.import_module(f".{_LAZY_LOADERS[file_type]}", __name__)
        _LOADERS[file_type] = getattr(module, f"load_{file_type}")
    return _LOADERS[file_type]


def file_type_of(path: Path) -> str | None:
    """The type rag reads `path` as ('txt', 'md', 'html', 'pdf', 'docx', 'image'), by suffix;
    else None."""
    return SUPPORTED_SUFFIXES.get(Path(path).suffix.lower())


def load_file(
    path: Path,
    *,
    max_bytes: int = 64 * _MB,
    data: bytes | None = None,
    limits: Limits | None = None,
) -> Document:
    """Read `path` (or `data`, its bytes already read) into a Document; raise LoadError if not."""
    limits = limits or Limits()
    path = Path(path)
    name = str(path)
    file_type = file_type_of(path)
    if file_type is None:  # before any I/O: never read a file rag cannot use
        shown = f"'{path.suffix}'" if path.suffix else "(no extension)"
        raise UnsupportedFileError(
            name, f"unsupported file type {shown} (supported: {_SUPPORTED_LIST})"
        )
    raw = _read(path, max_bytes) if data is None else data
    if len(raw) > max_bytes:
        raise LoadError(name, _too_big(len(raw), max_bytes))
    if not raw:
        raise LoadError(name, EMPTY_FILE)
    try:
        parsed = _loader(file_type)(raw, limits)
        if len(parsed.text) > limits.max_chars:  # formats that are not streamed stop here
            raise Reject(too_many_chars(len(parsed.text), limits, file_type.upper()))
    except Reject as e:
        raise LoadError(name, str(e)) from None
    except Exception as e:  # a parser bug or a file it chokes on: still one line, still LoadError
        raise LoadError(name, f"could not read {file_type} file ({one_line(e)})") from e
    if not parsed.text.strip():
        raise LoadError(name, NO_TEXT)
    return Document(
        source=_resolve(path),
        file_type=file_type,
        text=parsed.text,
        content_hash=content_hash(raw),
        title=parsed.title or None,
        page_starts=parsed.page_starts,
        sections=sorted(parsed.sections, key=lambda s: s.start),
        notes=parsed.notes,
        ocr_pages=parsed.ocr_pages,
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
    return (
        f"file is {size / _MB:.1f} MB, over the {limit_mb} MB limit; "
        "raise RAG_MAX_FILE_MB to index it"
    )


def _resolve(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # e.g. a symlink loop
        return str(path.absolute())
