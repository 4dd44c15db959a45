"""What rag keeps in Milvus and how it reaches it: the four collections' schemas and indexes, the
connection (a server URI, or a Milvus Lite file served inside this process), and releasing a
Milvus Lite file when the last store of the process closes it. The store itself is milvus.py."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from ..errors import ConfigError, IndexLockedError
from .keyword import K1, B

if TYPE_CHECKING:
    from ..config import Settings

DUMMY = [1.0, 0.0]  # Milvus wants a vector field in every collection
STRONG = {"consistency_level": "Strong"}


def create_collections(client: Any, names: tuple[str, str, str, str], dim: int) -> None:
    """The four collections (chunks, docs, texts, meta) of a new index."""
    from pymilvus import DataType, Function, FunctionType, MilvusClient

    c = client
    s = MilvusClient.create_schema(auto_id=False)
    s.add_field("id", DataType.INT64, is_primary=True)
    s.add_field("doc_id", DataType.VARCHAR, max_length=64)
    s.add_field("gen", DataType.INT64)
    s.add_field("ordinal", DataType.INT64)
    s.add_field("span_start", DataType.INT64)
    s.add_field("span_end", DataType.INT64)
    s.add_field("n_tokens", DataType.INT64)
    s.add_field("text_hash", DataType.VARCHAR, max_length=64)
    s.add_field("text", DataType.VARCHAR, max_length=65535)
    s.add_field(
        "terms",
        DataType.VARCHAR,
        max_length=65535,
        enable_analyzer=True,
        enable_match=True,
        analyzer_params={"tokenizer": "standard"},
    )
    s.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
    s.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    s.add_field("source", DataType.VARCHAR, max_length=4096)
    s.add_field("file_type", DataType.VARCHAR, max_length=32)
    s.add_field("page", DataType.INT64)  # 0: none
    s.add_field("section", DataType.VARCHAR, max_length=4096)
    # JSON: page breaks inside the chunk and OCR confidences of its pages (chunk_rows).
    s.add_field("extra", DataType.VARCHAR, max_length=16384)
    s.add_function(
        Function(
            name="bm25",
            function_type=FunctionType.BM25,
            input_field_names=["terms"],
            output_field_names=["sparse"],
        )
    )
    ip = c.prepare_index_params()
    # FLAT: exact, as the local store is; a large cluster would choose HNSW (docs/scaling.md).
    ip.add_index(field_name="vector", index_type="FLAT", metric_type="IP")
    ip.add_index(
        field_name="sparse",
        index_type="SPARSE_INVERTED_INDEX",
        metric_type="BM25",
        params={"bm25_k1": K1, "bm25_b": B},
    )
    ip.add_index(field_name="doc_id", index_type="INVERTED")  # a document's rows, fast
    c.create_collection(names[0], schema=s, index_params=ip, consistency_level="Strong")

    s = MilvusClient.create_schema(auto_id=False)
    s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=64)
    s.add_field("gen", DataType.INT64)
    s.add_field("source", DataType.VARCHAR, max_length=4096)
    s.add_field("file_type", DataType.VARCHAR, max_length=32)
    s.add_field("title", DataType.VARCHAR, max_length=4096)
    s.add_field("content_hash", DataType.VARCHAR, max_length=128)
    s.add_field("size", DataType.INT64)
    s.add_field("mtime", DataType.DOUBLE)
    s.add_field("n_chunks", DataType.INT64)
    s.add_field("n_parts", DataType.INT64)
    s.add_field("added_at", DataType.DOUBLE)
    s.add_field("updated_at", DataType.DOUBLE)
    s.add_field("ocr_pages", DataType.VARCHAR, max_length=65535)  # JSON, "" without OCR
    s.add_field("_v", DataType.FLOAT_VECTOR, dim=2)
    c.create_collection(names[1], schema=s, index_params=dummy_index(c, "source"), **STRONG)

    s = MilvusClient.create_schema(auto_id=False)
    s.add_field("id", DataType.VARCHAR, is_primary=True, max_length=128)
    s.add_field("doc_id", DataType.VARCHAR, max_length=64)
    s.add_field("gen", DataType.INT64)
    s.add_field("part", DataType.INT64)
    s.add_field("body", DataType.VARCHAR, max_length=65535)
    s.add_field("_v", DataType.FLOAT_VECTOR, dim=2)
    c.create_collection(names[2], schema=s, index_params=dummy_index(c, "doc_id"), **STRONG)

    s = MilvusClient.create_schema(auto_id=False)
    s.add_field("key", DataType.VARCHAR, is_primary=True, max_length=64)
    s.add_field("value", DataType.VARCHAR, max_length=65535)
    s.add_field("_v", DataType.FLOAT_VECTOR, dim=2)
    c.create_collection(names[3], schema=s, index_params=dummy_index(c), **STRONG)


def meta_row(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": value, "_v": DUMMY}


def dummy_index(client: Any, scalar: str | None = None) -> Any:
    ip = client.prepare_index_params()
    ip.add_index(field_name="_v", index_type="FLAT", metric_type="IP")
    if scalar:
        ip.add_index(field_name=scalar, index_type="INVERTED")
    return ip


def connect(uri: str, settings: Settings) -> Any:
    try:
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException
    except ImportError:
        raise ConfigError(
            "RAG_STORE=milvus needs the scale extra: pip install -e '.[scale]'"
        ) from None
    token = settings.milvus_token.get_secret_value() if settings.milvus_token else ""
    try:
        client = MilvusClient(uri=uri, token=token)
        if "://" not in uri:
            with _LITE_LOCK:
                _LITE_USERS[uri] = _LITE_USERS.get(uri, 0) + 1
        return client
    except MilvusException as exc:
        if "://" not in uri and "Open local milvus failed" in str(exc):
            raise IndexLockedError(
                f"{uri} is open in another process, and a Milvus Lite file serves one process "
                "only: serve it with `milvus-lite server --data-dir DIR --host 127.0.0.1 --port "
                "P` and point every process at it with RAG_MILVUS_URI=http://127.0.0.1:P"
            ) from exc
        raise ConfigError(f"cannot reach Milvus at {uri}: {exc}") from exc


# A Milvus Lite file is served by a gRPC server in a thread of this process, which holds the
# file's lock until it is released: the last store of the process to close a file releases it,
# so that another process can open it (closing the client alone does not).
_LITE_USERS: dict[str, int] = {}
_LITE_LOCK = threading.Lock()


def release_lite(uri: str) -> None:
    with _LITE_LOCK:
        _LITE_USERS[uri] = _LITE_USERS.get(uri, 1) - 1
        if _LITE_USERS[uri] > 0:
            return
        del _LITE_USERS[uri]
    from milvus_lite.server_manager import server_manager_instance

    server_manager_instance.release_server(uri)
