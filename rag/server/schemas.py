"""The request bodies of rag serve (OpenAI's where the route is OpenAI's)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

CHAT_MODEL = "rag"


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: str | list[str] | list[int] | list[list[int]] = Field(
        description="A text or a list of texts (token arrays are not accepted)."
    )
    model: str | None = Field(None, description="The embedding model's id (GET /v1/models).")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: StrictInt | None = Field(
        None, description="Only the model's own dimension is supported; any other is a 400."
    )
    user: str | None = None
    truncate: bool = Field(
        False,
        description="Cut inputs longer than the model reads instead of rejecting them (an "
        "extension, as in text-embeddings-inference).",
    )


class Filtering(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: StrictInt | None = Field(None, ge=1, le=100, description="Passages to retrieve.")
    mode: Literal["dense", "keyword", "hybrid"] | None = None
    path: str | None = Field(None, max_length=1000, description="Glob or name the path matches.")
    file_types: list[str] | None = Field(None, max_length=10)


class SearchRequest(Filtering):
    query: str = Field(max_length=10000)


class AskRequest(Filtering):
    question: str = Field(max_length=10000)
    stream: bool = Field(False, description="Server-Sent Events: deltas, sentences, the answer.")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, ...: accepted, unused

    model: str = CHAT_MODEL
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    k: StrictInt | None = Field(None, ge=1, le=100)
    mode: Literal["dense", "keyword", "hybrid"] | None = None
    path: str | None = Field(None, max_length=1000)
    file_types: list[str] | None = Field(None, max_length=10)
