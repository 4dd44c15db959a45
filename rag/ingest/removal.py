"""Which indexed documents a path names, and which are gone: `rag remove` and `--prune`."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import DocumentNotFoundError
from ..store import DocumentInfo, Store


def under(source: str, root: Path) -> bool:
    """Whether the path `source` is `root` or lies below it."""
    r = str(root)
    return source == r or source.startswith(r.rstrip(os.sep) + os.sep)


def indexed_under(store: Store, path: Path) -> bool:
    root = Path(os.path.abspath(path))
    return any(under(d.source, root) for d in store.documents())


def hidden_indexed(store: Store, paths: Sequence[Path], found: Sequence[Path]) -> list[Path]:
    """Indexed files in hidden entries under the folders of `paths` (a walk skips them; named
    on purpose, they were indexed): listed so that an edit to one is not left unseen."""
    roots = [Path(p).expanduser().resolve() for p in paths if Path(p).expanduser().is_dir()]
    seen = set(found)
    out = []
    for d in store.documents() if roots else []:
        src = Path(d.source)
        root = next((r for r in roots if under(d.source, r)), None)
        if root is None or src in seen or not src.is_file():
            continue
        if any(part.startswith(".") for part in src.relative_to(root).parts):
            out.append(src)
    return out


def vanished(store: Store, paths: Sequence[Path]) -> list[DocumentInfo]:
    """Indexed documents under `paths` whose files are gone."""
    roots = [Path(os.path.abspath(Path(p).expanduser())) for p in paths]
    resolved = [r.resolve() if r.exists() else r for r in roots]
    return [
        d
        for d in store.documents()
        # not a file any more: deleted, a dangling link, or a folder of the same name now
        if any(under(d.source, r) for r in {*roots, *resolved}) and not Path(d.source).is_file()
    ]


def remove_documents(store: Store, targets: Sequence[str]) -> list[DocumentInfo]:
    """Remove documents named by id, by file path, or by a folder they are under; all at once."""
    docs = store.documents()
    chosen: dict[str, DocumentInfo] = {}
    for t in targets:
        root = Path(os.path.abspath(Path(t).expanduser()))
        roots = {root, root.resolve()}
        found = [d for d in docs if d.id == t or any(under(d.source, r) for r in roots)]
        if not found:
            raise DocumentNotFoundError(
                f"no indexed document matches {t!r}: `rag documents` lists ids and paths"
            )
        chosen.update((d.id, d) for d in found)
    with store.writing():
        store.remove(list(chosen))
    return list(chosen.values())
