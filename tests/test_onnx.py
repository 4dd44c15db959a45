"""The ONNX embedding path: its cache, its fingerprint, its vectors, and a query path without torch."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rag import onnx_embed
from rag.config import Settings
from rag.embeddings import SentenceTransformerEmbedder, make_embedder
from rag.errors import ConfigError, EmbeddingError, IndexMismatchError
from rag.onnx_embed import OnnxEmbedder, cpu_features, ensure_model, int8_kernel, read_record
from rag.store import IndexStore

from .conftest import shared

CHUNKING = {"chunk_tokens": 200, "chunk_overlap": 32, "splitter": "test"}


def _fake_build(calls: list[str]):
    """Stands in for the export: writes a graph-sized file and its record, as build() does."""

    def build(model_path: Path, folder: Path, precision: str) -> None:
        import onnxruntime

        calls.append(precision)
        dest = folder / f"model-{precision}.onnx"
        dest.write_bytes(b"graph " * 1000)
        record = {
            "format": onnx_embed.CACHE_FORMAT,
            "precision": precision,
            "size": dest.stat().st_size,
            "sha256": onnx_embed.file_sha256(dest),
            "onnxruntime": onnxruntime.__version__,
        }
        dest.with_suffix(".json").write_text(json.dumps(record))

    return build


def test_cache_is_built_once_then_trusted(tmp_path, monkeypatch):
    calls: list[str] = []
    monkeypatch.setattr("rag.onnx_export.build", _fake_build(calls))
    file = tmp_path / "fp" / "model-fp32.onnx"
    assert ensure_model(Path("unused"), file, "fp32") == file
    assert ensure_model(Path("unused"), file, "fp32") == file
    assert calls == ["fp32"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda f: f.write_bytes(f.read_bytes()[:100]),  # a partial write
        lambda f: f.write_bytes(b"X" + f.read_bytes()[1:]),  # same size, other bytes
        lambda f: f.with_suffix(".json").unlink(),  # the record never written
        lambda f: f.with_suffix(".json").write_text("{not json"),
        lambda f: f.unlink(),
    ],
)
def test_a_damaged_cache_is_rebuilt_not_trusted(tmp_path, monkeypatch, damage):
    calls: list[str] = []
    monkeypatch.setattr("rag.onnx_export.build", _fake_build(calls))
    file = tmp_path / "fp" / "model-int8.onnx"
    ensure_model(Path("unused"), file, "int8")
    damage(file)
    assert read_record(file) is None
    ensure_model(Path("unused"), file, "int8")
    assert calls == ["int8", "int8"]
    assert read_record(file) is not None


def test_a_file_written_after_its_check_is_hashed_again(tmp_path, monkeypatch):
    monkeypatch.setattr("rag.onnx_export.build", _fake_build([]))
    file = tmp_path / "fp" / "model-fp32.onnx"
    ensure_model(Path("unused"), file, "fp32")
    rec = json.loads(file.with_suffix(".json").read_text())
    mtime = file.stat().st_mtime_ns
    file.with_suffix(".json").write_text(json.dumps({**rec, "mtime_ns": mtime}))
    assert read_record(file) is not None  # unchanged since the check: trusted without hashing
    file.write_bytes(b"X" + file.read_bytes()[1:])  # same size, other bytes, written later
    os.utime(file, ns=(mtime + 10**9, mtime + 10**9))  # (a coarse clock may not have ticked)
    assert read_record(file) is None


def test_a_record_from_another_onnxruntime_is_not_trusted(tmp_path, monkeypatch):
    monkeypatch.setattr("rag.onnx_export.build", _fake_build([]))
    file = tmp_path / "fp" / "model-fp32.onnx"
    ensure_model(Path("unused"), file, "fp32")
    rec = json.loads(file.with_suffix(".json").read_text())
    file.with_suffix(".json").write_text(json.dumps({**rec, "onnxruntime": "0.0.1"}))
    assert read_record(file) is None


def test_cache_is_keyed_by_fingerprint_and_precision(tmp_path):
    fp32 = OnnxEmbedder(cache_dir=tmp_path)
    int8 = OnnxEmbedder(cache_dir=tmp_path, precision="int8")
    assert fp32.model_file().parent.name == fp32.fingerprint
    assert fp32.model_file().parent == int8.model_file().parent
    assert fp32.model_file() != int8.model_file()


def test_fp32_onnx_shares_pytorchs_fingerprint_int8_does_not(tmp_path):
    torch_emb = SentenceTransformerEmbedder()
    fp32 = OnnxEmbedder(cache_dir=tmp_path)
    int8 = OnnxEmbedder(cache_dir=tmp_path, precision="int8")
    assert fp32.fingerprint == torch_emb.fingerprint
    assert int8.fingerprint != torch_emb.fingerprint
    assert int8.describe()["precision"] == "int8"


def test_an_int8_index_refuses_fp32_embedders_and_back(tmp_path):
    torch_emb = SentenceTransformerEmbedder()
    fp32 = OnnxEmbedder(cache_dir=tmp_path)
    int8 = OnnxEmbedder(cache_dir=tmp_path, precision="int8")
    IndexStore.open(tmp_path / "i8", int8.describe(), CHUNKING).close()
    for other in (fp32, torch_emb):
        with pytest.raises(IndexMismatchError, match="RAG_EMBED_PRECISION=int8"):
            IndexStore.open(tmp_path / "i8", other.describe(), CHUNKING)
    IndexStore.open(tmp_path / "f32", torch_emb.describe(), CHUNKING).close()
    with pytest.raises(IndexMismatchError, match="RAG_EMBED_PRECISION=fp32"):
        IndexStore.open(tmp_path / "f32", int8.describe(), CHUNKING)
    # fp32 vectors from either backend mix: the same index opens with both.
    IndexStore.open(tmp_path / "f32", fp32.describe(), CHUNKING).close()


def test_factory_picks_the_backend(tmp_path):
    auto = make_embedder(Settings(cache_dir=tmp_path))
    assert isinstance(auto, OnnxEmbedder) and auto.fallback
    assert not make_embedder(Settings(cache_dir=tmp_path, embed_backend="onnx")).fallback
    torch_emb = make_embedder(Settings(embed_backend="torch"))
    assert isinstance(torch_emb, SentenceTransformerEmbedder)
    with pytest.raises(ConfigError, match="ONNX"):
        make_embedder(Settings(embed_backend="torch", embed_precision="int8"))
    # int8 never falls back to PyTorch: PyTorch cannot give its vectors.
    assert not make_embedder(Settings(cache_dir=tmp_path, embed_precision="int8")).fallback


def test_auto_falls_back_to_pytorch_when_the_export_fails(tmp_path, monkeypatch):
    def broken(model_path: Path, folder: Path, precision: str) -> None:
        raise EmbeddingError("this model does not export")

    monkeypatch.setattr("rag.onnx_export.build", broken)
    assert OnnxEmbedder(cache_dir=tmp_path, fallback=True).backend == "torch"
    with pytest.raises(EmbeddingError, match="does not export"):
        OnnxEmbedder(cache_dir=tmp_path).embed(["no fallback asked for"])
    with pytest.raises(EmbeddingError, match="does not export"):  # int8 never falls back
        OnnxEmbedder(cache_dir=tmp_path, precision="int8", fallback=True).embed(["x"])


def test_embed_tokenizes_each_text_once_and_pads_as_the_tokenizer_would(tmp_path, monkeypatch):
    """The ids that size each text's call are the ones the model reads: no second pass (it was
    counted, then encoded again per call), and the padding is the tokenizer's own."""
    from tokenizers import Tokenizer

    emb = OnnxEmbedder(cache_dir=tmp_path)
    emb._session = object()  # a loaded model, as far as _load is concerned
    emb._input_names = ["input_ids", "attention_mask", "token_type_ids"]  # one text a row
    calls: list[list[list[list[int]]]] = []
    tokenized: list[str] = []
    ids_of = emb._ids

    def counting_ids(texts):
        tokenized.extend(texts)
        return ids_of(texts)

    def run(rows):
        calls.append(rows)
        return np.ones((sum(len(r) for r in rows), emb.dim), dtype=np.float32)

    monkeypatch.setattr(emb, "_ids", counting_ids)
    monkeypatch.setattr(emb, "_run", run)
    monkeypatch.setattr(emb, "count_tokens", lambda texts: pytest.fail("counted again"))
    texts = ["a", "Herons stand still in shallow water to fish.", "word " * 400, "Ünïcödé 日本語"]
    assert emb.embed(texts).shape == (4, emb.dim)
    assert sorted(tokenized) == sorted(texts)
    assert sum(len(rows) for rows in calls) == len(texts)
    assert all(len(row) == 1 for rows in calls for row in rows)
    # The arrays of one call equal the tokenizer's own padded encoding of those texts.
    padded = Tokenizer.from_file(str(emb.path / "tokenizer.json"))
    padded.enable_truncation(max_length=emb.max_tokens + 2)
    padded.enable_padding(pad_id=padded.token_to_id("[PAD]"), pad_token="[PAD]")
    for group in (texts, texts[:2], [texts[2]]):
        feeds = emb._feeds([[x] for x in emb._ids(group)])
        encs = padded.encode_batch(group)
        assert set(feeds) == {"input_ids", "attention_mask", "token_type_ids"}
        assert feeds["input_ids"].dtype == feeds["attention_mask"].dtype == np.int64
        assert (feeds["input_ids"] == np.array([e.ids for e in encs])).all()
        assert (feeds["attention_mask"] == np.array([e.attention_mask for e in encs])).all()


