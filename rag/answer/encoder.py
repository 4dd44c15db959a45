"""The answer encoder: the packaged all-MiniLM-L6-v2 with its six transformer layers fine-tuned
to find the sentence that answers a question (rag/answer/train_encoder.py), run from ONNX.

The repository ships only the tuned layers, as float16 safetensors (about 21 MB); the word
embeddings and the tokenizer are the packaged model's. On first use they are put together into
a sentence-transformers folder in `cache_dir/answer-encoder/<sha256 of the layers>/`, which the
ONNX path then exports and checks against PyTorch like any local model (rag/onnx_embed.py); after
that no process imports PyTorch for it. The answer model file names the layers and their SHA-256
(model.py), so a model is never run with similarities from an encoder it was not trained with.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from ..embeddings import Embedder, fingerprint_folder, packaged_model_path
from ..errors import ConfigError
from ..onnx_embed import OnnxEmbedder, _locked, file_sha256

if TYPE_CHECKING:
    from .model import AnswerModel

ENCODER_FORMAT = "rag-answer-encoder-v1"
_DONE = "assembled.json"


def answer_encoder(layers: Path, sha256: str, cache_dir: Path) -> Embedder:
    """The encoder whose tuned layers are at `layers` (checked against `sha256`), from ONNX;
    one per process and file. The ONNX session loads on the first text embedded."""
    return _encoder(str(Path(layers).resolve()), sha256, str(Path(cache_dir).expanduser()))


@lru_cache(maxsize=4)
def _encoder(layers: str, sha256: str, cache_dir: str) -> Embedder:
    folder = assemble(Path(layers), sha256, Path(cache_dir))
    return OnnxEmbedder(folder, cache_dir=Path(cache_dir), fallback=True)


def assemble(layers: Path, sha256: str, cache_dir: Path) -> Path:
    """The sentence-transformers folder of the packaged model with `layers` in place of its own
    (built once, under a lock, and moved into place whole)."""
    folder = Path(cache_dir) / "answer-encoder" / sha256[:16]
    if (folder / _DONE).is_file():
        return folder
    if not layers.is_file():
        raise ConfigError(
            f"the answer encoder {layers} is missing: restore it from the repository, or train "
            "it (python -m rag.answer.train_encoder) and the answer model with it"
        )
    actual = file_sha256(layers)
    if actual != sha256:
        raise ConfigError(
            f"the answer encoder {layers} is not the one the answer model was trained with "
            f"(SHA-256 {actual[:16]}, expected {sha256[:16]}): restore it, or retrain the model"
        )
    folder.parent.mkdir(parents=True, exist_ok=True)
    with _locked(folder.parent / ".lock"):
        if (folder / _DONE).is_file():
            return folder
        base = packaged_model_path()
        with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
            out = Path(tmp) / "model"
            shutil.copytree(base, out, ignore=shutil.ignore_patterns("model.safetensors", "*.md"))
            record = _merge(base / "model.safetensors", layers, out / "model.safetensors")
            (out / _DONE).write_text(json.dumps(record, indent=1))
            if folder.exists():  # an incomplete folder left by a killed process
                shutil.rmtree(folder)
            os.replace(out, folder)
    return folder


def _merge(base: Path, layers: Path, out: Path) -> dict[str, object]:
    import numpy as np
    from safetensors import safe_open
    from safetensors.numpy import load_file, save_file

    with safe_open(str(layers), "np") as f:
        meta = f.metadata() or {}
    if meta.get("format") != ENCODER_FORMAT:
        raise ConfigError(f"{layers} is not a {ENCODER_FORMAT} file")
    expected = meta.get("base")
    if expected and expected != fingerprint_folder(packaged_model_path()):
        raise ConfigError(
            f"{layers} was tuned from another all-MiniLM-L6-v2 package (fingerprint {expected}): "
            "retrain it (python -m rag.answer.train_encoder) on this one"
        )
    weights = load_file(str(base))
    tuned = load_file(str(layers))
    unknown = sorted(set(tuned) - set(weights))
    if unknown:
        raise ConfigError(f"{layers} holds weights the packaged model lacks: {unknown[:3]}")
    for name, value in tuned.items():
        if value.shape != weights[name].shape:
            raise ConfigError(
                f"{layers}: {name} has shape {value.shape}, not {weights[name].shape}"
            )
        weights[name] = value.astype(np.float32)
    save_file(weights, str(out))
    return {"format": ENCODER_FORMAT, "layers": str(layers), "tensors_replaced": len(tuned)}


def prepare_encoder(answer_model: Path | None, cache_dir: Path) -> None:
    """Assemble and export the answer model's encoder now if this machine has not yet: once per
    machine and model (15-20 s on 2 cores, PyTorch imported for the export), which would
    otherwise fall on the first question. `rag ingest` calls it; a cached graph costs a file
    read."""
    from .model import load_model

    encoder = encoder_of(load_model(answer_model), cache_dir)
    if isinstance(encoder, OnnxEmbedder):
        encoder.prepare()


def encoder_of(model: AnswerModel, cache_dir: Path | None = None) -> Embedder | None:
    """The answer model's own encoder, or None when it reads the retrieval embedder's
    similarities. `cache_dir`: where it is assembled and exported (default: the settings'
    cache_dir, from RAG_CACHE_DIR or rag.toml as the CLI reads them)."""
    if model.encoder is None:
        return None
    if cache_dir is None:
        from ..config import Settings

        cache_dir = Settings(**{}).cache_dir
    return answer_encoder(model.encoder, model.encoder_sha256, cache_dir)
