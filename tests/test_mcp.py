"""The MCP server (rag.mcp) through the official MCP client: in process with the fake embedder,
over HTTP on a rag serve app in a thread, and as real processes with the real model (slow):
`python -m rag mcp` over stdio and `rag serve` at /mcp with and without its key."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
import uvicorn
from click.testing import CliRunner
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS
from pydantic import SecretStr

from rag.api import Components, RagIndex
from rag.cli import cli
from rag.config import Settings
from rag.errors import ConfigError
from rag.mcp import RagMCP
from rag.server import create_app

from .conftest import FakeEmbedder, free_port, rag_serve, write

KEY = "sk-rag-mcp-test-0123456789"
DOCS = {
    "kiln.md": "# Kiln\n\nThe kiln controller runs firmware version 4.2 from the vendor. "
    "Pottery glazes melt at high temperatures in the kiln.\n",
    "bikes.txt": "Bicycles need their chains oiled every month. Tyres lose pressure in winter.\n",
}
QUESTION = "Which firmware version does the kiln controller run?"
UNANSWERABLE = "What is the boiling point of mercury on Jupiter?"
TOOLS = {"search", "ask", "list_documents"}


def run(fn: Callable[[], Awaitable[Any]]) -> Any:
    """anyio.run, with a failure inside the client's task groups raised as itself."""
    try:
        return anyio.run(fn)
    except BaseExceptionGroup as group:
        leaves = _leaves(group)
        if len(leaves) == 1:
            raise leaves[0] from group
        raise


def _leaves(group: BaseExceptionGroup) -> list[BaseException]:
    out: list[BaseException] = []
    for exc in group.exceptions:
        out += _leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc]
    return out


def ingest(index: RagIndex, folder: Path) -> None:
    for name, text in DOCS.items():
        write(folder / name, text)
    index.ingest([folder])


def doc_text(index: RagIndex, doc_id: str) -> str:
    return index.store.document(doc_id).text


def check_answer(result: Any, index: RagIndex | None = None) -> dict[str, Any]:
    """An answer about the kiln, each sentence citing spans whose quote is the document's text."""
    assert not result.is_error, result.content
    answer = result.structured_content
    assert answer["refused"] is False
    assert "4.2" in answer["answer"]
    numbers = {c["number"] for c in answer["citations"]}
    assert numbers and all(set(s["citations"]) <= numbers for s in answer["sentences"])
    assert all(s["citations"] for s in answer["sentences"])
    cited = answer["citations"][0]
    assert cited["source"].endswith("kiln.md") and "4.2" in cited["quote"]
    assert cited["uri"] == f"rag://documents/{cited['doc_id']}"
    if index is not None:
        for c in answer["citations"]:
            assert doc_text(index, c["doc_id"])[c["start"] : c["end"]] == c["quote"]
    text = result.content[0].text  # what the model reads: markers, then the quoted sources
    assert "[1]" in text and "Sources:" in text and cited["quote"][:20] in text
    return answer


def check_passages(result: Any, index: RagIndex | None = None) -> list[dict[str, Any]]:
    assert not result.is_error, result.content
    passages = result.structured_content["passages"]
    assert passages and passages[0]["source"].endswith("kiln.md")
    assert [p["rank"] for p in passages] == list(range(1, len(passages) + 1))
    for p in passages:
        assert p["location"].endswith(f"chars {p['start']}-{p['end']}")
        if index is not None:
            assert doc_text(index, p["doc_id"])[p["start"] : p["end"]] == p["text"]
    return passages


@pytest.fixture
def filled(index: RagIndex, tmp_path: Path) -> RagIndex:
    ingest(index, tmp_path / "docs")
    return index