@pytest.mark.parametrize("seed", range(30))
def test_pack_rows_holds_every_text_once_within_the_capacity(seed):
    rng = np.random.default_rng(seed)
    width = [int(w) for w in rng.integers(3, 120, size=int(rng.integers(1, 40)))]
    rows = onnx_embed.pack_rows(width, 64)
    assert sorted(i for row in rows for i in row) == list(range(len(width)))
    for row in rows:
        assert len(row) == 1 or sum(width[i] for i in row) <= 64
    # First fit: a row was opened only for a text that fitted in no earlier row, so no two
    # rows could have been one.
    fills = sorted(sum(width[i] for i in row) for row in rows)
    assert len(fills) < 2 or fills[0] + fills[1] > 64


def _packing_embedder(tmp_path) -> OnnxEmbedder:
    emb = OnnxEmbedder(cache_dir=tmp_path)
    emb._session = object()
    emb._input_names = [
        "input_ids",
        "attention_mask",
        "token_type_ids",
        "position_ids",
        onnx_embed.PACKED_MASK,
    ]
    return emb


def test_small_calls_pack_short_texts_into_rows_large_calls_do_not(tmp_path):
    emb = _packing_embedder(tmp_path)
    width = [10, 50, 12, 30, 200, 20, 9, 33]
    calls = emb._plan(width)
    rows = [row for call in calls for row in call]
    assert sorted(i for row in rows for i in row) == list(range(len(width)))
    assert any(len(row) > 1 for row in rows)  # short texts share rows
    assert [4] in rows  # the long one alone
    for row in rows:
        assert len(row) == 1 or sum(width[i] for i in row) <= emb.pack_tokens
    # An ingest-sized call (sorted by length, one text a row), and a graph that cannot pack.
    big = emb._plan(width * 5)
    assert all(len(row) == 1 for call in big for row in call)
    emb._input_names = emb._input_names[:3]
    assert all(len(row) == 1 for call in emb._plan(width) for row in call)


