"""The SQLite side of an index: its schema, connection settings, and the SQL pieces the store
builds queries from. SQLite is the truth; FAISS and the keyword postings derive from it."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..documents import Chunk, Document, Section
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
    updated_at REAL NOT NULL
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

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, check_same_thread=False, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


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


def filter_sql(path_glob: str | None, file_types: Sequence[str] | None) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if path_glob:
        # A bare folder or file name matches anywhere in the path, like a person expects.
        pattern = path_glob if any(ch in path_glob for ch in "*?[") else f"*{path_glob}*"
        clauses.append("d.source GLOB ?")
        args.append(pattern)
    if file_types:
        clauses.append(f"d.file_type IN ({','.join('?' * len(file_types))})")
        args.extend(t.lower().lstrip(".") for t in file_types)
    return " AND ".join(clauses), args


def row_to_document(row: Sequence[Any]) -> Document:
    source, file_type, text, chash, title, pages, sections = row
    return Document(
        source=source,
        file_type=file_type,
        text=text,
        content_hash=chash,
        title=title,
        page_starts=json.loads(pages),
        sections=[Section(s, p) for s, p in json.loads(sections)],
    )
