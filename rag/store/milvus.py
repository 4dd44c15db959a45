"""The index in Milvus (RAG_STORE=milvus): a Milvus server or cluster, or Milvus Lite.

Four collections under one prefix (RAG_MILVUS_COLLECTION, default `rag`; their schemas and the
connection are in milvus_schema.py):
  <p>_chunks  one row per chunk: its vector, its text, its Porter stems (`terms`) with Milvus'
              BM25 function writing the sparse field `sparse` from them, and the scalar fields
              filters use (source, file_type) and readers check (doc_id, gen);
  <p>_docs    one head row per document: what `rag documents` lists, and its generation `gen`;
  <p>_texts   the document's text (with page starts and headings) in parts, keyed by generation;
  <p>_meta    the manifest and the write counter.

Milvus has no transactions, so a document is written as: its text parts and chunks under a new
generation, then its head row (the commit: one upsert of one row), then the chunks and parts of
other generations are deleted. Readers keep a chunk only when its generation is its document's
head's, so a crash mid-write leaves the last committed version of every document, and a
re-ingested file never shows chunks of two versions. Chunk ids are a hash of (document,
generation, ordinal, text hash): writing the same rows again (a retry) changes nothing.

Keyword search is BM25 inside the engine over rag's own analysis (keyword.py's Porter stems,
joined by spaces, which Milvus' standard tokenizer splits back), so Milvus Lite (whose analyzer
has no stemmer) and a Milvus server rank with the same terms as the local store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..documents import Document, Section, document_id
from ..errors import IndexFormatError
from .keyword import fold_stem, query_stems, stems
from .manifest import Manifest, atomic_write
from .milvus_schema import DUMMY, connect, create_collections, meta_row, release_lite
from .schema import (
    DocumentInfo,
    DocumentWrite,
    decode_ocr_pages,
    encode_ocr_pages,
    ocr_page_dicts,
    path_pattern,
)

if TYPE_CHECKING:
    from ..config import Settings

MANIFEST_NAME = "manifest.json"
PART_CHARS = 16_000  # a VARCHAR holds 65,535 bytes; 16,000 characters fit in any UTF-8
MAX_LIMIT = 16_384  # Milvus' largest top-k, and by default its largest query result
PAGE = 4_096  # rows per request when a listing is read in pages (_all)
BATCH = 256


# Milvus Lite gives a query iterator no timestamp of its own; pymilvus then takes the client's
# clock (what strong consistency reads at anyway) and warns so on every listing read in pages.
logging.getLogger("pymilvus.client.iterator.query_iterator").addFilter(
    lambda record: "mvccTs" not in record.getMessage()
)


def _lit(s: str) -> str:
    """A string literal for a Milvus filter expression."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _like(glob: str) -> str:
    """A `like` pattern matching at least what the SQLite GLOB matches (checked exactly after)."""
    out = re.sub(r"\[[^\]]*\]", "_", glob)
    return out.replace("*", "%").replace("?", "_")


def _glob_regex(glob: str) -> re.Pattern[str]:
    """SQLite's GLOB (case-sensitive; [^...] or [!...] negates) as a regular expression."""
    out, i = "", 0
    while i < len(glob):
        ch = glob[i]
        if ch == "*":
            out += ".*"
        elif ch == "?":
            out += "."
        elif ch == "[" and "]" in glob[i + 2 :]:
            j = glob.index("]", i + 2)
            body = glob[i + 1 : j]
            neg = body[:1] in ("^", "!")
            body = body[1:] if neg else body
            body = body.replace("\\", "\\\\").replace("[", "\\[")  # "[[]": a literal [
            out += "[" + ("^" if neg else "") + body + "]"
            i = j
        else:
            out += re.escape(ch)
        i += 1
    return re.compile(out + r"\Z", re.DOTALL)


def chunk_id(doc_id: str, gen: int, ordinal: int, text_hash: str) -> int:
    digest = hashlib.blake2b(f"{doc_id}\0{gen}\0{ordinal}\0{text_hash}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big") & 0x7FFF_FFFF_FFFF_FFFF


