"""Uploaded files: one layout for the app and the HTTP server, and a delete that touches only
the upload's own copy.

Layout: `<uploads>/<key>/<name>`, where `key` is a hash of the file name as it was uploaded and
`name` that name made safe. The same name always lands in the same place, so uploading
`notes.txt` again replaces the stored copy and updates its document; two different names never
share a folder, even when they are made safe alike (`plan+A.txt` and `plan&A.txt` are both
stored as `plan_A.txt`, each in its own folder: one used to replace the other), so deleting one
upload removes its file and its own folder and nothing else. `<uploads>` is
`settings.upload_dir`, by default `<index>/uploads`.

Earlier versions of the app kept uploads flat, as `<uploads>/<name>`; `migrate` moves those into
the layout (and re-points their documents) the first time the app or server opens the index.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .config import Settings
from .errors import IndexLockedError
from .store import DocumentInfo, Store

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r"[^\w.\- ()]+")
# Folder and file names are limited to 255 bytes on common file systems; the temporary name of a
# file being written is short and does not contain the name, so any stored name fits.
MAX_NAME_BYTES = 200
_PART = ".part-"


def safe_name(filename: str) -> str:
    """The name an upload is stored under: the file name alone (no folders, no `..`), with
    characters outside letters, digits, `._- ()` replaced, at most 200 bytes (suffix kept)."""
    name = _UNSAFE.sub("_", Path(filename.replace("\\", "/")).name).strip(" .")
    name = name or "upload"
    if len(name.encode()) > MAX_NAME_BYTES:
        suffix = Path(name).suffix
        if len(suffix.encode()) > 16:
            suffix = ""
        stem = name[: len(name) - len(suffix)] if suffix else name
        budget = MAX_NAME_BYTES - len(suffix.encode())
        stem = stem.encode()[:budget].decode(errors="ignore").rstrip(" .")
        name = (stem or "upload") + suffix
    return name


def upload_name(filename: str) -> str:
    """The name a file was uploaded with, without its folders (what `Uploads.store` keys by)."""
    return Path(filename.replace("\\", "/")).name or safe_name(filename)


def distinct_names(filenames: Iterable[str]) -> list[str]:
    """The names to store the files of one upload under (`Uploads.store`): each file's own
    name, except that one whose safe name repeats another's (two folders' `notes.txt`)
    becomes `notes (2).txt`, so both are kept."""
    taken: set[str] = set()
    out = []
    for filename in filenames:
        name = upload_name(filename)
        if safe_name(name) in taken:
            stem, suffix = Path(name).stem, Path(name).suffix
            n = 2
            while safe_name(f"{stem} ({n}){suffix}") in taken:
                n += 1
            name = f"{stem} ({n}){suffix}"
        taken.add(safe_name(name))
        out.append(name)
    return out


def _key(name: str) -> str:
    # surrogateescape: a name's undecodable bytes (a Latin-1 "café") hash as they are.
    return hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:12]


_KEY = re.compile(r"[0-9a-f]{12}")


@dataclass
class Batch:
    """Files stored for one upload; `rollback` restores what they replaced if indexing fails."""

    paths: list[Path] = field(default_factory=list)
    _backups: dict[Path, Path | None] = field(default_factory=dict)

    def commit(self) -> None:
        """Indexing went through: the replaced copies are no longer needed."""
        for backup in self._backups.values():
            if backup is not None:
                backup.unlink(missing_ok=True)
        self._backups.clear()

    def rollback(self, sources: Iterable[str | Path] | None = None) -> None:
        """Indexing failed (for all files, or for `sources`, the ones it skipped): new files go,
        replaced files come back, so no stored copy is left that the index does not hold."""
        wanted = None if sources is None else {Path(s).resolve() for s in sources}
        for path in list(self._backups):
            if wanted is not None and path.resolve() not in wanted:
                continue
            backup = self._backups.pop(path)
            if backup is None:
                path.unlink(missing_ok=True)
                _rmdir_quietly(path.parent)
            else:
                os.replace(backup, path)
            if path in self.paths:
                self.paths.remove(path)


class Uploads:
    """The folder where uploaded files are kept for one index."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    @classmethod
    def of(cls, settings: Settings) -> Uploads:
        return cls(settings.upload_dir or settings.index / "uploads")

    def path_for(self, name: str) -> Path:
        """Where the upload `name` (as uploaded; its folders dropped) is kept: a folder keyed by
        that name, holding it made safe. A name that is safe already keys as it always did."""
        raw = upload_name(name)
        return self.root / _key(raw) / safe_name(raw)

    def store(self, name: str, data: BinaryIO, batch: Batch | None = None) -> Path:
        """Write `data` as the upload `name` (replacing an earlier upload of that name) and
        return its path. The file appears whole or not at all."""
        target = self.path_for(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f"{_PART}{uuid.uuid4().hex[:16]}")
        try:
            with tmp.open("wb") as out:
                shutil.copyfileobj(data, out)
                out.flush()
                os.fsync(out.fileno())
            if batch is not None and target not in batch._backups:
                backup = None
                if target.exists():
                    backup = target.with_name(f"{_PART}{uuid.uuid4().hex[:16]}.prev")
                    os.link(target, backup)
                batch._backups[target] = backup
                batch.paths.append(target)
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
        return target

    def store_file(self, name: str, src: Path, batch: Batch | None = None) -> Path:
        with Path(src).open("rb") as f:
            return self.store(name, f, batch)

    def owns(self, source: str | Path) -> bool:
        """Whether `source` is a copy kept in this upload folder (and so ours to delete)."""
        try:
            self._relative(source)
        except ValueError:
            return False
        return True

    def delete(self, source: str | Path) -> bool:
        """Delete the stored copy of an upload: that file, and its own folder once empty.
        A path outside the upload folder (a user's own file that was ingested) is never touched."""
        try:
            rel = self._relative(source)
        except ValueError:
            return False
        path = self.root / rel
        if not path.is_file():
            return False
        path.unlink()
        if len(rel.parts) == 2 and _KEY.fullmatch(rel.parts[0]):
            _rmdir_quietly(path.parent)  # only if empty: never a shared parent
        return True

    def migrate(self, store: Store) -> int:
        """Move uploads kept flat by earlier app versions (`<uploads>/<name>`) into the layout
        and re-point their documents; returns how many moved. Safe to interrupt and run again:
        the new copy is linked before the index changes, the old one removed after."""
        if not self.root.is_dir():
            return 0
        flat = sorted(
            p for p in self.root.iterdir() if p.is_file() and not p.name.startswith(_PART)
        )
        if not flat:
            return 0
        by_source = {d.source: d for d in store.documents()}
        moved = 0
        try:
            with store.writing():
                for old in flat:
                    moved += self._migrate_one(store, old, by_source.get(str(old)))
        except IndexLockedError:
            log.info("uploads in the old layout not moved yet: the index is being written")
        return moved

    def _migrate_one(self, store: Store, old: Path, doc: DocumentInfo | None) -> int:
        name = safe_name(old.name)
        new = self.path_for(name)
        n = 2
        while new.exists() and not _same_bytes(new, old):
            new = self.path_for(f"{Path(name).stem} ({n}){Path(name).suffix}")
            n += 1
        if not new.exists():
            new.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(old, new)
            except OSError:
                shutil.copy2(old, new)
        if doc is not None:
            store.move_document(str(old), str(new))
        old.unlink()
        log.info("moved upload %s to %s", old, new)
        return 1

    def _relative(self, source: str | Path) -> Path:
        p = Path(source)
        p = p.parent.resolve() / p.name  # sources are stored resolved; the file itself may be gone
        rel = p.relative_to(self.root)  # ValueError when outside
        if not rel.parts or ".." in rel.parts:
            raise ValueError(source)
        return rel


def _same_bytes(a: Path, b: Path) -> bool:
    if a.stat().st_size != b.stat().st_size:
        return False
    return a.read_bytes() == b.read_bytes()


def _rmdir_quietly(folder: Path) -> None:
    with contextlib.suppress(OSError):  # not empty (or already gone): leave it
        folder.rmdir()
