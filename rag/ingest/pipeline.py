"""Ingest: find files, skip what did not change, load, split, embed only new text, commit atomically."""

from __future__ import annotations

import errno
import os
import sqlite3
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..documents import Chunk, Document, content_hash
from ..embeddings import Embedder
from ..errors import LoadError, RagError
from ..store import DocumentWrite, Store
from ..text.markup import reading_text
from .discover import discover, printable
from .loaders import NO_TEXT, NOTHING_TO_INDEX, Limits, load_file
from .removal import hidden_indexed, indexed_under, vanished
from .splitter import TokenSplitter

# Called after each file with (files done, files in all, the file's path).
ProgressFn = Callable[[int, int, str], None]
# Called as a commit's chunks are embedded, with (chunks embedded, chunks this commit embeds):
# one large file is thousands of chunks and minutes of work, where per-file progress stands still.
EmbedProgressFn = Callable[[int, int], None]
# Called with each skipped file and its reason, as soon as it is known; also the type of the
# callback that gets each note (a file read with a caveat, or read by OCR: its pages and time).
SkipFn = Callable[[str, str], None]


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[tuple[str, str]] = field(default_factory=list)  # read, but with a caveat
    ignored: int = 0  # files in the folders with types rag does not read
    chunks_embedded: int = 0
    chunks_reused: int = 0

    def summary(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.updated)} updated",
            f"{len(self.unchanged)} unchanged",
            f"{len(self.skipped)} skipped",
        ]
        if self.removed:
            parts.append(f"{len(self.removed)} removed")
        line = ", ".join(parts) + (
            f"; {self.chunks_embedded} chunks embedded, {self.chunks_reused} reused"
        )
        if self.ignored:
            line += (
                "; 1 file of another type ignored"
                if self.ignored == 1
                else f"; {self.ignored} files of other types ignored"
            )
        if self.notes:
            line += f"; {len(self.notes)} note{'s' if len(self.notes) != 1 else ''}"
        return line

    def to_dict(self) -> dict[str, Any]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "skipped": [{"source": s, "reason": r} for s, r in self.skipped],
            "notes": [{"source": s, "note": n} for s, n in self.notes],
            "ignored": self.ignored,
            "chunks_embedded": self.chunks_embedded,
            "chunks_reused": self.chunks_reused,
        }


@dataclass
class FileJob:
    """A file whose bytes the index does not hold (new or changed): to be loaded, split and
    embedded. Found, read and hashed by the ingest itself; `stage` decides where the rest runs."""

    path: Path
    data: bytes | None  # None: over the size limit or not a regular file (load_file says which)
    size: int
    mtime: float
    state: tuple[str, str] | None  # (id, content hash) of the indexed version, if any
    reuse: dict[str, np.ndarray]  # its chunks' vectors by text hash: text not embedded again


@dataclass
class Loaded:
    """A file's document and chunks; `vectors` are those of the chunks whose text is not in its
    job's `reuse`, in order, or None when they are still to be embedded (at the commit)."""

    document: Document
    chunks: list[Chunk]
    vectors: np.ndarray | None = None


# Loads and splits (and may embed) each job, yielding it with its outcome (a Loaded, or the
# reason it is skipped) in the order given. The default runs in this process; on_ray.py's runs
# on Ray actors.
Stage = Callable[[Iterable[FileJob]], Iterator[tuple[FileJob, Loaded | str]]]


@dataclass
class _Pending:
    document: Document
    chunks: list[Chunk]
    reuse: dict[str, np.ndarray]
    size: int
    mtime: float
    is_update: bool
    vectors: np.ndarray | None = None


