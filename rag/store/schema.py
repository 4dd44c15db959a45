"""The SQLite side of an index: its schema, connection settings, and the SQL pieces the store
builds queries from. SQLite is the truth; FAISS and the keyword postings derive from it."""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..documents import Chunk, Document, OcrPage, Section
from ..errors import IndexReadOnlyError
from .manifest import Manifest

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id TEXT PRIMARY KEY,
    source TEXT NOT NULL UNIQUE,
    file_type TEXT NOT NULL,
    title TEXT,
    content_hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime REAL NOT NULL,
    text TEXT NOT NULL,
    page_starts TEXT NOT NULL,
    sections TEXT NOT NULL,
    n_chunks INTEGER NOT NULL,
    added_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    ocr_pages TEXT
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    doc_id TEXT NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    ordinal INTEGER NOT NULL,
    start INTEGER NOT NULL,
    "end" INTEGER NOT NULL,
    text TEXT NOT NULL,
    n_tokens INTEGER NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
"""


@dataclass
class DocumentWrite:
    """A document to store with its chunks and one vector per chunk."""

    document: Document
    chunks: list[Chunk]
    vectors: np.ndarray
    size: int
    mtime: float


@dataclass
class DocumentInfo:
    id: str
    source: str
    file_type: str
    title: str | None
    content_hash: str
    size: int
    n_chunks: int
    added_at: float
    updated_at: float
    # Pages read by OCR: {"page", "confidence" (mean word confidence, 0-100), "low_confidence"}.
    ocr_pages: list[dict[str, Any]] = field(default_factory=list)

    @property
    def low_confidence_pages(self) -> list[int]:
        return [p["page"] for p in self.ocr_pages if p["low_confidence"]]

    def ocr_summary(self) -> str:
        """'OCR 3 pages; low confidence: p. 2 (61%)' for a document read by OCR; else ''."""
        n = len(self.ocr_pages)
        if not n:
            return ""
        low = [
            f"p. {p['page']} ({p['confidence']:.0f}%)"
            for p in self.ocr_pages
            if p["low_confidence"]
        ]
        return f"OCR {n} page{'s' * (n != 1)}" + (
            f"; low confidence: {', '.join(low)}" if low else ""
        )

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def connect(db: Path, read_only: bool = False) -> sqlite3.Connection:
    """`read_only`: an index on a read-only mount or folder. SQLite's WAL mode needs to write
    its shared-memory file even to read, so such an index is opened immutable (nothing else can
    write it there either); searches and answers work, writes are refused (sqlite_faiss.py)."""
    if read_only:
        uri = f"{db.resolve().as_uri()}?mode=ro&immutable=1"
        return sqlite3.connect(
            uri, uri=True, check_same_thread=False, isolation_level=None, timeout=30
        )
    conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def opens_read_only(path: Path, db: Path) -> bool:
    """Whether the index in `path` must be opened read-only (`connect`): its folder or
    database cannot be written. Raises when it cannot be read so either: no database to read
    yet, or writes still waiting in the write-ahead log (it was not closed where it was
    written), which a read-only open would miss."""
    if os.access(path, os.W_OK) and (not db.exists() or os.access(db, os.W_OK)):
        return False
    if not db.exists():
        raise IndexReadOnlyError(
            f"cannot create an index in {path}: the folder is read-only; choose another --index"
        )
    wal = db.with_name(db.name + "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise IndexReadOnlyError(
            f"the index folder {path} is read-only and its last writes are still in {wal.name} "
            "(it was not closed cleanly where it was written): open it once where it is "
            "writable (any `rag search` will do), then make it read-only again"
        )
    return True


def has_table(conn: sqlite3.Connection, name: str) -> bool:
    q = "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?"
    return conn.execute(q, (name,)).fetchone() is not None


def create_schema(conn: sqlite3.Connection, manifest: Manifest) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        for stmt in statements(SCHEMA):
            conn.execute(stmt)
        conn.execute(
            "INSERT OR IGNORE INTO meta VALUES ('manifest', ?), ('generation', '0')",
            (manifest.to_json(),),
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def statements(script: str) -> list[str]:
    out, buf = [], ""
    for line in script.strip().splitlines():
        buf += line + "\n"
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    return out


def path_pattern(path_glob: str) -> str:
    """The GLOB a path filter means: a bare folder or file name matches anywhere in the path,
    like a person expects; a relative pattern ("notes/*.md") matches from any folder down
    (paths are stored whole); an absolute one, or one opening with *, as it is."""
    if not any(ch in path_glob for ch in "*?["):
        return f"*{path_glob}*"
    if path_glob.startswith(("/", "*")):
        return path_glob
    return f"*/{path_glob}"


def filter_sql(path_glob: str | None, file_types: Sequence[str] | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if path_glob:
        clauses.append("d.source GLOB ?")
        args.append(path_pattern(path_glob))
    if file_types:
        clauses.append(f"d.file_type IN ({','.join('?' * len(file_types))})")
        args.extend(t.lower().lstrip(".") for t in file_types)
    return " AND ".join(clauses), args


def row_to_document(row: Sequence[Any]) -> Document:
    source, file_type, text, chash, title, pages, sections, *ocr = row
    return Document(
        source=source,
        file_type=file_type,
        text=text,
        content_hash=chash,
        title=title,
        page_starts=json.loads(pages),
        sections=[Section(s, p) for s, p in json.loads(sections)],
        ocr_pages=decode_ocr_pages(ocr[0] if ocr else None),
    )


def encode_ocr_pages(pages: Sequence[OcrPage]) -> str | None:
    """The documents.ocr_pages column: [[page, confidence], ...], NULL when OCR read nothing."""
    return json.dumps([[p.page, p.confidence] for p in pages]) if pages else None


def decode_ocr_pages(value: str | None) -> list[OcrPage]:
    return [OcrPage(int(n), float(c)) for n, c in json.loads(value)] if value else []


def ocr_page_dicts(pages: Sequence[OcrPage]) -> list[dict[str, Any]]:
    return [
        {"page": p.page, "confidence": p.confidence, "low_confidence": p.low_confidence}
        for p in pages
    ]


def add_content_index(conn: sqlite3.Connection) -> None:
    """Documents found by their bytes' hash (a renamed or copied file reuses their vectors);
    indexes made before it get it on their first writable open (one pass over the table)."""
    conn.execute("CREATE INDEX IF NOT EXISTS documents_content ON documents(content_hash)")


def add_ocr_column(conn: sqlite3.Connection) -> None:
    """Indexes made before OCR lack documents.ocr_pages: add it (NULL for their documents)."""

    def present() -> bool:
        return any(r[1] == "ocr_pages" for r in conn.execute("PRAGMA table_info(documents)"))

    if present():
        return
    conn.execute("BEGIN IMMEDIATE")  # two processes opening an old index: one adds it
    try:
        if not present():
            conn.execute("ALTER TABLE documents ADD COLUMN ocr_pages TEXT")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
