"""Building the cached ONNX graphs from the PyTorch model, each checked against it before use.

Run once per model (and ONNX Runtime version), by whichever process first needs the graph; this
is the only part of the ONNX path that imports PyTorch. Steps: export with eager attention (its
pattern is the one ONNX Runtime's BERT fusions recognise: one Attention, SkipLayerNormalization
and BiasGelu node per layer), fuse, make the fp32 graph read packed rows (several short texts
side by side in one row, `_packed`), compare with PyTorch on fixed texts, then for int8 quantise
the fused graph's weights (dynamic int8: activations are quantised per batch at run time).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .errors import EmbeddingError

# Texts the export is checked on: short and long (past the 256-token truncation), empty,
# accented and CJK, repeated tokens; run as one padded batch and one by one.
CHECK_TEXTS = [
    "What did Austin say about the alliance?",
    "",
    "Naïve café owners in Zürich — and 東京の店主 — disagree.",
    "The secretary met his counterpart in Tokyo to discuss the alliance and the budget. " * 30,
    "x " * 40,
    "Dexamethasone reduces 28-day mortality in patients receiving invasive ventilation.",
]
# Largest difference from PyTorch allowed, per component of a normalised vector (fp32).
FP32_TOLERANCE = 1e-4
# int8 changes the vectors (that is its point); it must still be the same model.
INT8_MIN_COSINE = 0.98


def build(model_path: Path, folder: Path, precision: str) -> None:
    """Write `folder/model-<precision>.onnx` and its record. fp32 reads packed rows (`_packed`);
    int8 is quantised from the fused graph as exported, one text a row: its embedding node's
    quantised form takes no position ids."""
    from .onnx_embed import read_record

    folder.mkdir(parents=True, exist_ok=True)
    st = _load_torch_model(model_path)
    reference = st.encode(CHECK_TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    fp32 = folder / "model-fp32.onnx"
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        fused = Path(tmp) / "fused.onnx"
        _fused(st, fused)
        if read_record(fp32) is None:
            packed = Path(tmp) / "packed.onnx"
            try:
                _packed(fused, packed)
            except EmbeddingError as exc:  # another architecture: it runs, one text a row
                logging.getLogger(__name__).warning("%s; the graph reads one text a row", exc)
                packed = fused
            diff, cos = _check(packed, model_path, reference)
            if diff > FP32_TOLERANCE:
                raise EmbeddingError(
                    f"the ONNX export differs from PyTorch by {diff:.2e} (> {FP32_TOLERANCE})"
                )
            _commit(packed, fp32, "fp32", diff, cos)
        if precision == "int8":
            q = Path(tmp) / "int8.onnx"
            _quantize(fused, q)
            diff, cos = _check(q, model_path, reference)
            if cos < INT8_MIN_COSINE:
                raise EmbeddingError(
                    f"the int8 graph's vectors are too far from PyTorch's (cosine {cos:.4f})"
                )
            _commit(q, folder / _int8_file(), "int8", diff, cos)


def fused_graph(model_path: Path, out: Path) -> None:
    """The exported and fused graph, one text a row (what int8 is quantised from)."""
    _fused(_load_torch_model(model_path), out)


def _fused(st: Any, out: Path) -> None:
    raw = out.with_name("raw.onnx")
    _export(st, raw)
    _fuse(raw, out, st)
    raw.unlink()


def _load_torch_model(model_path: Path) -> Any:
    from .embeddings import _quiet_offline_hub

    _quiet_offline_hub()
    try:
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(
            str(model_path),
            device="cpu",
            local_files_only=True,
            model_kwargs={"attn_implementation": "eager"},
        )
    except Exception as exc:
        raise EmbeddingError(f"could not load the model at {model_path}: {exc}") from exc
    kinds = [type(m).__name__ for m in st]
    pooling = getattr(st[1], "pooling_mode", None) if len(st) > 1 else None
    if kinds[:2] != ["Transformer", "Pooling"] or pooling not in ("mean", ["mean"]):
        raise EmbeddingError(f"only mean-pooled transformers export to ONNX here, not {kinds}")
    if any(k not in ("Transformer", "Pooling", "Normalize") for k in kinds):
        raise EmbeddingError(f"modules after pooling do not export to ONNX here: {kinds}")
    return st


def _export(st: Any, out: Path) -> None:
    import torch

    class Pooled(torch.nn.Module):
        """The transformer and its mean pooling, so the graph returns one vector per text."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            h = self.model(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            m = attention_mask.unsqueeze(-1).to(h.dtype)
            return (h * m).sum(1) / m.sum(1).clamp(min=1e-9)

    wrapper = Pooled(st[0].auto_model).eval()
    ids = torch.ones(2, 16, dtype=torch.long)
    axes = {0: "batch", 1: "tokens"}
    try:
        with warnings.catch_warnings():
            # The tracer warns of shape-dependent branches; the check after export is what counts.
            warnings.simplefilter("ignore")
            torch.onnx.export(
                wrapper,
                (ids, ids, torch.zeros_like(ids)),
                str(out),
                input_names=["input_ids", "attention_mask", "token_type_ids"],
                output_names=["sentence_embedding"],
                dynamic_axes={
                    "input_ids": axes,
                    "attention_mask": axes,
                    "token_type_ids": axes,
                    "sentence_embedding": {0: "batch"},
                },
                opset_version=17,
                dynamo=False,
            )
    except Exception as exc:
        raise EmbeddingError(f"exporting the model to ONNX failed: {exc}") from exc