def ingest_paths(
    paths: Sequence[Path],
    store: Store,
    embedder: Embedder,
    splitter: TokenSplitter,
    *,
    max_file_bytes: int,
    limits: Limits | None = None,
    commit_every: int = 512,
    prune: bool = False,
    progress: ProgressFn | None = None,
    on_skip: SkipFn | None = None,
    on_note: SkipFn | None = None,
    stage: Stage | None = None,
    emptied_removes: bool = True,
    on_embed: EmbedProgressFn | None = None,
) -> IngestReport:
    """Bring the index in line with the files under `paths`. Each commit is atomic. Files are
    found, hashed, compared with the index and written to it here; `stage` loads, splits (and
    may embed) the new and changed ones: in this process by default. An indexed file that now
    holds no text loses its document (`emptied_removes`; uploads say False: an empty upload is
    refused and the copy it would have replaced is kept)."""
    report = IngestReport()
    files, missing, report.ignored, broken, linked = discover(paths)

    def skip(source: str, reason: str) -> None:
        source = printable(source)  # printable and storable, whatever the name's bytes
        report.skipped.append((source, reason))
        if on_skip is not None:
            on_skip(source, reason)

    for p in missing:
        was_indexed = bool(indexed_under(store, p))
        if not (prune and was_indexed):
            why = "path does not exist"
            if was_indexed:  # deleted since it was indexed: say what stays
                why += (
                    "; the version indexed before is kept (drop it with `rag remove` or "
                    "`rag ingest --prune`)"
                )
            skip(str(Path(os.path.abspath(p))), why)
    for p, reason in broken:
        skip(str(p), reason)
    for p, note in linked:
        report.notes.append((printable(str(p)), note))
        if on_note is not None:
            on_note(printable(str(p)), note)
    files += hidden_indexed(store, paths, files)

    pending: list[_Pending] = []
    to_embed = 0

    def commit() -> None:
        nonlocal pending, to_embed
        if not pending:
            return
        _commit(pending, store, embedder, report, on_embed)
        pending, to_embed = [], 0

    done = 0

    def tick(path: Path) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, len(files), str(path))

    def jobs() -> Iterator[FileJob]:
        for path in files:
            job = _check(path, store, max_file_bytes, report, skip)
            if job is None:
                tick(path)
            else:
                yield job

    run = stage or local_stage(splitter, max_file_bytes, limits)
    try:
        with store.writing():
            for job, outcome in run(jobs()):
                noted = len(report.notes)
                if emptied_removes and job.state is not None and _holds_no_text(outcome):
                    # An indexed file emptied (or left with no text): its old chunks would go on
                    # being found and cited. Its document goes, as a deleted file's does.
                    store.remove([job.state[0]])
                    report.removed.append(str(job.path))
                    report.notes.append(
                        (str(job.path), "holds no text now: its earlier version was removed")
                    )
                    item = None
                else:
                    item = _pending(job, outcome, report, skip)
                if on_note is not None:
                    for source, note in report.notes[noted:]:
                        on_note(source, note)
                if item is not None:
                    pending.append(item)
                    to_embed += sum(1 for c in item.chunks if c.text_hash not in item.reuse)
                    if to_embed >= commit_every:
                        commit()
                tick(job.path)
            commit()
            if prune:
                gone = vanished(store, paths)
                if gone:
                    store.remove([d.id for d in gone])
                    report.removed += [d.source for d in gone]
    except IngestInterrupted:
        raise
    except KeyboardInterrupt:
        raise IngestInterrupted(report) from None
    except (OSError, sqlite3.Error) as exc:
        if not _disk_full(exc):
            raise
        done_ = len(report.added) + len(report.updated)
        raise RagError(
            f"the disk holding the index ({store.location}) is full: free some space and run the "
            f"ingest again; the {done_} files committed before it filled up are in the index, "
            "and unchanged files are not embedded again"
        ) from exc
    return report


def _disk_full(exc: BaseException) -> bool:
    """ENOSPC from a file write, or SQLite's 'database or disk is full', here or in a cause."""
    while exc is not None:
        if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
            return True
        if isinstance(exc, sqlite3.Error) and "disk is full" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]
    return False


def _check(
    path: Path, store: Store, max_file_bytes: int, report: IngestReport, skip: SkipFn
) -> FileJob | None:
    """Read and hash one file: a job when the index does not hold these bytes; None when it
    does (recorded as unchanged) or the file cannot be read (recorded as skipped)."""
    source = str(path)
    try:
        stat = path.stat()
        data = None
        if stat.st_size <= max_file_bytes and path.is_file():
            data = path.read_bytes()
        state = store.document_state(source)
    except OSError as exc:
        skip(source, f"cannot read: {exc.strerror or exc}")
        return None
    digest = content_hash(data) if data is not None else None
    if digest is not None and state is not None and digest == state[1]:
        report.unchanged.append(source)
        return None
    reuse = store.vectors_by_text(state[0]) if state else {}
    if state is None and digest is not None:
        reuse = store.vectors_by_content(digest)  # renamed, moved or copied: embedded already
    return FileJob(path, data, stat.st_size, stat.st_mtime, state, reuse)


def local_stage(splitter: TokenSplitter, max_file_bytes: int, limits: Limits | None) -> Stage:
    """Each job loaded and split in this process, one after another; embedded at the commit."""

    def run(jobs: Iterable[FileJob]) -> Iterator[tuple[FileJob, Loaded | str]]:
        for job in jobs:
            yield job, load_job(job.path, job.data, splitter, max_file_bytes, limits)

    return run


