"""Shared fixtures: a deterministic fake embedder, clean environments, and the shared data."""

from __future__ import annotations

import hashlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from rag.api import Components, RagIndex
from rag.config import Settings
from rag.embeddings import Embedder
from rag.prompts import Prompt

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # nothing leaves the machine in tests
ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("RAG_SHARED_DIR", ROOT.parent / "shared"))
_TOKEN = re.compile(r"\w+|[^\w\s]")


class FakeEmbedder(Embedder):
    """Hashed bag of words: texts sharing words get similar vectors. Counts every call."""

    def __init__(self, dim: int = 64, version: str = "v1", max_tokens: int = 254) -> None:
        self.name = f"fake-hash-{dim}"
        self.dim = dim
        self.max_tokens = max_tokens
        self.batch_size = 16
        self.version = version
        self.embedded: list[str] = []

    @property
    def fingerprint(self) -> str:
        return f"fake-{self.dim}-{self.version}"

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(_TOKEN.findall(t)) for t in texts]

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        self.embedded += texts
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            for word in re.findall(r"\w+", text.lower()):
                h = int.from_bytes(hashlib.md5(word.encode()).digest()[:4], "little")
                out[i, h % self.dim] += 1.0 if (h >> 16) & 1 else -1.0
            out[i, 0] += 0.01  # never all-zero
        return out


class ScriptedLLM:
    """A language model that replies with a fixed text, a few characters at a time, and
    records each prompt (the `MockModel.enqueue` of llm's tests)."""

    name = "scripted"

    def __init__(self, reply: str, fmt: str = "chat", context_tokens: int = 4096) -> None:
        self.reply = reply
        self.format = fmt
        self.context_tokens = context_tokens
        self.prompts: list[Prompt] = []
        self.pieces_sent = 0
        self.closed = False

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def stream(self, prompt: Prompt, *, max_tokens: int) -> Iterator[str]:
        self.prompts.append(prompt)
        try:
            for i in range(0, len(self.reply), 7):
                self.pieces_sent += 1
                yield self.reply[i : i + 7]
        finally:
            self.closed = True


def fakes(reply: str | None = None) -> Components:
    """Collaborators for the command line and the app: the fake embedder, and a scripted model
    replying `reply` for the local and openai backends."""

    def llm(settings: Settings) -> ScriptedLLM:
        if reply is None:
            raise AssertionError("this test did not script a model reply")
        return ScriptedLLM(reply)

    return Components(embedder=lambda settings: FakeEmbedder(), llm=llm)


@pytest.fixture(autouse=True)
def clean_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test runs in its own folder with no RAG_* settings from the outside."""
    for key in list(os.environ):
        if key.startswith("RAG_") and key != "RAG_SHARED_DIR":
            monkeypatch.delenv(key)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    return work


@pytest.fixture
def fake_embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return store_settings(tmp_path)


# The stores the store, ingest and retrieval tests run against (issue 16): test modules that
# cover both parametrise `settings` with these. milvus is Milvus Lite (the scale extra).
STORES = ("local", "milvus")


def store_settings(tmp_path: Path, store: str = "local") -> Settings:
    return Settings(
        index=tmp_path / "index",
        chunk_tokens=40,
        chunk_overlap=8,
        commit_every=8,
        store=store,  # type: ignore[arg-type]
    )


@pytest.fixture
def index(settings: Settings, fake_embedder: FakeEmbedder):
    idx = RagIndex.open(settings, fake_embedder)
    yield idx
    idx.close()


def shared(*parts: str) -> Path:
    """A path in ../shared; missing data fails under CI and skips elsewhere."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        msg = f"shared data missing: {path}"
        if os.environ.get("CI"):
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def rag_serve(
    env: dict[str, str], log_path: Path, *args: str, cwd: Path | None = None, wait_s: float = 180
) -> Iterator[str]:
    """`rag serve` as a real process on a free loopback port: yields its URL once /healthz
    answers (the log is the error if it never does); interrupted, then killed, on exit."""
    import httpx

    port = free_port()
    log = log_path.open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag", "serve", "--no-access-log", "--port", str(port), *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=cwd,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"rag serve did not start:\n{log_path.read_text()}")
            time.sleep(0.2)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
