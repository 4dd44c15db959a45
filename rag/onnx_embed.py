"""The embedding model as an ONNX graph run by ONNX Runtime: no PyTorch on the query path.

Importing PyTorch and sentence-transformers costs about 11 s of CPU on a small machine, and the
model's Python glue holds the GIL between kernels. ONNX Runtime and `tokenizers` load in a fraction
of a second. The graph is exported once from the PyTorch model (rag/onnx_export.py), checked
against it, and cached in `cache_dir/onnx/<fingerprint>/`; a cache file whose size or SHA-256 does
not match its record is rebuilt, never trusted. fp32 vectors match PyTorch's within 1e-4, so an
fp32 ONNX embedder carries the PyTorch model's fingerprint and both can serve one index. An int8
graph gives other vectors: its fingerprint says so, and an index built with it refuses the others.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .embeddings import (
    LocalModelEmbedder,
    Rows,
    SentenceTransformerEmbedder,
    normalize,
)
from .errors import EmbeddingError

log = logging.getLogger(__name__)

# v2: the fp32 graph reads packed rows (position ids and a per-row attention mask) and returns
# each token's vector; pooling is done here, per text. int8 graphs read one text a row.
CACHE_FORMAT = "rag-onnx-v2"
PACKED_MASK = "attention_mask3d"
PRECISIONS = ("fp32", "int8")


def cpu_features() -> list[str]:
    """The SIMD levels this CPU reports that decide ONNX Runtime's kernels (read at run time)."""
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_int8")
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                flags = set(line.split(":", 1)[1].split())
                return [f for f in wanted if f in flags]
    except OSError:
        pass
    return []


def int8_form(features: Sequence[str] | None = None) -> str:
    """The int8 product this CPU runs exactly: u8 x s8 (signed weights) with VNNI; u8 x u8
    without, where ONNX Runtime's u8 x s8 saturates at 16 bits (BENCHMARKS.md: on AVX2 its
    vectors fell to cosine 0.974 of PyTorch's, below the export check's 0.98)."""
    f = set(cpu_features() if features is None else features)
    return "u8s8" if {"avx512_vnni", "avx_vnni", "amx_int8"} & f else "u8u8"


def int8_kernel(features: Sequence[str] | None = None) -> str:
    """Which integer GEMM family ONNX Runtime's MLAS picks for u8 x s8 on these features."""
    f = set(cpu_features() if features is None else features)
    if "amx_int8" in f:
        return "amx"
    if "avx512_vnni" in f:
        return "avx512-vnni"
    if "avx_vnni" in f:
        return "avx-vnni"
    if "avx512f" in f:
        return "avx512"
    return "avx2" if "avx2" in f else "sse"