def _fuse(raw: Path, out: Path, st: Any) -> None:
    """ONNX Runtime's BERT fusions; measured 1.1x the unfused graph on this CPU (BENCHMARKS.md)."""
    from onnxruntime.transformers.optimizer import optimize_model

    cfg = st[0].auto_model.config
    model = optimize_model(
        str(raw),
        model_type="bert",
        num_heads=int(cfg.num_attention_heads),
        hidden_size=int(cfg.hidden_size),
        opt_level=0,
    )
    model.save_model_to_file(str(out))


def _packed(fused: Path, out: Path) -> None:
    """The fused graph made to read packed rows: several texts side by side in one row, each
    with its own positions (a `position_ids` input to the embedding node) and seeing only its
    own tokens (a per-row attention mask, `attention_mask3d`, to every Attention node), and to
    return each token's vector (mean pooling moves to rag.onnx_embed, per text)."""
    import onnx
    from onnx import TensorProto, helper

    from .onnx_embed import PACKED_MASK

    model = onnx.load(str(fused))
    g = model.graph
    embed = [n for n in g.node if n.op_type == "EmbedLayerNormalization"]
    attention = [n for n in g.node if n.op_type == "Attention"]
    # Pooling: sentence_embedding = ReduceSum(Mul(tokens, mask)) / count; `tokens` is wanted.
    made = {o: n for n in g.node for o in n.output}
    div = made.get(g.output[0].name)
    reduce = made.get(div.input[0]) if div is not None and div.op_type == "Div" else None
    mul = (
        made.get(reduce.input[0]) if reduce is not None and reduce.op_type == "ReduceSum" else None
    )
    if len(embed) != 1 or not attention or mul is None or mul.op_type != "Mul":
        raise EmbeddingError("the fused graph is not the BERT form that packs (rag.onnx_export)")
    tokens = mul.input[0]
    axes = ["batch", "tokens"]
    g.input.append(helper.make_tensor_value_info("position_ids", TensorProto.INT64, axes))
    g.input.append(helper.make_tensor_value_info(PACKED_MASK, TensorProto.INT32, [*axes, "keys"]))
    cast = helper.make_node("Cast", ["position_ids"], ["position_ids_int32"], to=TensorProto.INT32)
    inputs = list(embed[0].input)[:8]
    inputs += [""] * (8 - len(inputs)) + ["position_ids_int32"]
    del embed[0].input[:]
    embed[0].input.extend(inputs)
    for node in attention:
        node.input[3] = PACKED_MASK
    hidden = int(g.output[0].type.tensor_type.shape.dim[-1].dim_value) or None
    del g.output[:]
    g.output.append(helper.make_tensor_value_info(tokens, TensorProto.FLOAT, [*axes, hidden]))
    # Keep only what the token vectors need (the pooling nodes go).
    needed, keep = {tokens}, []
    for node in reversed([cast, *g.node]):
        if any(o in needed for o in node.output):
            keep.append(node)
            needed.update(i for i in node.input if i)
    del g.node[:]
    g.node.extend(reversed(keep))
    kept = [i for i in g.input if i.name in needed]
    del g.input[:]
    g.input.extend(kept)
    onnx.checker.check_model(model)
    onnx.save(model, str(out))