def test_a_packed_row_gives_each_text_its_own_positions_and_attention(tmp_path):
    emb = _packing_embedder(tmp_path)
    assert emb._model_tokenizer.token_to_id("[PAD]") == 0
    a, b, c = [101, 7, 8, 102], [101, 9, 102], [101, 5, 6, 7, 8, 102]
    feeds = emb._feeds([[a, b], [c]])
    assert feeds["input_ids"].tolist() == [[*a, *b], [*c, 0]]
    assert feeds["attention_mask"].tolist() == [[1] * 7, [1] * 6 + [0]]
    assert feeds["position_ids"].tolist() == [[0, 1, 2, 3, 0, 1, 2], [0, 1, 2, 3, 4, 5, 0]]
    block = feeds[onnx_embed.PACKED_MASK]
    assert block.shape == (2, 7, 7) and block.dtype == np.int32
    first = np.zeros((7, 7), dtype=np.int32)
    first[:4, :4] = first[4:, 4:] = 1
    assert (block[0] == first).all()
    second = np.zeros((7, 7), dtype=np.int32)
    second[:6, :6] = 1
    assert (block[1] == second).all()  # padding sees nothing and is seen by nothing


def test_int8_kernel_follows_the_cpu_features():
    assert int8_kernel(["avx2", "fma"]) == "avx2"
    assert int8_kernel(["avx2", "avx512f"]) == "avx512"
    assert int8_kernel(["avx2", "avx512f", "avx512_vnni"]) == "avx512-vnni"
    assert int8_kernel(["avx2", "avx_vnni"]) == "avx-vnni"
    assert set(cpu_features()) <= {
        "avx2",
        "fma",
        "avx512f",
        "avx512_vnni",
        "avx_vnni",
        "avx512_bf16",
        "amx_int8",
    }