def test_tools_listed_with_schemas_and_search_ask_cite_spans(filled: RagIndex) -> None:
    async def go() -> None:
        async with Client(RagMCP(filled)) as client:
            tools = {t.name: t for t in (await client.list_tools()).tools}
            assert set(tools) == TOOLS
            assert tools["search"].input_schema["required"] == ["query"]
            assert tools["ask"].input_schema["required"] == ["question"]
            assert "refused" in tools["ask"].output_schema["properties"]
            assert all(t.annotations and t.annotations.read_only_hint for t in tools.values())

            found = await client.call_tool("search", {"query": "kiln firmware version", "k": 2})
            assert len(check_passages(found, filled)) == 2
            only_txt = await client.call_tool("search", {"query": "kiln", "file_types": ["txt"]})
            assert {p["source"][-9:] for p in only_txt.structured_content["passages"]} == {
                "bikes.txt"
            }
            check_answer(await client.call_tool("ask", {"question": QUESTION}), filled)

            refused = await client.call_tool("ask", {"question": UNANSWERABLE})
            assert not refused.is_error
            body = refused.structured_content
            assert body["refused"] is True and body["citations"] == [] and body["closest"]
            assert "Closest passages" in refused.content[0].text

    run(go)


def test_documents_are_listed_and_readable_as_resources(filled: RagIndex) -> None:
    async def go() -> None:
        async with Client(RagMCP(filled)) as client:
            listed = await client.call_tool("list_documents", {})
            docs = listed.structured_content["documents"]
            assert sorted(Path(d["source"]).name for d in docs) == sorted(DOCS)
            resources = {str(r.uri): r for r in (await client.list_resources()).resources}
            assert set(resources) == {d["uri"] for d in docs}
            for d in docs:
                read = await client.read_resource(d["uri"])
                assert read.contents[0].text == DOCS[Path(d["source"]).name]
                assert read.contents[0].mime_type == "text/plain"
            with pytest.raises(MCPError) as missing:
                await client.read_resource("rag://documents/000000000000")
            assert missing.value.error.code == INVALID_PARAMS

    run(go)


def test_unknown_tool_and_bad_arguments_are_errors_not_crashes(filled: RagIndex) -> None:
    async def go() -> None:
        async with Client(RagMCP(filled)) as client:
            with pytest.raises(MCPError) as unknown:
                await client.call_tool("delete_everything", {})
            assert unknown.value.error.code == INVALID_PARAMS
            assert "delete_everything" in unknown.value.error.message
            for args, field in [
                ({"query": "kiln", "k": "ten"}, "k"),
                ({"query": "kiln", "k": 0}, "k"),
                ({"query": "kiln", "mode": "fuzzy"}, "mode"),
                ({"query": ""}, "query"),
                ({"query": "   "}, "query: must hold more than blanks"),
                ({}, "query"),
            ]:
                bad = await client.call_tool("search", args)
                assert bad.is_error, args
                assert field in bad.content[0].text, (args, bad.content[0].text)
                # one line a model can act on, not pydantic's dump and its link
                assert bad.content[0].text.startswith("invalid arguments to search: ")
                assert "pydantic" not in bad.content[0].text and "\n" not in bad.content[0].text
            bad = await client.call_tool("ask", {"question": "x" * 10001})
            assert bad.is_error and "question: String should have at most" in bad.content[0].text
            # the server is still there, and answers
            check_passages(await client.call_tool("search", {"query": "kiln firmware"}))

    run(go)


def test_rag_errors_reach_the_caller_with_their_message(settings: Settings, tmp_path: Path) -> None:
    def no_model(settings: Settings) -> Any:
        raise ConfigError("no language model configured: set RAG_LOCAL_MODEL")

    local = settings.model_copy(update={"backend": "local"})
    components = Components(embedder=lambda s: FakeEmbedder(), llm=no_model)
    with RagIndex.open(local, components=components) as idx:
        ingest(idx, tmp_path / "docs")

        async def go() -> None:
            async with Client(RagMCP(idx)) as client:
                failed = await client.call_tool("ask", {"question": QUESTION})
                assert failed.is_error
                assert "set RAG_LOCAL_MODEL" in failed.content[0].text
                check_passages(await client.call_tool("search", {"query": "kiln firmware"}))

        run(go)


def test_rag_mcp_without_an_index_exits_saying_how_to_build_one(tmp_path: Path) -> None:
    # An assistant shows a server that will not start by its stderr: it must say what to do.
    result = CliRunner().invoke(cli, ["--index", str(tmp_path / "none"), "mcp"])
    assert result.exit_code == 1 and "rag ingest" in result.output


