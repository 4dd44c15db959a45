"""Files derived from SQLite (FAISS vectors, keyword postings), named by the generation they
reflect: `<stem>-<generation><suffix>`. One file per kind is current; older ones are removed."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from .manifest import FILE_MODE, fsync_dir


def read_generation(conn: sqlite3.Connection) -> int:
    """The counter every committed write increases."""
    return int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])


def generation_file(folder: Path, stem: str, suffix: str, generation: int) -> Path:
    return folder / f"{stem}-{generation}{suffix}"


def write_generation_file(
    folder: Path, stem: str, suffix: str, generation: int, write: Callable[[BinaryIO], None]
) -> None:
    """Write the file for `generation` (if not there yet), then delete those of other ones.

    `write` streams the content into a temporary file, which is synced and renamed into place:
    the file is whole or absent, and no copy of it is held in memory (at 1,000,000 chunks the
    vectors' file is 400 MB and the keywords' 300 MB)."""
    target = generation_file(folder, stem, suffix, generation)
    for left in folder.glob(f".{stem}-*{suffix}.*.tmp"):  # a writer killed while writing
        left.unlink(missing_ok=True)
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.", suffix=".tmp")
        try:
            os.fchmod(fd, FILE_MODE)  # as readable as the SQLite file, not mkstemp's 0600
            with os.fdopen(fd, "wb") as f:
                write(f)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    for old in folder.glob(f"{stem}-*{suffix}"):
        if old != target:
            old.unlink(missing_ok=True)
    fsync_dir(folder)


def discard(file: Path) -> None:
    """Delete a derived file found damaged, so that the next flush writes it afresh (it was
    left in place, and every later process rebuilt it in memory); a read-only index keeps it."""
    with contextlib.suppress(OSError):
        file.unlink(missing_ok=True)
