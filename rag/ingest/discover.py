"""Finding the files to ingest: folders walked, hidden entries skipped, and the paths that
cannot be read as named (a missing path, a symlink loop, a name that is not UTF-8)."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from pathlib import Path

from .loaders import SUPPORTED_SUFFIXES


def discover(
    paths: Iterable[Path],
) -> tuple[list[Path], list[Path], int, list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Files to ingest (folders walked, hidden entries skipped, linked folders followed), paths
    that are missing, the number of files in the folders whose type rag does not read, paths
    that cannot be followed (a symlink loop), each with its reason, and notes: a link in a
    folder to a file or folder outside it, whose files are indexed under the link's target
    (the index keeps one path per file, the real one)."""
    files: dict[Path, None] = {}
    missing: list[Path] = []
    broken: list[tuple[Path, str]] = []
    notes: list[tuple[Path, str]] = []
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
            top = p.resolve()
            # Linked folders are followed, each real folder once: a link back up (a loop) or
            # to a folder already walked is said, not walked again.
            seen = {top}
            for root, dirs, names in os.walk(p, followlinks=True):
                keep = []
                here = Path(root).resolve()
                for d in sorted(d for d in dirs if not d.startswith(".")):
                    sub = Path(root) / d
                    if sub.is_symlink():
                        real = sub.resolve()
                        if here.is_relative_to(real) or real in seen:  # back up, or again
                            broken.append((sub, _LOOP if here.is_relative_to(real) else _TWICE))
                            continue
                        seen.add(real)
                        if not real.is_relative_to(top):
                            notes.append((sub, _outside(real)))
                    keep.append(d)
                dirs[:] = keep
                for name in sorted(names):
                    if name.startswith((".", "~$")):  # hidden, or Office's lock file
                        continue
                    f = Path(root) / name
                    if f.suffix.lower() in SUPPORTED_SUFFIXES:
                        if f.is_symlink() and f.exists() and not f.resolve().is_relative_to(top):
                            notes.append((f, _outside(f.resolve())))
                        add(f)
                    else:
                        ignored += 1
        else:  # a file named on purpose: an unsupported type is reported, not ignored
            add(p)
    return list(files), missing, ignored, broken, notes


def _outside(real: Path) -> str:
    return (
        f"a link to {real}, outside this folder: indexed under that path (remove it by that "
        "path; pruning this folder does not see it)"
    )


_TWICE = "a link to a folder already read in this ingest: not read twice"
_LOOP = "symbolic link loop (the link points back to itself or to a folder above it): fix or delete the link"
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