def _quantize(fp32: Path, out: Path, weight_type: Any = None) -> None:
    """`weight_type` (a QuantType): default the one this CPU wants (int8_weight_type)."""
    import onnx
    from onnxruntime.quantization import quantize_dynamic

    # One scale per output channel: with one per tensor the vectors' cosine to PyTorch's fell to
    # 0.90-0.93 on SciFact abstracts, per channel it is 0.99+. The fused graph's contrib ops hide
    # some tensor types from shape inference, hence the default type.
    logging.disable(logging.WARNING)  # its advice to pre-process is for static quantisation
    try:
        quantize_dynamic(
            str(fp32),
            str(out),
            weight_type=weight_type or int8_weight_type(),
            per_channel=True,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        logging.disable(logging.NOTSET)


def int8_weight_type() -> Any:
    """Signed weights (u8 x s8) where the CPU has VNNI, whose dot product cannot overflow; without
    it ONNX Runtime multiplies u8 x s8 with an instruction that saturates at 16 bits (its own
    documentation warns of the accuracy loss), so there the weights are unsigned (u8 x u8).
    Measured on AVX2 (BENCHMARKS.md): the signed form's vectors reached cosine 0.974 of
    PyTorch's there and failed the export check; the unsigned form's 0.988."""
    from onnxruntime.quantization import QuantType

    from .onnx_embed import int8_form

    return QuantType.QInt8 if int8_form() == "u8s8" else QuantType.QUInt8


def _int8_file() -> str:
    from .onnx_embed import int8_form

    return "model-int8.onnx" if int8_form() == "u8s8" else "model-int8-u8u8.onnx"


def _check(graph: Path, model_path: Path, reference: np.ndarray) -> tuple[float, float]:
    """Largest component difference and lowest cosine against PyTorch, batched and one by one."""
    from .onnx_embed import OnnxEmbedder

    probe = OnnxEmbedder.of_graph(graph, model_path)
    batched = probe.embed(CHECK_TEXTS)
    single = np.stack([probe.embed_query(t) for t in CHECK_TEXTS])
    diff = max(float(np.abs(v - reference).max()) for v in (batched, single))
    cos = min(float((v * reference).sum(axis=1).min()) for v in (batched, single))
    return diff, cos


def _commit(tmp: Path, dest: Path, precision: str, diff: float, cos: float) -> None:
    """Move the checked graph into place, then write its record (the record marks it valid)."""
    import onnxruntime

    from .onnx_embed import CACHE_FORMAT, cpu_features, file_sha256, int8_form, int8_kernel
    from .store.manifest import atomic_write

    os.replace(tmp, dest)
    record = {
        "format": CACHE_FORMAT,
        "precision": precision,
        "size": dest.stat().st_size,
        "sha256": file_sha256(dest),
        "mtime_ns": dest.stat().st_mtime_ns,
        "onnxruntime": onnxruntime.__version__,
        "max_abs_diff_vs_torch": diff,
        "min_cosine_vs_torch": cos,
        "cpu_features": cpu_features(),
        "int8_kernel": int8_kernel() if precision == "int8" else None,
        "int8_weights": int8_form() if precision == "int8" else None,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    atomic_write(dest.with_suffix(".json"), json.dumps(record, indent=2).encode())