def test_int8_weights_are_unsigned_without_vnni(monkeypatch):
    from onnxruntime.quantization import QuantType

    from rag.onnx_export import int8_weight_type

    monkeypatch.setattr(onnx_embed, "cpu_features", lambda: ["avx2", "fma"])
    assert int8_weight_type() == QuantType.QUInt8  # u8 x s8 would saturate on AVX2
    monkeypatch.setattr(onnx_embed, "cpu_features", lambda: ["avx2", "avx512f", "avx512_vnni"])
    assert int8_weight_type() == QuantType.QInt8


def test_an_int8_index_records_the_weight_form_and_refuses_the_other(monkeypatch, tmp_path):
    """The two int8 forms give different vectors (measured on AVX2: u8 x s8 saturates there),
    so an int8 index built on a VNNI CPU and opened on one without, or the other way round, is
    refused like any other model change instead of mixing them; their cached graphs differ."""
    monkeypatch.setattr(onnx_embed, "cpu_features", lambda: ["avx2", "avx512f", "avx512_vnni"])
    vnni = OnnxEmbedder(cache_dir=tmp_path, precision="int8")
    vnni_fp, vnni_file, vnni_desc = vnni.fingerprint, vnni.model_file(), vnni.describe()
    assert vnni_fp.endswith("-int8") and vnni_file.name == "model-int8.onnx"  # as before
    monkeypatch.setattr(onnx_embed, "cpu_features", lambda: ["avx2", "fma"])
    avx2 = OnnxEmbedder(cache_dir=tmp_path, precision="int8")
    assert avx2.fingerprint.endswith("-int8-u8u8") and avx2.model_file() != vnni_file
    IndexStore.open(tmp_path / "i8", vnni_desc, CHUNKING).close()
    with pytest.raises(IndexMismatchError, match=r"made with signed weights \(u8 x s8"):
        IndexStore.open(tmp_path / "i8", avx2.describe(), CHUNKING)


def _modules_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    probe = f"{code}\nimport sys\nprint('\\n'.join(sys.modules))"
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return set(proc.stdout.split())


def test_help_and_the_package_load_nothing_heavy():
    """`rag --help` answers in about 0.1 s because it loads click and little else; importing
    `rag` loads its parts only when they are used."""
    heavy = {"numpy", "pydantic_settings", "onnxruntime", "torch", "faiss", "gradio", "pypdf"}
    run_help = (
        "import runpy, sys\nsys.argv = ['rag', '--help']\n"
        "try:\n    runpy.run_module('rag', run_name='__main__')\nexcept SystemExit:\n    pass"
    )
    helped = _modules_after(run_help)
    assert "click" in helped and not helped & heavy
    assert not _modules_after("import rag") & (heavy | {"rag.api", "rag.ingest"})
    assert "rag.api" in _modules_after("from rag import RagIndex")


# --- the real model -------------------------------------------------------------------------

TEXTS = [
    "How do I remove a document from the index?",
    "Secretary Austin spoke with his Japanese and South Korean counterparts on Wednesday. " * 12,
    "Ünïcödé façade, 日本語, and emoji-free punctuation; (brackets) [too].",
    "a",
]


@pytest.fixture(scope="module")
def cache() -> Path:
    """The default cache, which the other real-model tests' processes use too: the export (a
    minute of CI time) happens once. The tests check the vectors themselves, whoever exported."""
    return Path(Settings.model_fields["cache_dir"].default)


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """PyTorch's vectors of TEXTS (loading it takes seconds: once)."""
    return SentenceTransformerEmbedder().embed(TEXTS)


@pytest.mark.slow
def test_onnx_fp32_matches_pytorch(cache, reference):
    onnx = OnnxEmbedder(cache_dir=cache)
    ref = reference
    assert onnx.backend == "onnx"
    batched = onnx.embed(TEXTS)
    single = np.stack([onnx.embed_query(t) for t in TEXTS])
    assert np.abs(batched - ref).max() <= 1e-4
    assert np.abs(single - ref).max() <= 1e-4
    record = read_record(onnx.model_file())
    assert record is not None and record["max_abs_diff_vs_torch"] <= 1e-4


@pytest.mark.slow
def test_packed_rows_give_each_text_the_vector_it_has_alone(cache):
    """A server-sized call of mixed lengths, packed: every vector equals the text's own, run
    alone (the block-diagonal mask and restarted positions leave no trace of its neighbours)."""
    rng = np.random.default_rng(0)
    story = "The heron stood still in the shallow water while a storm gathered over the marsh. " * 4
    texts = [story[: int(n)] for n in rng.integers(1, len(story), size=20)]
    texts += ["", "word " * 400]  # empty, and truncated
    onnx = OnnxEmbedder(cache_dir=cache)
    assert onnx.backend == "onnx" and onnx._packs
    widths = [len(x) for x in onnx._ids(texts)]
    assert any(len(row) > 1 for call in onnx._plan(widths) for row in call)
    alone = np.stack([onnx.embed_query(t) for t in texts])
    assert np.abs(onnx.embed(texts) - alone).max() <= 1e-5