class MilvusStore:
    """An index in Milvus. One writer at a time (within a process a lock makes sure of it;
    across processes the deployment must: Milvus has no lock to take)."""

    def __init__(self, client: Any, uri: str, prefix: str, manifest: Manifest) -> None:
        self.client = client
        self.uri = uri
        self.prefix = prefix
        self.manifest = manifest
        self.dim = int(manifest.embedding["dim"])
        self.chunks, self.docs = f"{prefix}_chunks", f"{prefix}_docs"
        self.texts, self.meta = f"{prefix}_texts", f"{prefix}_meta"
        self._writer = threading.Lock()
        self._writing = False
        self._last_gen = 0
        self.page_size = PAGE  # rows per request when listing (tests make it small)

    # ---------------------------------------------------------------- opening
    @classmethod
    def open(
        cls,
        settings: Settings,
        embedding: dict[str, Any],
        chunking: dict[str, Any],
        *,
        create: bool = True,
    ) -> MilvusStore:
        folder = Path(settings.index)
        uri = settings.milvus_uri or str(folder / "milvus.db")
        where = f"{uri} (collections {settings.milvus_collection}_*)"
        if (folder / "rag.sqlite3").exists():
            Manifest.from_json((folder / MANIFEST_NAME).read_text(), str(folder)).check_store(
                "milvus", str(folder)
            )
        local_file = "://" not in uri
        if local_file:
            if not Path(uri).exists() and not create:
                raise IndexFormatError(f"no index at {uri}: run `rag ingest PATH` first")
            Path(uri).parent.mkdir(parents=True, exist_ok=True)
        client = connect(uri, settings)
        store = cls(client, uri, settings.milvus_collection, Manifest(embedding, chunking))
        try:
            store.manifest = store._open_manifest(embedding, chunking, where, create)
        except BaseException:
            client.close()
            raise
        if folder.is_dir() or create:  # the readable copy, and what the local store refuses
            folder.mkdir(parents=True, exist_ok=True)
            text = store.manifest.to_json() + "\n"
            mpath = folder / MANIFEST_NAME
            if not mpath.exists() or mpath.read_text() != text:
                atomic_write(mpath, text.encode())
        return store

    def _open_manifest(
        self, embedding: dict[str, Any], chunking: dict[str, Any], where: str, create: bool
    ) -> Manifest:
        c = self.client
        if not c.has_collection(self.meta):
            if not create:
                raise IndexFormatError(f"no index at {where}: run `rag ingest PATH` first")
            create_collections(
                self.client, (self.chunks, self.docs, self.texts, self.meta), self.dim
            )
            fresh = Manifest(
                embedding=embedding,
                chunking=chunking,
                created_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                store="milvus",
            )
            # Written last: a collection set without a manifest is created again above.
            c.upsert(self.meta, [meta_row("generation", "0")])
            c.upsert(self.meta, [meta_row("manifest", fresh.to_json())])
        for name in (self.chunks, self.docs, self.texts, self.meta):
            c.load_collection(name)
        rows = c.query(self.meta, filter='key == "manifest"', output_fields=["value"])
        if not rows:
            raise IndexFormatError(
                f"{where} holds no rag manifest (an ingest that stopped while creating it?): "
                f"drop the collections {self.prefix}_* or choose another RAG_MILVUS_COLLECTION"
            )
        manifest = Manifest.from_json(rows[0]["value"], where)
        manifest.check_store("milvus", where)
        manifest.check_compatible(embedding, chunking.get("splitter"), where)
        return manifest

    @property
    def location(self) -> str:
        return f"{self.uri} (collections {self.prefix}_*)"

    def close(self) -> None:
        self.client.close()
        if "://" not in self.uri:
            release_lite(self.uri)

    # ---------------------------------------------------------------- locking
    @contextmanager
    def writing(self) -> Iterator[MilvusStore]:
        with self._writer:
            self._writing = True
            try:
                yield self
            finally:
                self._writing = False

    @contextmanager
    def snapshot(self) -> Iterator[MilvusStore]:
        # No snapshot to hold: every read keeps only chunks of their document's committed
        # generation, so a write in between shows each document old or new, never mixed.
        yield self

    # ---------------------------------------------------------------- reads
    @property
    def generation(self) -> int:
        rows = self.client.query(self.meta, filter='key == "generation"', output_fields=["value"])
        return int(rows[0]["value"]) if rows else 0

    def _heads(self, doc_ids: Iterable[str], fields: Sequence[str] = ("gen",)) -> dict[str, Any]:
        ids = sorted(set(doc_ids))
        out: dict[str, Any] = {}
        for lo in range(0, len(ids), 1000):
            part = ids[lo : lo + 1000]
            expr = "id in [" + ",".join(_lit(i) for i in part) + "]"
            for r in self.client.query(self.docs, filter=expr, output_fields=["id", *fields]):
                out[r["id"]] = r
        return out

    def _all(self, collection: str, expr: str, fields: Sequence[str]) -> list[dict[str, Any]]:
        """Every row matching `expr`. A Milvus server caps one query's result (16,384 rows by
        default), so past `page_size` rows they are read again through a query iterator, a
        page at a time in primary-key order; a small result stays one request."""
        page = self.page_size
        rows = self.client.query(
            collection, filter=expr, output_fields=list(fields), limit=page + 1
        )
        if len(rows) <= page:
            return list(rows)
        it = self.client.query_iterator(
            collection, filter=expr, output_fields=list(fields), batch_size=page
        )
        out: list[dict[str, Any]] = []
        try:
            while batch := it.next():
                out += batch
        finally:
            it.close()
        return out

    def document_state(self, source: str) -> tuple[str, str] | None:
        rows = self.client.query(
            self.docs, filter=f"source == {_lit(source)}", output_fields=["id", "content_hash"]
        )
        return (rows[0]["id"], rows[0]["content_hash"]) if rows else None

    def documents(self) -> list[DocumentInfo]:
        fields = ("id", "source", "file_type", "title", "content_hash", "size", "n_chunks")
        rows = self._all(self.docs, "gen >= 0", [*fields, "added_at", "updated_at", "ocr_pages"])
        infos = [
            DocumentInfo(
                r["id"],
                r["source"],
                r["file_type"],
                r["title"] or None,
                r["content_hash"],
                int(r["size"]),
                int(r["n_chunks"]),
                float(r["added_at"]),
                float(r["updated_at"]),
                ocr_pages=ocr_page_dicts(decode_ocr_pages(r["ocr_pages"] or None)),
            )
            for r in rows
        ]
        return sorted(infos, key=lambda d: d.source)

    def document(self, doc_id: str) -> Document:
        head = self._heads([doc_id], ("gen", "source", "file_type", "title", "content_hash"))
        if doc_id not in head:
            raise KeyError(doc_id)
        h = head[doc_id]
        parts = self.client.query(
            self.texts,
            filter=f"doc_id == {_lit(doc_id)} and gen == {int(h['gen'])}",
            output_fields=["part", "body"],
        )
        blob = json.loads("".join(p["body"] for p in sorted(parts, key=lambda p: p["part"])))
        return Document(
            source=h["source"],
            file_type=h["file_type"],
            text=blob["text"],
            content_hash=h["content_hash"],
            title=h["title"] or None,
            page_starts=blob["page_starts"],
            sections=[Section(s, p) for s, p in blob["sections"]],
            ocr_pages=decode_ocr_pages(blob.get("ocr_pages")),
        )

    def _live_chunks(self, doc_id: str, fields: Sequence[str]) -> list[dict[str, Any]]:
        head = self._heads([doc_id])
        if doc_id not in head:
            return []
        expr = f"doc_id == {_lit(doc_id)} and gen == {int(head[doc_id]['gen'])}"
        return self._all(self.chunks, expr, fields)

    def vectors_by_text(self, doc_id: str) -> dict[str, np.ndarray]:
        rows = self._live_chunks(doc_id, ["text_hash", "vector"])
        return {r["text_hash"]: np.asarray(r["vector"], dtype=np.float32) for r in rows}

    def vectors_by_content(self, content_hash: str) -> dict[str, np.ndarray]:
        rows = self.client.query(
            self.docs,
            filter=f"content_hash == {_lit(content_hash)} and gen >= 0",
            output_fields=["id"],
            limit=1,
        )
        return self.vectors_by_text(rows[0]["id"]) if rows else {}

    def counts(self) -> dict[str, int]:
        docs = self._all(self.docs, "gen >= 0", ["n_chunks"])
        return {
            "documents": len(docs),
            "chunks": sum(int(d["n_chunks"]) for d in docs),
            "generation": self.generation,
        }

    def _count(self, collection: str, expr: str) -> int:
        rows = self.client.query(collection, filter=expr, output_fields=["count(*)"])
        return int(rows[0]["count(*)"])

    def vector_count(self) -> int:
        return self._count(self.chunks, "id >= 0 or id < 0")

    def chunk_rows(self, ids: Sequence[int]) -> dict[int, dict[str, Any]]:
        if not ids:
            return {}
        fields = ["id", "doc_id", "gen", "source", "file_type", "span_start", "span_end", "text"]
        rows: list[dict[str, Any]] = []
        for lo in range(0, len(ids), 1000):
            part = ",".join(str(int(i)) for i in ids[lo : lo + 1000])
            rows += self.client.query(
                self.chunks,
                filter=f"id in [{part}]",
                output_fields=[*fields, "page", "section", "extra"],
            )
        heads = self._heads(r["doc_id"] for r in rows)
        out: dict[int, dict[str, Any]] = {}
        for r in rows:
            h = heads.get(r["doc_id"])
            if h is None or int(h["gen"]) != int(r["gen"]):
                continue  # another version of the document, or one being written: not shown
            out[int(r["id"])] = {
                "doc_id": r["doc_id"],
                "source": r["source"],
                "file_type": r["file_type"],
                "start": int(r["span_start"]),
                "end": int(r["span_end"]),
                "text": r["text"],
                "page": int(r["page"]) or None,
                "section": r["section"] or None,
                **_extra(r["extra"]),
            }
        return out

    # ---------------------------------------------------------------- search
    def _filter(self, path_glob: str | None, file_types: Sequence[str] | None) -> str:
        clauses = []
        if path_glob:
            clauses.append(f"source like {_lit(_like(path_pattern(path_glob)))}")
        if file_types:
            types = ",".join(_lit(t.lower().lstrip(".")) for t in file_types)
            clauses.append(f"file_type in [{types}]")
        return " and ".join(clauses)

    def _search(
        self,
        data: Any,
        field: str,
        k: int,
        path_glob: str | None,
        file_types: Sequence[str] | None,
    ) -> list[tuple[int, float]]:
        """Top k live chunks: the engine's hits less those of uncommitted or replaced
        generations (and, for a path, those its `like` let through that the GLOB does not)."""
        if k <= 0:
            return []
        expr = self._filter(path_glob, file_types)
        exact = _glob_regex(path_pattern(path_glob)) if path_glob else None
        limit = min(MAX_LIMIT, k + max(10, k // 4))
        while True:
            res = self.client.search(
                self.chunks,
                data=[data],
                anns_field=field,
                limit=limit,
                filter=expr,
                output_fields=["doc_id", "gen", "source"],
            )[0]
            heads = self._heads(h["entity"]["doc_id"] for h in res)
            out: list[tuple[int, float]] = []
            for h in res:
                e = h["entity"]
                head = heads.get(e["doc_id"])
                if head is None or int(head["gen"]) != int(e["gen"]):
                    continue
                if exact is not None and not exact.match(e["source"]):
                    continue
                # Milvus Lite gives BM25 as a negative distance, a server as a positive score.
                out.append((int(h["id"]), abs(float(h["distance"]))))
            if len(out) >= k or len(res) < limit or limit >= MAX_LIMIT:
                return out[:k]
            limit = min(MAX_LIMIT, limit * 4)

    def dense_search(
        self,
        query: np.ndarray,
        k: int,
        path_glob: str | None = None,
        file_types: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        vec = np.asarray(query, dtype=np.float32).reshape(-1).tolist()
        return self._search(vec, "vector", k, path_glob, file_types)

    def keyword_search(
        self,
        query: str,
        k: int,
        path_glob: str | None = None,
        file_types: Sequence[str] | None = None,
    ) -> list[tuple[int, float]]:
        terms = query_stems(query)
        if not terms:
            return []
        return self._search(" ".join(terms), "sparse", k, path_glob, file_types)

    def term_counts(self, words: Sequence[str]) -> tuple[dict[str, int], int]:
        out: dict[str, int] = {}
        for w, s in zip(words, fold_stem(words), strict=True):
            out[w] = self._count(self.chunks, f"text_match(terms, {_lit(s)})") if s else 0
        return out, self._count(self.chunks, "id >= 0 or id < 0")

    # ---------------------------------------------------------------- writes
    def _require_writer(self) -> None:
        if not self._writing:
            raise RuntimeError("write() needs the write lock: use `with store.writing():`")

    def _next_gen(self) -> int:
        self._last_gen = max(time.time_ns(), self._last_gen + 1)
        return self._last_gen

    def write(self, docs: Sequence[DocumentWrite], remove_ids: Iterable[str] = ()) -> None:
        """Removals first (each committed by deleting its head row), then the documents: their
        text parts and chunks under new generations, their head rows (the commits), and last
        the rows of other generations. A batch costs a handful of requests, not some per file."""
        self._require_writer()
        for w in docs:
            if w.vectors.shape != (len(w.chunks), self.dim):
                raise ValueError(
                    f"{w.document.source}: {len(w.chunks)} chunks, vectors {w.vectors.shape}"
                )
        c = self.client
        gone = sorted(set(remove_ids))
        for lo in range(0, len(gone), 1000):
            ids = "[" + ",".join(_lit(i) for i in gone[lo : lo + 1000]) + "]"
            c.delete(self.docs, filter=f"id in {ids}")  # the commit
            c.delete(self.chunks, filter=f"doc_id in {ids}")
            c.delete(self.texts, filter=f"doc_id in {ids}")
        if docs:
            old = self._heads([w.document.id for w in docs], ("gen", "added_at"))
            now = time.time()
            gens: dict[str, int] = {}
            texts: list[dict[str, Any]] = []
            chunks: list[dict[str, Any]] = []
            heads: list[dict[str, Any]] = []
            for w in docs:
                gen = gens[w.document.id] = self._next_gen()
                heads.append(self._rows(w, gen, old.get(w.document.id), now, texts, chunks))
            for lo in range(0, len(texts), 16):
                c.upsert(self.texts, texts[lo : lo + 16])
            for lo in range(0, len(chunks), BATCH):
                c.upsert(self.chunks, chunks[lo : lo + BATCH])
            # The commits: readers see the new chunks, and no longer the old ones, from here on.
            for lo in range(0, len(heads), BATCH):
                c.upsert(self.docs, heads[lo : lo + BATCH])
            self._delete_stale(gens)
        self._bump()

    def _rows(
        self,
        w: DocumentWrite,
        gen: int,
        old: dict[str, Any] | None,
        now: float,
        texts: list[dict[str, Any]],
        chunks: list[dict[str, Any]],
    ) -> dict[str, Any]:
        """Append the document's text parts and chunks to the lists; return its head row."""
        d = w.document
        blob = json.dumps(
            {
                "text": d.text,
                "page_starts": d.page_starts,
                "sections": [[s.start, s.path] for s in d.sections],
                "ocr_pages": encode_ocr_pages(d.ocr_pages),
            }
        )
        parts = [blob[i : i + PART_CHARS] for i in range(0, len(blob), PART_CHARS)] or [""]
        texts += [
            {"id": f"{d.id}:{gen}:{i}", "doc_id": d.id, "gen": gen, "part": i, "body": p}
            | {"_v": DUMMY}
            for i, p in enumerate(parts)
        ]
        vecs = np.ascontiguousarray(w.vectors, dtype=np.float32)
        for ch, v in zip(w.chunks, vecs, strict=True):
            page = d.page_at(ch.start)
            breaks = [(o, n) for n, o in enumerate(d.page_starts, 1) if ch.start < o < ch.end]
            touched = {page, *(n for _, n in breaks)}
            ocr = d.ocr_page(page)
            extra = {
                "ocr_confidence": ocr.confidence if ocr else None,
                "page_breaks": breaks,
                "ocr_by_page": {p.page: p.confidence for p in d.ocr_pages if p.page in touched},
                "section_breaks": [
                    (s.start, s.path[:1000]) for s in d.sections if ch.start < s.start < ch.end
                ],
            }
            chunks.append(
                {
                    "id": chunk_id(d.id, gen, ch.ordinal, ch.text_hash),
                    "doc_id": d.id,
                    "gen": gen,
                    "ordinal": ch.ordinal,
                    "span_start": ch.start,
                    "span_end": ch.end,
                    "n_tokens": ch.n_tokens,
                    "text_hash": ch.text_hash,
                    "text": ch.text,
                    "terms": " ".join(stems(ch.text)),
                    "vector": v.tolist(),
                    "source": d.source,
                    "file_type": d.file_type,
                    "page": page or 0,
                    "section": (d.section_at(ch.start) or "")[:1000],
                    "extra": json.dumps(extra),
                }
            )
        return {
            "id": d.id,
            "gen": gen,
            "source": d.source,
            "file_type": d.file_type,
            "title": (d.title or "")[:1000],
            "content_hash": d.content_hash,
            "size": int(w.size),
            "mtime": float(w.mtime),
            "n_chunks": len(w.chunks),
            "n_parts": len(parts),
            "added_at": float(old["added_at"]) if old else now,
            "updated_at": now,
            "ocr_pages": encode_ocr_pages(d.ocr_pages) or "",
            "_v": DUMMY,
        }

    def _delete_stale(self, gens: dict[str, int]) -> None:
        """Delete the chunks and text parts of these documents that are not of the given
        generations: earlier versions, and whatever a crashed write left."""
        ids = sorted(gens)
        for collection in (self.chunks, self.texts):
            for lo in range(0, len(ids), 1000):
                expr = "doc_id in [" + ",".join(_lit(i) for i in ids[lo : lo + 1000]) + "]"
                rows = self._all(collection, expr, ["doc_id", "gen"])
                stale = [r["id"] for r in rows if int(r["gen"]) != gens[r["doc_id"]]]
                for k in range(0, len(stale), 1000):
                    self.client.delete(collection, ids=stale[k : k + 1000])

    def _bump(self) -> None:
        self.client.upsert(self.meta, [meta_row("generation", str(self.generation + 1))])

    def remove(self, doc_ids: Iterable[str]) -> None:
        self.write([], remove_ids=list(doc_ids))

    def move_document(self, old_source: str, new_source: str) -> str | None:
        """Write the document again under its new path (its vectors reused), then remove the
        old one: Milvus cannot change a primary key in place."""
        from ..documents import Chunk

        self._require_writer()
        state = self.document_state(old_source)
        if state is None:
            return None
        old_id = state[0]
        doc = self.document(old_id)
        head = self._heads([old_id], ("size", "mtime"))[old_id]
        fields = ["ordinal", "span_start", "span_end", "text", "n_tokens", "vector"]
        rows = sorted(self._live_chunks(old_id, fields), key=lambda r: r["ordinal"])
        chunks = [
            Chunk(
                int(r["ordinal"]),
                int(r["span_start"]),
                int(r["span_end"]),
                r["text"],
                int(r["n_tokens"]),
            )
            for r in rows
        ]
        vecs = np.asarray([r["vector"] for r in rows], dtype=np.float32).reshape(-1, self.dim)
        doc.source = new_source
        self.write(
            [DocumentWrite(doc, chunks, vecs, int(head["size"]), float(head["mtime"]))],
            remove_ids=[old_id],
        )
        return document_id(new_source)

    def flush(self) -> None:
        """Nothing to do: Milvus persists each write itself (its log)."""


def _extra(text: str) -> dict[str, Any]:
    """A chunk's page and section breaks and OCR confidences, as the local store's chunk_rows
    gives them."""
    extra = json.loads(text) if text else {}
    return {
        "ocr_confidence": extra.get("ocr_confidence"),
        "page_breaks": [(int(o), int(n)) for o, n in extra.get("page_breaks", [])],
        "ocr_by_page": {int(p): float(c) for p, c in extra.get("ocr_by_page", {}).items()},
        # Chunks written before section breaks were kept have none: their first section holds.
        "section_breaks": [(int(o), str(s)) for o, s in extra.get("section_breaks", [])],
    }
