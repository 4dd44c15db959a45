"""The Documents tab's work: the user guide indexed on a first start, and uploads stored (by
rag.uploads), indexed, listed and removed."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..api import RagIndex
from ..errors import DocumentNotFoundError, RagError
from ..uploads import Batch, Uploads, distinct_names
from .render import md

log = logging.getLogger("rag.ui")
SAMPLE_DOCS = Path(__file__).resolve().parent.parent.parent / "docs"


def ensure_sample_corpus(
    index: RagIndex,
    folder: Path = SAMPLE_DOCS,
    on_progress: Callable[[int, int, str], None] | None = None,
) -> str | None:
    """Index the user guide when the index is empty, so a new user has something real to ask.
    Progress goes to the console, and to `on_progress(done, total, path)` (the page's banner)."""
    if index.store.counts()["documents"] or not folder.is_dir():
        return None
    from tqdm import tqdm

    bar = tqdm(unit="file", desc=f"indexing the user guide ({folder})")

    def progress(done: int, total: int, path: str) -> None:
        bar.total = total
        bar.update(1)
        if on_progress is not None:
            on_progress(done, total, path)

    report = index.ingest([folder], progress=progress)
    bar.close()
    return report.summary()


class Preparing:
    """The app's start, in the background while the page is already open: an empty index gets
    the user guide (progress in the page's banner and the console), then the embedding model is
    loaded so the first question is answered quickly."""

    def __init__(self, index: RagIndex, folder: Path = SAMPLE_DOCS) -> None:
        self.index = index
        self.folder = folder
        self.indexing = not index.store.counts()["documents"] and folder.is_dir()
        self.done = 0
        self.total = 0
        self.current = ""
        self.summary: str | None = None
        self.error: str | None = None
        self.finished = threading.Event()

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="rag-prepare", daemon=True)
        thread.start()
        return thread

    def run(self) -> None:
        try:
            if self.indexing:
                self.summary = ensure_sample_corpus(self.index, self.folder, self._progress)
                if self.summary:
                    print(f"indexed the user guide: {self.summary}")
            warm_up(self.index)
        except Exception as exc:  # shown in the banner; the app stays usable
            log.exception("preparing the app failed")
            self.error = str(exc) or type(exc).__name__
        finally:
            self.finished.set()

    def _progress(self, done: int, total: int, path: str) -> None:
        self.done, self.total, self.current = done, total, Path(path).name

    def banner(self) -> str:
        if self.finished.is_set():
            if self.error:
                return f"**Could not prepare the index:** {md(self.error)}"
            if self.summary:
                return (
                    f"The user guide is indexed ({md(self.summary)}): ask it anything, or add "
                    "your own documents under Documents."
                )
            return ""
        if self.indexing:
            lead = "Indexing the user guide so there is something to ask:"
            if self.total and self.done >= self.total:  # read; the embeddings come last
                return f"{lead} all **{self.total}** files read, computing their embeddings…"
            total = self.total or "?"
            current = f" ({md(self.current)})" if self.current else ""
            return f"{lead} **{self.done}/{total}** files read{current}…"
        return "Loading the embedding model…"


def warm_up(index: RagIndex) -> None:
    """Load the embedding model and the index's search structures before the first question,
    so that it does not wait for the model to load."""
    t0 = time.perf_counter()
    try:
        index.ask("What is this about?", 1)
    except RagError as exc:  # the app still opens; the chat shows the error when asked
        print(f"warming up failed: {exc}")
        return
    print(f"ready in {time.perf_counter() - t0:.1f} s (embedding model loaded)")


class DocumentsTab:
    """Upload, list and remove: each method returns what the tab shows (a status line in
    Markdown, the table rows, the choices of the remove list)."""

    def __init__(self, index: RagIndex) -> None:
        self.index = index
        self.uploads = Uploads.of(index.settings)
        # Uploads kept flat by earlier versions move into the one layout (and their documents).
        self.uploads.migrate(index.store)

    def rows(self) -> list[list[Any]]:
        return [
            [
                Path(d.source).name,
                d.file_type + (f" ({d.ocr_summary()})" if d.ocr_pages else ""),
                d.n_chunks,
                time.strftime("%Y-%m-%d %H:%M", time.localtime(d.updated_at)),
                d.id,
                d.source,
            ]
            for d in self.index.documents()
        ]

    def choices(self) -> list[tuple[str, str]]:
        return [(f"{Path(d.source).name} ({d.id})", d.id) for d in self.index.documents()]

    def upload(
        self,
        files: list[Path],
        progress: Callable[[int, int, str], None] | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> str:
        """Store the files (two of one name are both kept), index them, and say what happened;
        a file that could not be indexed is not kept. `progress(done, steps, description)`."""
        if not files:
            return "Drop files above to index them."
        skipped: list[str] = []
        batch = Batch()
        for src, name in zip(files, distinct_names(f.name for f in files), strict=True):
            try:
                self.uploads.store_file(name, src, batch)
            except OSError as exc:
                skipped.append(
                    f"{src.name}: could not be stored in {self.uploads.root}: {exc.strerror}"
                )

        def on_skip(source: str, reason: str) -> None:
            skipped.append(f"{Path(source).name}: {reason}")
            if warn is not None:
                warn(f"{Path(source).name} was not indexed: {reason}")

        # One step per file read, and a last one for the embeddings (computed after reading).
        steps = len(batch.paths) + 1
        if progress is not None:
            progress(0, steps, "reading")

        def step(done: int, total: int, path: str) -> None:
            if progress is not None:
                desc = f"read {Path(path).name}" if done < total else "computing embeddings"
                progress(done, steps, desc)

        def embedding(done: int, total: int) -> None:
            if progress is not None:
                progress(steps - 1, steps, f"computing embeddings: {done:,} of {total:,} chunks")

        try:
            report = self.index.ingest(
                batch.paths,
                progress=step,
                on_skip=on_skip,
                emptied_removes=False,
                on_embed=embedding,
            )
        except RagError as exc:
            batch.rollback()
            return f"**Indexing failed:** {md(str(exc))}"
        except Exception as exc:  # a message in the page, never a traceback; the log has it
            batch.rollback()
            log.exception("indexing an upload failed")
            return f"**Indexing failed:** {md(str(exc) or type(exc).__name__)}"
        batch.rollback(s for s, _ in report.skipped)  # no stored copy the index does not hold
        batch.commit()
        lines = [f"**Indexed:** {md(report.summary())}"]
        for s, r in report.skipped:
            line = f"{Path(s).name}: {r}"
            if line not in skipped:
                skipped.append(line)
        lines += [f"- ✗ not indexed: {md(line)}" for line in skipped]
        return "\n".join(lines)

    def remove(self, doc_id: str | None) -> str:
        if not doc_id:
            return "Choose a document to remove."
        try:
            removed = self.index.remove([doc_id])
        except DocumentNotFoundError:  # removed meanwhile (another tab, `rag remove`)
            return (
                "**Already removed** (in another tab or with `rag remove`); the list is read anew."
            )
        except RagError as exc:
            return f"**Not removed:** {md(str(exc))}"
        for d in removed:
            self.uploads.delete(d.source)  # our own copy of an upload; a user's own file is kept
        names = ", ".join(Path(d.source).name for d in removed)
        return f"**Removed** {md(names)} from the index."
