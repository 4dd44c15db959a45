"""SQLite holds documents, chunks and their vectors; FAISS and the keyword postings derive from it.

Atomicity: every write is one SQLite transaction that also bumps a generation counter; the FAISS
file is derived from it and named by generation (see vectors.py), so a crash at any moment leaves
the last committed state and nothing else.
"""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from ..documents import Document, Section, document_id
from ..errors import IndexFormatError, IndexLockedError, IndexReadOnlyError
from .derived import read_generation
from .keyword import KeywordIndex
from .manifest import Manifest, atomic_write
from .schema import (
    DocumentInfo,
    DocumentWrite,
    add_content_index,
    add_ocr_column,
    connect,
    create_schema,
    decode_ocr_pages,
    encode_ocr_pages,
    filter_sql,
    has_table,
    ocr_page_dicts,
    opens_read_only,
    row_to_document,
)
from .vectors import VectorIndex

DB_NAME = "rag.sqlite3"
MANIFEST_NAME = "manifest.json"
LOCK_NAME = ".lock"


class IndexStore:
    """One index folder. Readers need nothing; a writer must hold `writing()`."""

    def __init__(
        self, path: Path, conn: sqlite3.Connection, manifest: Manifest, read_only: bool = False
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.dim = int(manifest.embedding["dim"])
        self._conn = conn
        self._lock = threading.RLock()
        self._lock_fd: int | None = None
        self._writer = threading.Lock()  # one writer per process too (the file lock is per fd)
        self.vectors = VectorIndex(path, self.dim)
        self.keywords = KeywordIndex(path)
        self.read_only = read_only  # opened from a read-only folder: reads only (connect)

    # ---------------------------------------------------------------- opening
    @classmethod
    def open(
        cls,
        path: Path,
        embedding: dict[str, Any],
        chunking: dict[str, Any],
        *,
        create: bool = True,
    ) -> IndexStore:
        """Open (or create) the index at `path`; refuse one built with another model/chunking."""
        path = Path(path)
        db = path / DB_NAME
        if not db.exists():
            if (path / MANIFEST_NAME).is_file():  # a folder another store built (RAG_STORE)
                Manifest.from_json((path / MANIFEST_NAME).read_text(), str(path)).check_store(
                    "local", str(path)
                )
            if not create:
                raise IndexFormatError(f"no index at {path}: run `rag ingest PATH` first")
            if path.exists() and not path.is_dir():
                raise IndexFormatError(f"{path} exists and is not a folder; choose another --index")
            try:
                path.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # under a file, or on a read-only mount
                raise IndexFormatError(
                    f"cannot create the index folder {path}: {exc.strerror or exc}; choose "
                    "another --index"
                ) from None
        read_only = opens_read_only(path, db)
        try:
            conn = connect(db, read_only)
            row = conn.execute(
                "SELECT value FROM meta WHERE key='manifest'"
                if has_table(conn, "meta")
                else "SELECT NULL WHERE 0"
            ).fetchone()
        except sqlite3.DatabaseError as exc:  # truncated, overwritten, not a database
            raise IndexFormatError(
                f"the index database {db} is damaged ({exc}): move the folder away and ingest "
                "your files again into a new --index (the files themselves are not touched)"
            ) from None
        if row is None:
            fresh = Manifest(
                embedding=embedding,
                chunking=chunking,
                created_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            )
            create_schema(conn, fresh)  # a racing creator may win: re-read what was stored
            row = conn.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()
        manifest = Manifest.from_json(row[0], str(path))
        manifest.check_store("local", str(path))
        manifest.check_compatible(embedding, chunking.get("splitter"), str(path))
        if read_only:
            return cls(path, conn, manifest, read_only=True)
        add_ocr_column(conn)
        add_content_index(conn)
        # manifest.json is the readable copy; SQLite's is the one that counts.
        mpath = path / MANIFEST_NAME
        text = manifest.to_json() + "\n"
        if not mpath.exists() or mpath.read_text() != text:
            atomic_write(mpath, text.encode())
        return cls(path, conn, manifest)

    @property
    def location(self) -> str:
        return str(self.path.resolve())

    def close(self) -> None:
        with self._lock:
            self.release_write_lock()
            self._conn.close()

    # ---------------------------------------------------------------- locking
    def acquire_write_lock(self) -> None:
        """Only one process writes to an index at a time; readers are never blocked."""
        if self._lock_fd is not None:
            return
        if self.read_only:
            raise IndexReadOnlyError(
                f"the index folder {self.path} is read-only: it can be searched and asked, not "
                "changed; make it writable (or copy it somewhere writable) to ingest or remove"
            )
        fd = os.open(self.path / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 64).decode(errors="ignore").strip() or "another process"
            os.close(fd)
            raise IndexLockedError(
                f"{self.path} is being written by pid {holder}; wait for it to finish"
            ) from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._lock_fd = fd

    def release_write_lock(self) -> None:
        if self._lock_fd is not None:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            os.close(self._lock_fd)
            self._lock_fd = None

    @contextmanager
    def writing(self) -> Iterator[IndexStore]:
        with self._writer:
            self.acquire_write_lock()
            try:
                yield self
            finally:
                self.flush()
                self.release_write_lock()

    # ---------------------------------------------------------------- reads
    @contextmanager
    def snapshot(self) -> Iterator[IndexStore]:
        """Reads inside see one generation: a write (which holds the same lock for its whole
        transaction and the in-memory update after it) happens wholly before or after them."""
        with self._lock:
            yield self

    @property
    def generation(self) -> int:
        with self._lock:
            return read_generation(self._conn)

    def document_state(self, source: str) -> tuple[str, str] | None:
        """(id, content hash) of the stored document for `source`, if any."""
        with self._lock:
            row = self._conn.execute(
                "SELECT id, content_hash FROM documents WHERE source=?", (source,)
            ).fetchone()
        return (row[0], row[1]) if row else None

    def documents(self) -> list[DocumentInfo]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id, source, file_type, title, content_hash, size, n_chunks, added_at,"
                " updated_at, ocr_pages FROM documents ORDER BY source"
            ).fetchall()
        infos = []
        for r in rows:
            infos.append(DocumentInfo(*r[:9]))
            infos[-1].ocr_pages = ocr_page_dicts(decode_ocr_pages(r[9]))
        return infos

    def document(self, doc_id: str) -> Document:
        with self._lock:
            row = self._conn.execute(
                "SELECT source, file_type, text, content_hash, title, page_starts, sections,"
                " ocr_pages FROM documents WHERE id=?",
                (doc_id,),
            ).fetchone()
        if row is None:
            raise KeyError(doc_id)
        return row_to_document(row)

    def vectors_by_text(self, doc_id: str) -> dict[str, np.ndarray]:
        """Stored vectors of a document's chunks keyed by text hash: unchanged text is not re-embedded."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT text_hash, vector FROM chunks WHERE doc_id=?", (doc_id,)
            ).fetchall()
        return {h: np.frombuffer(v, dtype=np.float32) for h, v in rows}

    def vectors_by_content(self, content_hash: str) -> dict[str, np.ndarray]:
        with self._lock:
            row = self._conn.execute(
                "SELECT id FROM documents WHERE content_hash=? LIMIT 1", (content_hash,)
            ).fetchone()
        return self.vectors_by_text(row[0]) if row else {}

    def counts(self) -> dict[str, int]:
        with self._lock:
            docs = self._conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0]
            chunks = self._conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return {"documents": docs, "chunks": chunks, "generation": self.generation}

    def chunk_rows(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        """Everything needed to show or cite the given chunks, keyed by chunk id."""
        if not ids:
            return {}
        out: dict[int, dict[str, Any]] = {}
        with self._lock:
            for lo in range(0, len(ids), 500):
                part = list(ids[lo : lo + 500])
                marks = ",".join("?" * len(part))
                rows = self._conn.execute(
                    f'SELECT c.id, c.doc_id, d.source, d.file_type, c.start, c."end", c.text,'
                    f" d.page_starts, d.sections, d.ocr_pages"
                    f" FROM chunks c JOIN documents d ON d.id=c.doc_id"
                    f" WHERE c.id IN ({marks})",
                    part,
                ).fetchall()
                for r in rows:
                    doc = Document(
                        r[2],
                        r[3],
                        "",
                        "",
                        None,
                        json.loads(r[7]),
                        [Section(s, p) for s, p in json.loads(r[8])],
                        ocr_pages=decode_ocr_pages(r[9]),
                    )
                    page = doc.page_at(r[4])
                    ocr = doc.ocr_page(page)
                    breaks = [(o, n) for n, o in enumerate(doc.page_starts, 1) if r[4] < o < r[5]]
                    touched = {page, *(n for _, n in breaks)}
                    out[r[0]] = {
                        "doc_id": r[1],
                        "source": r[2],
                        "file_type": r[3],
                        "start": r[4],
                        "end": r[5],
                        "text": r[6],
                        "page": doc.page_at(r[4]),
                        "section": doc.section_at(r[4]),
                        "ocr_confidence": ocr.confidence if ocr else None,
                        "page_breaks": breaks,
                        "section_breaks": [
                            (s.start, s.path) for s in doc.sections if r[4] < s.start < r[5]
                        ],
                        "ocr_by_page": {
                            p.page: p.confidence for p in doc.ocr_pages if p.page in touched
                        },
                    }
        return out

    def filtered_chunk_ids(
        self, path_glob: str | None, file_types: Sequence[str] | None
    ) -> np.ndarray | None:
        """Chunk ids allowed by the filters, or None when nothing is filtered."""
        where, args = filter_sql(path_glob, file_types)
        if not where:
            return None
        with self._lock:  # streamed: a filter may allow most of a million chunks
            cur = self._conn.execute(
                f"SELECT c.id FROM chunks c JOIN documents d ON d.id=c.doc_id WHERE {where}", args
            )
            return np.fromiter((r[0] for r in cur), dtype=np.int64)

    # ---------------------------------------------------------------- search
    def dense_search(
        self,
        query: np.ndarray,
        k: int,
        path_glob: str | None = None,
        file_types: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        """Exact inner product (FAISS) over the chunks the filters allow."""
        allowed = self.filtered_chunk_ids(path_glob, file_types)
        with self._lock:
            return self.vectors.search(self._conn, query, k, allowed)

    def keyword_search(
        self,
        query: str,
        k: int,
        path_glob: str | None = None,
        file_types: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        """Chunks ranked by BM25 (see keyword.py); filters do not change the IDF."""
        allowed = self.filtered_chunk_ids(path_glob, file_types)
        with self._lock:
            return self.keywords.search(self._conn, query, k, allowed)

    def term_counts(self, words: Sequence[str]) -> tuple[dict[str, int], int]:
        """How many chunks hold each word (stemmed as the keyword index does), and the total."""
        with self._lock:
            return self.keywords.doc_freq(self._conn, words)

    # ---------------------------------------------------------------- writes
    def write(self, docs: Sequence[DocumentWrite], remove_ids: Iterable[str] = ()) -> None:
        """Store documents (replacing earlier versions) and remove others, in one transaction."""
        self._require_writer()
        now = time.time()
        removed_chunk_ids: list[int] = []
        added_ids: list[int] = []
        added_vecs: list[np.ndarray] = []
        added_texts: list[tuple[int, str]] = []
        with self._lock:
            with self._transaction() as conn:
                for doc_id in remove_ids:
                    removed_chunk_ids += self._delete_document(doc_id)
                for w in docs:
                    d = w.document
                    if w.vectors.shape != (len(w.chunks), self.dim):
                        raise ValueError(
                            f"{d.source}: {len(w.chunks)} chunks, vectors {w.vectors.shape}"
                        )
                    old = conn.execute(
                        "SELECT added_at FROM documents WHERE id=?", (d.id,)
                    ).fetchone()
                    removed_chunk_ids += self._delete_document(d.id)
                    conn.execute(
                        "INSERT INTO documents (id, source, file_type, title, content_hash, size,"
                        " mtime, text, page_starts, sections, n_chunks, added_at, updated_at,"
                        " ocr_pages) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                        (
                            d.id,
                            d.source,
                            d.file_type,
                            d.title,
                            d.content_hash,
                            w.size,
                            w.mtime,
                            d.text,
                            json.dumps(d.page_starts),
                            json.dumps([[s.start, s.path] for s in d.sections]),
                            len(w.chunks),
                            old[0] if old else now,
                            now,
                            encode_ocr_pages(d.ocr_pages),
                        ),
                    )
                    vecs = np.ascontiguousarray(w.vectors, dtype=np.float32)
                    for c, v in zip(w.chunks, vecs, strict=True):
                        cur = conn.execute(
                            'INSERT INTO chunks (doc_id, ordinal, start, "end", text, n_tokens,'
                            " text_hash, vector) VALUES (?,?,?,?,?,?,?,?)",
                            (
                                d.id,
                                c.ordinal,
                                c.start,
                                c.end,
                                c.text,
                                c.n_tokens,
                                c.text_hash,
                                v.tobytes(),
                            ),
                        )
                        added_ids.append(int(cur.lastrowid or 0))
                        added_texts.append((added_ids[-1], c.text))
                    added_vecs.append(vecs)
            # The transaction is durable; bring the in-memory vectors up to date with it.
            gen = self.generation
            self.vectors.apply(removed_chunk_ids, added_ids, added_vecs, gen)
            self.keywords.apply(removed_chunk_ids, added_texts, gen)

    def remove(self, doc_ids: Iterable[str]) -> None:
        self.write([], remove_ids=list(doc_ids))

    def move_document(self, old_source: str, new_source: str) -> str | None:
        """Re-point a document at a new path (its file was moved), keeping its chunks and vectors;
        returns the new id, or None when no document has `old_source`."""
        self._require_writer()
        new_id = document_id(new_source)
        with self._lock:
            conn = self._conn
            row = conn.execute("SELECT id FROM documents WHERE source=?", (old_source,)).fetchone()
            if row is None:
                return None
            with self._transaction():
                conn.execute("PRAGMA defer_foreign_keys=ON")  # chunks follow in this transaction
                conn.execute(
                    "UPDATE documents SET id=?, source=? WHERE id=?", (new_id, new_source, row[0])
                )
                conn.execute("UPDATE chunks SET doc_id=? WHERE doc_id=?", (new_id, row[0]))
            gen = self.generation
            self.vectors.apply([], [], [], gen)
            self.keywords.apply([], [], gen)
        return new_id

    def flush(self) -> None:
        """Write the FAISS file for the current generation (after a batch of writes)."""
        with self._lock:
            self.vectors.flush(self._conn)
            self.keywords.flush(self._conn)

    # ---------------------------------------------------------------- internals
    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction that ends by bumping the generation (readers in other processes
        reload on it); rolled back whole on any error. Hold `self._lock` around it."""
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute(
                "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key='generation'"
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _require_writer(self) -> None:
        if self._lock_fd is None:
            raise RuntimeError("write() needs the write lock: use `with store.writing():`")

    def _delete_document(self, doc_id: str) -> list[int]:
        ids = [r[0] for r in self._conn.execute("SELECT id FROM chunks WHERE doc_id=?", (doc_id,))]
        self._conn.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
        self._conn.execute("DELETE FROM documents WHERE id=?", (doc_id,))
        return ids

    def vector_count(self) -> int:
        with self._lock:
            return int(self.vectors.current(self._conn).ntotal)
