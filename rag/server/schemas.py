"""The request bodies of rag serve (OpenAI's where the route is OpenAI's)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator
from pydantic_core import PydanticCustomError

from ..config import MAX_QUESTION_CHARS

CHAT_MODEL = "rag"


def _bad_text(value: Any, where: str) -> tuple[str, str] | None:
    """Where the first string in a JSON value that is not text is, and what is wrong with it: a
    lone UTF-16 surrogate ("\\ud800") parses from JSON but cannot be encoded, tokenised or
    written back (it was a 500 deep in the tokenizer or the response)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            return where, (
                f"character {exc.start} is a lone UTF-16 surrogate ({value[exc.start]!a}), "
                "not text; send valid Unicode"
            )
        return None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        found = _bad_text(item, f"{where}.{key}" if where else str(key))
        if found:
            return found
    return None


class Body(BaseModel):
    """A request body whose strings are all text (see _bad_text)."""

    @model_validator(mode="before")
    @classmethod
    def _text_only(cls, data: Any) -> Any:
        found = _bad_text(data, "")
        if found:
            where, message = found
            # `param` tells the error handler which field it is (the error's loc is the body).
            raise PydanticCustomError("invalid_text", message, {"param": where or None})
        return data


def _check_filter(value: str | list[str] | None) -> str | list[str] | None:
    """A path pattern or file type with a NUL or other control character matches nothing a
    user means (SQLite's GLOB stops at a NUL: "\\0zzz" matched every document); an unclosed
    [ in a pattern or an unknown file type is refused here too, as a 422 naming the field
    (it was a 400 without one, from deep in the search)."""
    from ..errors import QueryError
    from ..retrieve import check_glob, file_types_of

    for v in [value] if isinstance(value, str) else value or []:
        if any(ord(c) < 32 for c in v):
            raise ValueError("control characters (such as NUL) are not allowed here")
    try:
        if isinstance(value, str):
            check_glob(value)
        elif value is not None:
            file_types_of(value)
    except QueryError as exc:
        raise ValueError(str(exc)) from None
    return value


def _not_blank(value: str) -> str:
    """An empty or blank query has nothing to search for: a 422, as the MCP tools' minLength
    (it was a 200 with no hits, or a refusal that read as "the documents do not say")."""
    if not value.strip():
        raise ValueError("is empty: send some text")
    return value


class EmbeddingsRequest(Body):
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


class Filtering(Body):
    model_config = ConfigDict(extra="forbid")

    k: StrictInt | None = Field(None, ge=1, le=100, description="Passages to retrieve.")
    mode: Literal["dense", "keyword", "hybrid"] | None = None
    path: str | None = Field(None, max_length=1000, description="Glob or name the path matches.")
    file_types: list[str] | None = Field(None, max_length=10)

    _filters = field_validator("path", "file_types")(_check_filter)


class SearchRequest(Filtering):
    query: str = Field(max_length=MAX_QUESTION_CHARS)

    _query = field_validator("query")(_not_blank)


class AskRequest(Filtering):
    question: str = Field(max_length=MAX_QUESTION_CHARS)

    _question = field_validator("question")(_not_blank)
    stream: bool = Field(False, description="Server-Sent Events: deltas, sentences, the answer.")


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[dict[str, Any]] | None = None


class ChatRequest(Body):
    model_config = ConfigDict(extra="allow")  # temperature, max_tokens, ...: accepted, unused

    model: str = CHAT_MODEL
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    k: StrictInt | None = Field(None, ge=1, le=100)
    mode: Literal["dense", "keyword", "hybrid"] | None = None
    path: str | None = Field(None, max_length=1000)
    file_types: list[str] | None = Field(None, max_length=10)
    n: StrictInt = Field(1, description="One answer per request: any other n is a 422.")

    _filters = field_validator("path", "file_types")(_check_filter)

    @field_validator("n")
    @classmethod
    def _one_choice(cls, n: int) -> int:
        if n != 1:  # it returned one choice whatever n asked for
            raise ValueError(f"n={n}: rag gives one answer per request; leave n out or send 1")
        return n
