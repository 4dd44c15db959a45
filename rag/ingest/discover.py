"""Finding the files to ingest: folders walked, hidden entries skipped, and the paths that
cannot be read as named (a missing path, a symlink loop, a name that is not UTF-8)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

from .loaders import SUPPORTED_SUFFIXES


def discover(paths: Iterable[Path]) -> tuple[list[Path], list[Path], int, list[tuple[Path, str]]]:
    """Files to ingest (folders walked, hidden entries skipped), paths that are missing, the
    number of files in the folders whose type rag does not read, and paths that cannot be
    followed (a symlink loop), each with its reason."""
    files: dict[Path, None] = {}
    missing: list[Path] = []
    broken: list[tuple[Path, str]] = []
    ignored = 0

    def add(f: Path) -> None:
        try:
            resolved = f.resolve(strict=True)
            if not _utf8(str(resolved)):
                # A Latin-1 archive's "café.txt": the index stores paths as text, and such a
                # name was an encoding error that stopped the whole batch.
                broken.append((f, _NOT_UTF8))
                return
            files[resolved] = None
        except RuntimeError:  # Python 3.11's resolve() on a loop
            broken.append((f, _LOOP))
        except OSError as e:  # ELOOP, or a dangling link
            broken.append((f, _LOOP if e.errno == errno.ELOOP else "path does not exist"))

    for p in paths:
        p = Path(p).expanduser()
        if p.is_symlink() and not p.exists():  # exists() says False for a loop, too
            add(p)
        elif not p.exists():
            missing.append(p)
        elif p.is_dir():
            for root, dirs, names in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in sorted(names):
                    if name.startswith("."):
                        continue
                    f = Path(root) / name
                    if f.suffix.lower() in SUPPORTED_SUFFIXES:
                        add(f)
                    else:
                        ignored += 1
        else:  # a file named on purpose: an unsupported type is reported, not ignored
            add(p)
    return list(files), missing, ignored, broken


_LOOP = "symbolic link loop (the link points back to itself): fix or delete the link"
_NOT_UTF8 = "its name is not valid UTF-8 (an older encoding, such as Latin-1): rename the file"


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # the undecodable bytes of a name, as surrogate escapes
        return False
    return True


def printable(name: str) -> str:
    """A path whose bytes are not UTF-8, printable: each such byte as U+FFFD."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