class OnnxEmbedder(LocalModelEmbedder):
    """A sentence-transformers folder's model, run from its cached ONNX export.

    The export (which needs PyTorch) happens on first use when the cache lacks a valid file. With
    `fallback=True` a model that cannot be exported or fails the check is run by PyTorch instead
    (same vectors, same fingerprint); int8 never falls back, as PyTorch cannot give its vectors.
    """

    # A call costs ONNX Runtime little besides its tokens: tight, many calls win (BENCHMARKS.md,
    # "Embedding batches": 16 best of 0-128 on sentences and chunks, 8 to 256 per embed call).
    default_call_tokens = 16
    # An embed call of at most `pack_texts` texts (a server's batch, a query) puts short texts
    # side by side in rows of up to `pack_tokens` tokens: fewer, fuller rows and calls for a
    # random mix of lengths. Larger calls (ingest) sort their texts by length, where one text a
    # row measured cheaper. Measured in BENCHMARKS.md ("Packed rows").
    pack_texts = 32
    pack_tokens = 64

    def __init__(
        self,
        path: Path | None = None,
        *,
        cache_dir: Path,
        precision: str = "fp32",
        threads: int | None = None,
        fallback: bool = False,
        batch_size: int = 64,
        batch_tokens: int = 2048,
        call_tokens: int | None = None,
        pack_texts: int | None = None,
    ):
        super().__init__(path, batch_size, batch_tokens, call_tokens)
        if pack_texts is not None:
            self.pack_texts = pack_texts
        if precision not in PRECISIONS:
            raise EmbeddingError(f"unknown embedding precision {precision!r}: use fp32 or int8")
        self.precision = precision
        self.cache_dir = Path(cache_dir)
        self.threads = threads
        self.fallback = fallback and precision == "fp32"
        self._session: Any = None
        self._torch: SentenceTransformerEmbedder | None = None
        self._input_names: list[str] = []
        self._run_lock = threading.Lock()

    @classmethod
    def of_graph(cls, graph: Path, path: Path | None = None, threads: int | None = None) -> Any:
        """An embedder running this graph file as it is (to check or measure a graph before it
        is cached; its fingerprint says nothing of the graph)."""
        emb = cls(path, cache_dir=graph.parent, threads=threads)
        emb._session = _open_session(graph, threads)
        emb._input_names = [i.name for i in emb._session.get_inputs()]
        return emb

    @property
    def variant(self) -> str:
        """'fp32', or 'int8' with the weight form this CPU runs ('int8' with VNNI, as every
        int8 index was before the form was named; 'int8-u8u8' without: rag.onnx_export)."""
        if self.precision == "fp32":
            return "fp32"
        return "int8" if int8_form() == "u8s8" else "int8-u8u8"

    @property
    def fingerprint(self) -> str:
        # int8 vectors depend on the weight form (the two differ like int8 and fp32 do), so an
        # int8 index made on a VNNI CPU and opened on one without is refused, not mixed.
        base = super().fingerprint
        return base if self.precision == "fp32" else f"{base}-{self.variant}"

    def describe(self) -> dict[str, Any]:
        form = {"int8_weights": int8_form()} if self.precision == "int8" else {}
        return {**super().describe(), "precision": self.precision, **form}

    @property
    def backend(self) -> str:
        """'onnx' or 'torch' (after a fallback); loads the model."""
        self._load()
        return "torch" if self._torch is not None else "onnx"

    def model_file(self) -> Path:
        return cache_folder(self.cache_dir, super().fingerprint) / f"model-{self.variant}.onnx"

    def prepare(self) -> None:
        """Export and check the cached graph now if it is missing (a model's first use on this
        machine), without opening a session; nearly free when it is cached. A failed export
        with `fallback` is left for the first use to fall back on, as it would anyway."""
        try:
            ensure_model(self.path, self.model_file(), self.precision)
        except EmbeddingError:
            if not self.fallback:
                raise

    def _load(self) -> None:
        with self._lock:
            if self._session is not None or self._torch is not None:
                return
            try:
                file = ensure_model(self.path, self.model_file(), self.precision)
                self._session = _open_session(file, self.threads)
            except EmbeddingError as exc:
                if not self.fallback:
                    raise
                log.warning("ONNX embedding unavailable, using PyTorch: %s", exc)
                self._torch = SentenceTransformerEmbedder(self.path)
                return
            self._input_names = [i.name for i in self._session.get_inputs()]

    @property
    def _model_tokenizer(self) -> Any:
        """A second tokenizer that truncates as sentence-transformers does (padding is done
        here, per model call: `_feeds`)."""
        tok = getattr(self, "_mtok", None)
        if tok is None:
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(self.path / "tokenizer.json"))
            tok.enable_truncation(max_length=self.max_tokens + 2)
            tok.no_padding()
            pad_id = tok.token_to_id("[PAD]")
            self._pad_id = 0 if pad_id is None else pad_id
            self._mtok = tok
        return tok

    def _ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids as the model reads them ([CLS] ... [SEP], truncated)."""
        tok = self._model_tokenizer
        encs = [tok.encode(texts[0])] if len(texts) == 1 else tok.encode_batch(list(texts))
        return [e.ids for e in encs]

    @property
    def _packs(self) -> bool:
        """Whether the loaded graph reads packed rows (every fp32 graph cached since rag-onnx-v2)."""
        return PACKED_MASK in self._input_names

    def _plan(self, width: Sequence[int]) -> list[Rows]:
        if len(width) > self.pack_texts or not self._packs:
            return super()._plan(width)
        return self._cut(pack_rows(width, self.pack_tokens), width)

    def _feeds(self, rows: Sequence[Sequence[list[int]]]) -> dict[str, np.ndarray]:
        """One call's inputs, each row padded on the right to the fullest row. A packed row's
        texts each restart their positions and see only their own tokens (a block-diagonal
        attention mask), so each comes out as it would alone."""
        width = max(sum(len(x) for x in row) for row in rows)
        shape = (len(rows), width)
        ids = np.full(shape, self._pad_id, dtype=np.int64)
        mask = np.zeros(shape, dtype=np.int64)
        feeds: dict[str, np.ndarray] = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self._input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        if not self._packs:
            for r, (x,) in enumerate(rows):
                ids[r, : len(x)] = x
                mask[r, : len(x)] = 1
            return feeds
        pos = np.zeros(shape, dtype=np.int64)
        block = np.zeros((*shape, width), dtype=np.int32)
        for r, row in enumerate(rows):
            at = 0
            for x in row:
                end = at + len(x)
                ids[r, at:end] = x
                mask[r, at:end] = 1
                pos[r, at:end] = np.arange(len(x))
                block[r, at:end, at:end] = 1
                at = end
        feeds["position_ids"], feeds[PACKED_MASK] = pos, block
        return feeds

    def _run(self, rows: Sequence[Sequence[list[int]]]) -> np.ndarray:
        """Vectors (not normalised) of the texts of one call, row by row; `rows` hold token ids,
        one text a row unless the graph packs."""
        if not self._packs and any(len(row) != 1 for row in rows):
            raise EmbeddingError("this ONNX graph reads one text a row; it cannot pack")
        feeds = self._feeds(rows)
        # ONNX Runtime sessions are thread-safe, but two calls at once only split the same cores.
        with self._run_lock:
            out = np.asarray(self._session.run(None, feeds)[0], dtype=np.float32)
        if not self._packs:
            return out
        # Mean pooling over each text's own tokens ([CLS] and [SEP] included, as the model's).
        vecs = []
        for r, row in enumerate(rows):
            at = 0
            for x in row:
                vecs.append(out[r, at : at + len(x)].mean(axis=0))
                at += len(x)
        return np.stack(vecs)

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self._load()
        if self._torch is not None:
            return self._torch._embed_batch(texts)
        return self._run([[x] for x in self._ids(texts)])

    def _prepare(self, texts: Sequence[str]) -> tuple[list[int], Callable[[Rows], np.ndarray]]:
        # Tokenized once: the ids that give each text's width are the ones the model reads
        # (counting first, then encoding each call, tokenized everything twice).
        self._load()
        if self._torch is not None:
            return super()._prepare(texts)
        ids = self._ids(texts)
        return [len(x) for x in ids], lambda rows: self._run([[ids[i] for i in r] for r in rows])

    def embed_query(self, text: str) -> np.ndarray:
        # One text needs no token count to be batched: straight to the model.
        return normalize(self._embed_batch([text]))[0]


def pack_rows(width: Sequence[int], capacity: int) -> Rows:
    """Texts (positions) of these widths in rows of at most `capacity` tokens, first fit, longest
    first; a text wider than that has a row of its own."""
    rows: Rows = []
    fill: list[int] = []
    for i in sorted(range(len(width)), key=lambda i: width[i], reverse=True):
        for r, used in enumerate(fill):
            if used + width[i] <= capacity:
                rows[r].append(i)
                fill[r] += width[i]
                break
        else:
            rows.append([i])
            fill.append(width[i])
    return rows


def cache_folder(cache_dir: Path, fingerprint: str) -> Path:
    return Path(cache_dir) / "onnx" / fingerprint


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(1 << 20):
            h.update(block)
    return h.hexdigest()


def read_record(model: Path) -> dict[str, Any] | None:
    """The record written beside a cached graph, if it still describes the file on disk.

    A file not written since its record (same size and modification time to the nanosecond, as
    git trusts its index) is not hashed again: that saves 60 ms of every cold start. Any write
    after the check, a partial one included, changes the time, and the file is hashed."""
    try:
        rec = json.loads(model.with_suffix(".json").read_text())
        import onnxruntime

        st = model.stat()
        if (
            rec.get("format") != CACHE_FORMAT
            or rec.get("onnxruntime") != onnxruntime.__version__
            or rec.get("size") != st.st_size
        ):
            return None
        if rec.get("mtime_ns") != st.st_mtime_ns and rec.get("sha256") != file_sha256(model):
            return None
        return dict(rec)
    except (OSError, ValueError, AttributeError):
        return None


def ensure_model(model_path: Path, file: Path, precision: str) -> Path:
    """The cached graph for this model and precision, exported and checked first if need be."""
    if read_record(file) is not None:
        return file
    file.parent.mkdir(parents=True, exist_ok=True)
    with _locked(file.parent / ".lock"):
        if read_record(file) is not None:  # another process built it while we waited
            return file
        from .onnx_export import build

        log.warning("exporting the embedding model to ONNX (%s), once: %s", precision, file)
        build(model_path, file.parent, precision)
    if read_record(file) is None:
        raise EmbeddingError(f"the ONNX export at {file} did not pass its checks")
    return file


@contextlib.contextmanager
def _locked(path: Path) -> Any:
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _open_session(file: Path, threads: int | None) -> Any:
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise EmbeddingError("onnxruntime is not installed: pip install onnxruntime") from exc
    opts = ort.SessionOptions()
    # The cached graph was optimised when it was exported; basic folding on load costs ~nothing,
    # the full pass again would cost start-up time for no gain.
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    opts.intra_op_num_threads = threads or len(os.sched_getaffinity(0))
    opts.inter_op_num_threads = 1
    if os.environ.get("OMP_WAIT_POLICY", "").upper() != "ACTIVE":
        # Threads that spin while waiting for work burn the time their partner needs when the
        # cores are shared (rag serve's processes, or anything else running). Measured on this
        # 2-core machine, cold `rag ask` x6 each: 1.72 s wall / 1.2 s CPU without spinning,
        # 2.25 s / 1.45 s with. OMP_WAIT_POLICY=ACTIVE turns spinning on, for dedicated cores.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(str(file), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise EmbeddingError(f"ONNX Runtime could not load {file}: {exc}") from exc