@pytest.fixture
def http_app(settings: Settings, filled: RagIndex, request: pytest.FixtureRequest) -> Iterator[str]:
    """create_app on a uvicorn server in a thread (the fake embedder); yields the /mcp URL."""
    keys = [SecretStr(k) for k in request.param]
    app = create_app(settings.model_copy(update={"api_keys": keys}), filled)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{server.config.port}/mcp"
    finally:
        server.should_exit = True
        thread.join(15)


async def over_http(url: str, headers: dict[str, str], mode: str = "auto") -> None:
    async with (
        httpx2.AsyncClient(headers=headers) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS
        check_passages(await client.call_tool("search", {"query": "kiln firmware"}))
        check_answer(await client.call_tool("ask", {"question": QUESTION}))
        with pytest.raises(MCPError):
            await client.call_tool("no_such_tool", {})


def refused_by(url: str, headers: dict[str, str]) -> MCPError:
    """The official client cannot connect: the error it raised."""
    with pytest.raises(MCPError) as failed:
        run(lambda: over_http(url, headers))
    return failed.value


@pytest.mark.parametrize("http_app", [[KEY]], indirect=True)
def test_http_needs_the_api_key(http_app: str) -> None:
    init = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {KEY}"}):
        r = httpx.post(http_app, json=init, headers=headers, timeout=10)
        assert r.status_code == 401, (headers, r.text)
        assert r.json()["error"]["code"] == "invalid_api_key"
        assert "Bearer" in r.json()["error"]["message"]
    refused_by(http_app, {})
    auth = {"Authorization": f"Bearer {KEY}"}
    run(lambda: over_http(http_app, auth))  # the 2026 protocol, no handshake
    run(lambda: over_http(http_app, auth, mode="legacy"))  # initialize, as clients of 2025 do


@pytest.mark.parametrize("http_app", [[]], indirect=True)
def test_http_without_keys_is_open_to_loopback_only(http_app: str) -> None:
    run(lambda: over_http(http_app, {}))
    foreign = {"Host": "evil.example:80"}  # a rebinding DNS name: refused as on every route
    r = httpx.post(http_app, json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=foreign)
    assert r.status_code == 403 and r.json()["error"]["code"] == "host_not_allowed"


# ----------------------------------------------------------- real processes, the real model
@pytest.fixture(scope="module")
def real_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An index built with the real model, the way `rag ingest` builds it."""
    base = tmp_path_factory.mktemp("mcp")
    with RagIndex.open(Settings(index=base / "index")) as idx:
        ingest(idx, base / "docs")
    return base / "index"


def rag_env(index: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return {**env, "RAG_INDEX": str(index), **extra}


@pytest.mark.slow
def test_stdio_subprocess_lists_tools_searches_and_answers(real_index: Path) -> None:
    params = StdioServerParameters(
        command=sys.executable,
        args=["-m", "rag", "mcp"],
        env=rag_env(real_index),
        cwd=real_index.parent,
    )

    async def go() -> None:
        async with Client(params, read_timeout_seconds=120) as client:
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            check_passages(await client.call_tool("search", {"query": "kiln firmware"}))
            answer = check_answer(await client.call_tool("ask", {"question": QUESTION}))
            with pytest.raises(MCPError):
                await client.call_tool("no_such_tool", {})
            bad = await client.call_tool("ask", {"question": QUESTION, "k": -1})
            assert bad.is_error
            read = await client.read_resource(answer["citations"][0]["uri"])
            assert read.contents[0].text == DOCS["kiln.md"]

    run(go)


@pytest.mark.slow
def test_rag_serve_subprocess_mcp_with_and_without_key(real_index: Path, tmp_path: Path) -> None:
    env = rag_env(real_index, RAG_API_KEYS=KEY)
    with rag_serve(env, tmp_path / "serve.log", cwd=tmp_path, wait_s=120) as url:
        assert httpx.post(f"{url}/mcp", json={}, timeout=10).status_code == 401
        refused_by(f"{url}/mcp", {"Authorization": "Bearer nope"})
        run(lambda: over_http(f"{url}/mcp", {"Authorization": f"Bearer {KEY}"}))
