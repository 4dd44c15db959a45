"""Files derived from SQLite (FAISS vectors, keyword postings), named by the generation they
reflect: `<stem>-<generation><suffix>`. One file per kind is current; older ones are removed."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from .manifest import atomic_write, fsync_dir


def read_generation(conn: sqlite3.Connection) -> int:
    """The counter every committed write increases."""
    return int(conn.execute("SELECT value FROM meta WHERE key='generation'").fetchone()[0])


def generation_file(folder: Path, stem: str, suffix: str, generation: int) -> Path:
    return folder / f"{stem}-{generation}{suffix}"


def write_generation_file(
    folder: Path, stem: str, suffix: str, generation: int, data: Callable[[], bytes]
) -> None:
    """Write the file for `generation` (if not there yet), then delete those of other ones."""
    target = generation_file(folder, stem, suffix, generation)
    if not target.exists():
        atomic_write(target, data())
    for old in folder.glob(f"{stem}-*{suffix}"):
        if old != target:
            old.unlink(missing_ok=True)
    fsync_dir(folder)
