"""The manifest: what an index was built with, checked every time it is opened."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IndexFormatError, IndexMismatchError

FORMAT_NAME = "rag-index"
FORMAT_VERSION = 1


@dataclass
class Manifest:
    embedding: dict[str, Any]  # name, fingerprint, dim, max_tokens, normalized
    chunking: dict[str, Any]  # chunk_tokens, chunk_overlap, splitter
    format: str = FORMAT_NAME
    format_version: int = FORMAT_VERSION
    created_at: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # Which store holds the index (RAG_STORE); indexes from before it was recorded are local.
    store: str = "local"

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text: str, where: str) -> Manifest:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise IndexFormatError(f"{where}: manifest is not valid JSON ({exc})") from exc
        if data.get("format") != FORMAT_NAME:
            raise IndexFormatError(f"{where}: not a rag index (format {data.get('format')!r})")
        if data.get("format_version") != FORMAT_VERSION:
            raise IndexFormatError(
                f"{where}: index format version {data.get('format_version')} is not supported "
                f"by this rag (version {FORMAT_VERSION}); re-ingest your files into a new --index"
            )
        known = {
            "embedding",
            "chunking",
            "format",
            "format_version",
            "created_at",
            "extra",
            "store",
        }
        return cls(**{k: v for k, v in data.items() if k in known})

    def check_store(self, store: str, where: str) -> None:
        """Refuse to open an index through another store than the one that built it."""
        if self.store != store:
            raise IndexMismatchError(
                f"the index at {where} is a {self.store} index (RAG_STORE={self.store}), but the "
                f"settings ask for the {store} store: set RAG_STORE={self.store} to use it, or "
                f"ingest your files into a new folder with --index NEW_DIR and RAG_STORE={store}."
            )

    def check_compatible(self, embedding: dict[str, Any], splitter: str | None, where: str) -> None:
        """Refuse to mix vectors of two models in one index (or to search vectors of one with
        queries embedded by another), and an index cut by another version of the splitter.
        Other chunk sizes are refused by an ingest only (`check_chunking`)."""
        mine, theirs = self.embedding, embedding
        # Indexes from before precisions were recorded hold fp32 vectors.
        built, asked = mine.get("precision", "fp32"), theirs.get("precision", "fp32")
        if built != asked:
            raise IndexMismatchError(
                f"the index at {where} holds {built} vectors of {mine.get('name')}, but the "
                f"settings ask for {asked} ones, which differ from them: set "
                f"RAG_EMBED_PRECISION={built} to use it, or rebuild: ingest your files into a new "
                f"folder with --index NEW_DIR (or delete {where} and ingest again)."
            )
        # int8 indexes from before the weight form was recorded were made with VNNI (u8 x s8).
        if built == "int8" and mine.get("int8_weights", "u8s8") != theirs.get("int8_weights"):
            raise IndexMismatchError(
                f"the index at {where} holds int8 vectors made with "
                f"{_FORMS[mine.get('int8_weights', 'u8s8')]}, but this CPU makes them with "
                f"{_FORMS.get(theirs.get('int8_weights', ''), 'another form')}, and the two "
                f"differ: use it on a CPU like the one that built it, set RAG_EMBED_PRECISION="
                f"fp32 and ingest into a new folder with --index NEW_DIR (vectors that are the "
                f"same on every CPU), or rebuild it here (delete {where} and ingest again)."
            )
        if mine.get("fingerprint") != theirs.get("fingerprint") or mine.get("dim") != theirs.get(
            "dim"
        ):
            raise IndexMismatchError(
                f"the index at {where} was built with the embedding model "
                f"{mine.get('name')} (fingerprint {mine.get('fingerprint')}, dim {mine.get('dim')}),"
                f" but the configured model is {theirs.get('name')} (fingerprint "
                f"{theirs.get('fingerprint')}, dim {theirs.get('dim')}). Use the model it was built "
                f"with (RAG_MODEL_PATH), or rebuild: ingest your files into a new folder with "
                f"--index NEW_DIR (or delete {where} and ingest again)."
            )
        if self.chunking.get("splitter") != splitter:
            # v1 left parts of long runs in no chunk, and unchanged files are never cut again:
            # an index cut by an older splitter keeps its faults until it is rebuilt.
            raise IndexMismatchError(
                f"the index at {where} was chunked by splitter {self.chunking.get('splitter')}, "
                f"this version of rag uses {splitter}; rebuild: ingest into a new folder with "
                f"--index NEW_DIR (or delete {where} and ingest again)."
            )

    def check_chunking(self, chunking: dict[str, Any], where: str) -> None:
        """Refuse to add chunks cut another way than the index's (asked before an ingest only:
        searching, asking and removing read the chunks as they are)."""
        rebuild = (
            f"ingest into a new folder with --index NEW_DIR (or delete {where} and ingest again)"
        )
        for key in ("chunk_tokens", "chunk_overlap"):
            if self.chunking.get(key) != chunking.get(key):
                raise IndexMismatchError(
                    f"the index at {where} was chunked with {key}={self.chunking.get(key)}, but "
                    f"the settings say {key}={chunking.get(key)}. Set RAG_{key.upper()}="
                    f"{self.chunking.get(key)} to use it, or rebuild: {rebuild}."
                )


def _file_mode() -> int:
    """The mode a plain new file gets here (0o666 less the umask), read once at import."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


FILE_MODE = _file_mode()


def atomic_write(path: Path, data: bytes) -> None:
    """Write a file so that readers see the old content or the new, never a part. It gets the
    mode any new file gets (mkstemp's 0600 would hide it from a reader the SQLite file lets in)."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_FORMS = {
    "u8s8": "signed weights (u8 x s8, a CPU with VNNI)",
    "u8u8": "unsigned weights (u8 x u8, a CPU without VNNI)",
}