def load_job(
    path: Path,
    data: bytes | None,
    splitter: TokenSplitter,
    max_file_bytes: int,
    limits: Limits | None,
) -> Loaded | str:
    """Load and split one file (`data`: its bytes, when read): its document and chunks, or the
    reason it is skipped. A document without chunks is returned as it is (for its notes)."""
    try:
        doc = load_file(path, max_bytes=max_file_bytes, data=data, limits=limits)
    except LoadError as exc:
        return exc.reason  # an earlier version, if any, stays in the index
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    return Loaded(doc, splitter.split(doc.text))


def _pending(
    job: FileJob, outcome: Loaded | str, report: IngestReport, skip: SkipFn
) -> _Pending | None:
    """What a job's outcome adds to the next commit, or None (the reason recorded)."""
    source = str(job.path)
    if isinstance(outcome, str):
        if job.state is not None:  # say what a user still finds: the version read before
            outcome += "; the version indexed before is kept"
        skip(source, outcome)
        return None
    report.notes += [(source, n) for n in outcome.document.notes]
    if not outcome.chunks:
        skip(source, NO_TEXT)
        return None
    return _Pending(
        outcome.document,
        outcome.chunks,
        job.reuse,
        job.size,
        job.mtime,
        job.state is not None,
        outcome.vectors,
    )


def _holds_no_text(outcome: Loaded | str) -> bool:
    """The file was read and holds nothing to index (as against one that could not be read)."""
    if isinstance(outcome, str):
        return outcome in NOTHING_TO_INDEX
    return not outcome.chunks


def to_embed(chunks: Sequence[Chunk], reuse: Container[str]) -> list[str]:
    """What the model reads for a file's chunks whose text has no vector in `reuse` (text
    hashes), in order: here at the commit, and on Ray's workers (on_ray.py)."""
    return [reading_text(c.text) for c in chunks if c.text_hash not in reuse]


def _commit(
    pending: list[_Pending],
    store: Store,
    embedder: Embedder,
    report: IngestReport,
    on_embed: EmbedProgressFn | None = None,
) -> None:
    texts: list[str] = []
    for item in pending:
        if item.vectors is None:  # not embedded by the stage: embedded here, in one call
            texts += to_embed(item.chunks, item.reuse)
    done = 0

    def embedded(n: int) -> None:
        nonlocal done
        done += n
        if on_embed is not None:
            on_embed(done, len(texts))

    # In pieces, so that an interrupted ingest (Ctrl-C) keeps the files whose chunks were all
    # embedded before it: one commit is up to commit_every chunks, minutes of embedding.
    parts: list[np.ndarray] = [np.empty((0, embedder.dim), np.float32)]
    try:
        for lo in range(0, len(texts), _EMBED_PIECE):
            parts.append(embedder.embed(texts[lo : lo + _EMBED_PIECE], progress=embedded))
    except KeyboardInterrupt:
        new_vecs = np.concatenate(parts)
        whole, used = [], 0
        for item in pending:  # in order: the vectors embedded so far are theirs
            need = 0 if item.vectors is not None else len(to_embed(item.chunks, item.reuse))
            if used + need > len(new_vecs):
                break
            whole.append(item)
            used += need
        if whole:
            _write(whole, new_vecs, store, report)
        raise IngestInterrupted(report) from None
    _write(pending, np.concatenate(parts), store, report)


# Texts embedded per call of a commit (the embedder batches within it by tokens).
_EMBED_PIECE = 256


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C during an ingest, after the files in `report` were committed."""

    def __init__(self, report: IngestReport) -> None:
        super().__init__()
        self.report = report


def _write(items: list[_Pending], new_vecs: np.ndarray, store: Store, report: IngestReport) -> None:
    """Store `items` with their vectors: reused, the stage's own, or the next of `new_vecs`."""
    writes: list[DocumentWrite] = []
    embedded = reused = pos = 0
    for item in items:
        fresh, i = (new_vecs, pos) if item.vectors is None else (item.vectors, 0)
        rows = []
        for c in item.chunks:
            if c.text_hash in item.reuse:
                rows.append(item.reuse[c.text_hash])
                reused += 1
            else:
                rows.append(fresh[i])
                i += 1
                embedded += 1
        if item.vectors is None:
            pos = i
        writes.append(
            DocumentWrite(item.document, item.chunks, np.vstack(rows), item.size, item.mtime)
        )
    store.write(writes)
    report.chunks_reused += reused
    report.chunks_embedded += embedded
    for item in items:
        (report.updated if item.is_update else report.added).append(item.document.source)
