"""Building the answerer a Settings object asks for."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from typing import Protocol

from ..config import Settings
from ..documents import SearchHit
from ..embeddings import Embedder
from ..prompts import load_prompt
from .evidence import DocFreq
from .extractive import ExtractiveAnswerer
from .generative import GenerativeAnswerer
from .llm import LLM, PACKAGED, LlamaCppLLM, OpenAICompatibleLLM, detect_format, packaged_model_path
from .model import load_model
from .types import Answer, StreamEvent


class Answerer(Protocol):
    """Every backend: `answer` returns the whole Answer; `stream` yields Delta and Checked
    events as the answer is written, then the Answer."""

    name: str

    def answer(self, question: str, hits: Sequence[SearchHit]) -> Answer: ...

    def stream(self, question: str, hits: Sequence[SearchHit]) -> Iterator[StreamEvent]: ...


def make_llm(settings: Settings) -> LLM:
    if settings.backend == "openai":
        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else None
        return OpenAICompatibleLLM(
            base_url=settings.openai_base_url,
            model=settings.openai_model,
            api_key=key or os.environ.get("OPENAI_API_KEY"),
            timeout_s=settings.llm_timeout_s,
            temperature=settings.llm_temperature,
            context_tokens=max(settings.llm_context_tokens, 4096),
        )
    if settings.llm_path is not None:
        path = settings.llm_path.expanduser()
        fmt = settings.llm_format if settings.llm_format != "auto" else None
        fmt = fmt or (detect_format(path) if path.is_file() else "completion")
    else:
        path = packaged_model_path(settings.llm_packaged, settings.cache_dir)
        fmt = settings.llm_format if settings.llm_format != "auto" else None
        fmt = fmt or PACKAGED[settings.llm_packaged][1]  # type: ignore[assignment]
    assert fmt in ("chat", "completion")
    return LlamaCppLLM(
        path,
        format=fmt,
        context_tokens=settings.llm_context_tokens,
        threads=settings.llm_threads,
        temperature=settings.llm_temperature,
    )


def make_answerer(
    settings: Settings, embedder: Embedder, doc_freq: DocFreq, llm: LLM | None = None
) -> Answerer:
    model = load_model(settings.answer_model)
    if settings.backend == "extractive":
        return ExtractiveAnswerer(
            embedder,
            doc_freq,
            threshold=settings.answer_threshold,
            max_sentences=settings.answer_sentences,
            model=model,
            cache_dir=settings.cache_dir,
        )
    return GenerativeAnswerer(
        settings.backend,
        llm or make_llm(settings),
        embedder,
        doc_freq,
        load_prompt("answer", settings.prompts_dir),
        threshold=settings.answer_threshold,
        support_threshold=settings.support_threshold,
        unsupported=settings.unsupported,
        evidence_sentences=settings.llm_evidence,
        max_tokens=settings.llm_max_tokens,
        max_sentences=settings.answer_sentences,
        trust_refusal=settings.trust_model_refusal,
        model=model,
        cache_dir=settings.cache_dir,
    )