@pytest.mark.slow
def test_a_graph_that_cannot_pack_is_kept_one_text_a_row(tmp_path, monkeypatch, reference):
    """A model whose fused graph is not the BERT form that packs still runs on ONNX Runtime,
    unpacked, rather than failing its export."""
    from rag import onnx_export

    def cannot(fused, out):
        raise EmbeddingError("the fused graph is not the BERT form that packs")

    monkeypatch.setattr(onnx_export, "_packed", cannot)
    onnx = OnnxEmbedder(cache_dir=tmp_path)
    vecs = onnx.embed(TEXTS)
    assert onnx.backend == "onnx" and not onnx._packs
    assert np.abs(vecs - reference).max() <= 1e-4


@pytest.mark.slow
def test_onnx_int8_is_close_to_pytorch(cache, reference):
    int8 = OnnxEmbedder(cache_dir=cache, precision="int8")
    cos = (int8.embed(TEXTS) * reference).sum(axis=1)
    assert cos.min() >= 0.98
    assert read_record(int8.model_file())["precision"] == "int8"


@pytest.mark.slow
def test_search_and_ask_import_only_what_they_use(cache, tmp_path):
    """A cold `rag search` / `rag ask` on an index whose ONNX graphs are cached (the embedding
    model's and the answer encoder's) loads no PyTorch, and `rag search` no answer code."""
    index = tmp_path / "index"
    env = {**os.environ, "RAG_CACHE_DIR": str(cache)}
    seeds = shared("corpus", "seeds")
    # The graphs are cached by the fixture's earlier tests, or built here: the embedding model's
    # by the ingest, the answer encoder's by the first question.
    for args in (["ingest", "-q", str(seeds)], ["ask", "Who is the chief Pentagon spokesman?"]):
        subprocess.run(
            [sys.executable, "-m", "rag", "--index", str(index), *args],
            env=env,
            check=True,
            capture_output=True,
            timeout=600,
        )
    rag = [sys.executable, "-X", "importtime", "-m", "rag"]
    for command in ("search", "ask"):
        proc = subprocess.run(
            [*rag, "--index", str(index), command, "What did Austin say?"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "Austin" in proc.stdout
        modules = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines()}
        assert "onnxruntime" in modules  # the check sees the embedding backend's imports
        heavy = modules & {"torch", "sentence_transformers", "transformers"}
        assert not heavy, f"rag {command} imported {heavy}"
        # Searching needs no answer code (0.1-0.3 s of a cold `rag search`, BENCHMARKS.md).
        assert ("rag.answer" in modules) == (command == "ask"), command


@pytest.mark.slow
def test_ingest_exports_the_answer_encoder_so_the_first_question_need_not(cache, tmp_path):
    """A new machine's first `rag ask` used to wait 15-20 s for the answer encoder's one-time
    ONNX export; `rag ingest` does it now. A fresh cache holding only the embedding model's graph
    (the answer encoder's is what is tested)."""
    from rag.answer.encoder import encoder_of
    from rag.answer.model import load_model

    embedding = OnnxEmbedder(cache_dir=cache)
    embedding.prepare()
    graph = embedding.model_file().parent
    fresh = tmp_path / "cache"
    shutil.copytree(graph, fresh / graph.relative_to(cache))
    env = {**os.environ, "RAG_CACHE_DIR": str(fresh), "RAG_INDEX": str(tmp_path / "index")}
    rag = [sys.executable, "-m", "rag"]
    run = {"env": env, "capture_output": True, "text": True, "timeout": 600}
    proc = subprocess.run([*rag, "ingest", "-q", str(shared("corpus", "seeds"))], **run)
    assert proc.returncode == 0, proc.stderr[-2000:]
    answer_graph = encoder_of(load_model(None), fresh).model_file()  # type: ignore[union-attr]
    assert read_record(answer_graph) is not None, "rag ingest left the export to the first question"
    written = answer_graph.stat().st_mtime_ns
    proc = subprocess.run([*rag, "ask", "What did Austin say?"], **run)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Austin" in proc.stdout
    assert answer_graph.stat().st_mtime_ns == written  # used as exported, not exported again
