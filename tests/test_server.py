"""rag serve with the fake embedder: endpoints, limits, auth, errors, batching, metrics."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient

from rag.api import RagIndex
from rag.config import Settings
from rag.errors import ConfigError
from rag.server import EmbeddingBatcher, Metrics, check_bind, create_app

from .conftest import STORES, FakeEmbedder, write

LOREM = "Clouds drift slowly over the quiet hills while farmers tend their fields."
KILN = (
    "# Kiln\n\nThe kiln controller runs firmware version 4.2 from the vendor. "
    f"{LOREM}\n\nPottery glazes melt at high temperatures in the kiln."
)
QUESTION = "Which firmware version does the kiln controller run?"


# Without API keys rag serve answers loopback Host names only (security.py).
LOCAL = "http://127.0.0.1"


def make_client(tmp_path: Path, embedder: FakeEmbedder | None = None, **overrides) -> TestClient:
    settings = Settings(
        index=tmp_path / "index", chunk_tokens=40, chunk_overlap=8, commit_every=8, **overrides
    )
    app = create_app(settings, embedder=embedder or FakeEmbedder())
    return TestClient(app, base_url=LOCAL)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:
        yield c


@pytest.fixture(params=STORES)
def store(request) -> str:
    """The search, answer and document endpoints run on each store (RAG_STORE)."""
    return request.param


@pytest.fixture
def store_client(tmp_path: Path, store: str) -> Iterator[TestClient]:
    with make_client(tmp_path, store=store) as c:
        yield c


@pytest.fixture
def loaded(tmp_path: Path, store: str) -> Iterator[TestClient]:
    write(tmp_path / "d" / "kiln.md", KILN)
    write(tmp_path / "d" / "other.txt", "Bicycles need their chains oiled every month. " + LOREM)
    with make_client(tmp_path, store=store) as c:
        c.app.state.server.index.ingest([tmp_path / "d"])  # type: ignore[attr-defined]
        yield c


def fake() -> FakeEmbedder:
    return FakeEmbedder()


# ------------------------------------------------------------------------------ embeddings
def test_embeddings_match_the_embedder_and_report_tokens_and_fingerprint(client) -> None:
    texts = ["the kiln runs hot", "a bicycle chain", "oil"]
    r = client.post("/v1/embeddings", json={"input": texts, "model": "fake-hash-64"})
    assert r.status_code == 200, r.text
    body = r.json()
    got = np.array([d["embedding"] for d in body["data"]], dtype=np.float32)
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    np.testing.assert_allclose(got, fake().embed(texts), atol=1e-6)
    assert body["usage"] == {"prompt_tokens": 8, "total_tokens": 8}
    assert body["model"] == "fake-hash-64" and body["object"] == "list"
    assert body["model_fingerprint"] == "fake-64-v1" == r.headers["x-model-fingerprint"]
    # the index manifest records the same fingerprint
    assert client.app.state.server.index.info()["embedding"]["fingerprint"] == "fake-64-v1"

    one = client.post("/v1/embeddings", json={"input": "the kiln runs hot"}).json()
    assert len(one["data"]) == 1
    np.testing.assert_allclose(one["data"][0]["embedding"], got[0], atol=1e-6)


def test_base64_is_little_endian_float32(client) -> None:
    r = client.post(
        "/v1/embeddings", json={"input": ["kiln", "chain"], "encoding_format": "base64"}
    )
    assert r.status_code == 200
    vecs = [np.frombuffer(base64.b64decode(d["embedding"]), dtype="<f4") for d in r.json()["data"]]
    np.testing.assert_allclose(np.stack(vecs), fake().embed(["kiln", "chain"]), atol=1e-7)


def test_models_list_both_models(client) -> None:
    data = client.get("/v1/models").json()["data"]
    emb = next(m for m in data if m["kind"] == "embedding")
    assert emb["id"] == "fake-hash-64" and emb["fingerprint"] == "fake-64-v1"
    assert emb["dimensions"] == 64 and emb["max_input_tokens"] == 254
    assert client.get("/v1/models/fake-hash-64").json()["id"] == "fake-hash-64"
    assert client.get("/v1/models/rag").json()["kind"] == "chat"
    assert client.get("/v1/models/gpt-9").status_code == 404


@pytest.mark.parametrize(
    ("payload", "status", "code"),
    [
        ({"input": "x", "model": "text-embedding-3-small"}, 404, "model_not_found"),
        ({"input": "x", "dimensions": 32}, 400, "unsupported_dimensions"),
        ({"input": []}, 400, "invalid_value"),
        ({"input": [1, 2, 3]}, 400, "unsupported_input"),
        ({"input": 5}, 422, "invalid_value"),
        ({"input": "x", "encoding_format": "int8"}, 422, "invalid_value"),
        ({"model": "fake-hash-64"}, 422, "invalid_value"),
    ],
)
def test_embedding_errors_are_clear_4xx(client, payload, status, code) -> None:
    r = client.post("/v1/embeddings", json=payload)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["message"] and err["type"]
    if code:
        assert err["code"] == code


# A lone UTF-16 surrogate ("\ud800" in JSON) parses but is not text: it was a 500 from the
# tokenizer (embeddings), the response encoder (chat) or the filter query (file_types).
SURROGATE = "abc \\ud800 def"


@pytest.mark.parametrize(
    ("route", "body", "param"),
    [
        ("/v1/embeddings", '{"input": "%s"}', "input"),
        ("/v1/embeddings", '{"input": ["ok", "%s"]}', "input.1"),
        ("/v1/search", '{"query": "%s"}', "query"),
        ("/v1/search", '{"query": "kiln", "file_types": ["%s"]}', "file_types.0"),
        ("/v1/ask", '{"question": "%s"}', "question"),
        ("/v1/chat/completions", '{"messages": [{"role": "user", "content": "%s"}]}', None),
        (
            "/v1/chat/completions",
            '{"stream": true, "messages": [{"role": "user", "content": "%s"}]}',
            "messages.0.content",
        ),
    ],
)
def test_text_that_is_not_unicode_is_a_422_naming_the_field(client, route, body, param) -> None:
    r = client.post(route, content=body % SURROGATE, headers={"content-type": "application/json"})
    assert r.status_code == 422, r.text
    err = r.json()["error"]
    assert err["param"] == (param or "messages.0.content")
    assert "surrogate" in err["message"] and err["message"].startswith(err["param"] + ": ")


def test_filters_with_control_characters_are_refused(client) -> None:
    """SQLite's GLOB stops at a NUL: "\\0zzz" became "*" and matched every document."""
    r = client.post("/v1/search", json={"query": "kiln", "path": "\x00zzz"})
    assert r.status_code == 422 and r.json()["error"]["param"] == "path"
    assert "control characters" in r.json()["error"]["message"]
    r = client.post("/v1/search", json={"query": "kiln", "file_types": ["md\n"]})
    assert r.status_code == 422 and r.json()["error"]["param"] == "file_types"


def test_bad_filters_and_blank_text_are_422s_naming_the_field(client) -> None:
    """As the error table says: a wrong field value is a 422 whose `param` names it (an
    unknown type or an unclosed [ was a 400 without one; a blank query a 200 with no hits,
    a blank question a refusal that read as "the documents do not say")."""
    cases = [
        ("/v1/search", {"query": "kiln", "file_types": ["exe"]}, "file_types", "pdf"),
        ("/v1/search", {"query": "kiln", "path": "report[1.pdf"}, "path", "never closed"),
        ("/v1/ask", {"question": "kiln?", "file_types": ["exe"]}, "file_types", "pdf"),
        ("/v1/search", {"query": ""}, "query", "empty"),
        ("/v1/search", {"query": "   "}, "query", "empty"),
        ("/v1/ask", {"question": ""}, "question", "empty"),
        (
            "/v1/chat/completions",
            {"messages": [{"role": "user", "content": "kiln?"}], "path": "["},
            "path",
            "never closed",
        ),
    ]
    for route, body, param, says in cases:
        r = client.post(route, json=body)
        assert r.status_code == 422, (route, body, r.text)
        error = r.json()["error"]
        assert error["code"] == "invalid_value" and error["param"] == param
        assert says in error["message"]
    assert (
        client.post("/v1/search", json={"query": "kiln", "file_types": [".MD"]}).status_code == 200
    )


def test_an_empty_string_has_nothing_to_embed(client) -> None:
    for body in ({"input": ""}, {"input": ["kiln", ""]}):
        r = client.post("/v1/embeddings", json=body)
        assert r.status_code == 400 and r.json()["error"]["param"] == "input", r.text
        assert "empty string" in r.json()["error"]["message"]


def test_union_fields_say_which_types_they_take(client) -> None:
    r = client.post("/v1/embeddings", json={"input": ["a", 1]})
    assert r.json()["error"]["message"] == "input: expected a string or a list of strings"
    r = client.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": 5}]})
    assert r.json()["error"]["message"] == (
        "messages.0.content: expected a string or a list of content parts"
    )


def test_own_dimension_is_accepted(client) -> None:
    assert client.post("/v1/embeddings", json={"input": "x", "dimensions": 64}).status_code == 200


def test_too_many_inputs(tmp_path) -> None:
    with make_client(tmp_path, max_inputs=3) as c:
        assert c.post("/v1/embeddings", json={"input": ["a"] * 3}).status_code == 200
        r = c.post("/v1/embeddings", json={"input": ["a"] * 4})
        assert r.status_code == 400 and r.json()["error"]["code"] == "too_many_inputs"
        assert "3" in r.json()["error"]["message"]


def test_long_input_rejected_unless_truncation_asked(client) -> None:
    long = " ".join(["word"] * 300)  # 300 tokens, the model reads 254
    r = client.post("/v1/embeddings", json={"input": ["ok", long]})
    assert r.status_code == 400
    err = r.json()["error"]
    assert (
        err["code"] == "input_too_long" and "input[1]" in err["message"] and "300" in err["message"]
    )
    r = client.post("/v1/embeddings", json={"input": ["ok", long], "truncate": True})
    assert r.status_code == 200
    assert r.json()["usage"]["prompt_tokens"] == 1 + 254


def test_malformed_json_is_400(client) -> None:
    r = client.post(
        "/v1/embeddings", content=b'{"input": "x",', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and r.json()["error"]["code"] == "json_invalid"


def test_body_over_the_limit_is_413(tmp_path) -> None:
    with make_client(tmp_path, max_body_mb=0.001) as c:  # 1048 bytes
        r = c.post("/v1/embeddings", json={"input": "x" * 2000})
        assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while read
            yield b'{"input": "'
            for _ in range(30):
                yield b"y" * 100
            yield b'"}'

        r = c.post("/v1/embeddings", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413
        assert c.post("/v1/embeddings", json={"input": "small"}).status_code == 200


# ------------------------------------------------------------------------------ auth
def test_api_keys(tmp_path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "sk-test-very-secret-123"
    with make_client(tmp_path, api_keys=[secret, "other-key"]) as c:
        assert c.get("/healthz").status_code == 200  # health needs no key
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": secret}):
            r = c.post("/v1/embeddings", json={"input": "x"}, headers=headers)
            assert r.status_code == 401, headers
            assert r.json()["error"]["type"] == "authentication_error"
            assert r.headers["www-authenticate"] == "Bearer"
            assert secret not in r.text
        assert c.get("/metrics").status_code == 401
        ok = {"Authorization": f"Bearer {secret}"}
        assert c.post("/v1/embeddings", json={"input": "x"}, headers=ok).status_code == 200
        other = {"Authorization": "Bearer other-key"}
        assert c.get("/v1/documents", headers=other).status_code == 200
    assert secret not in caplog.text


def test_binding_beyond_loopback_needs_keys() -> None:
    check_bind(Settings(host="127.0.0.1"))
    check_bind(Settings(host="::1"))
    check_bind(Settings(host="localhost"))
    with pytest.raises(ConfigError, match="RAG_API_KEYS"):
        check_bind(Settings(host="0.0.0.0"))
    check_bind(Settings(host="0.0.0.0", api_keys=["k"]))
    assert "sk-hidden-42" not in repr(Settings(api_keys=["sk-hidden-42"]))


# ------------------------------------------------------------------------------ batching
def test_batcher_merges_concurrent_requests_within_the_token_bound() -> None:
    emb = FakeEmbedder()
    metrics = Metrics()

    async def main() -> list[np.ndarray]:
        b = EmbeddingBatcher(emb, max_tokens=10, max_wait_s=0.05, metrics=metrics)
        await b.start()
        try:
            return await asyncio.gather(
                *(b.embed([f"text number {i}", f"more {i}"], 4) for i in range(9))
            )
        finally:
            await b.stop()

    results = asyncio.run(main())
    for i, vecs in enumerate(results):
        np.testing.assert_allclose(vecs, emb.embed([f"text number {i}", f"more {i}"]), atol=1e-6)
    # 9 requests of 4 tokens, at most 10 tokens a batch: 2 requests a batch, 5 batches
    s = metrics.batch_texts.series[()]
    assert s[-2] == 5 and metrics.texts_embedded == 18 and metrics.tokens_embedded == 36
    assert metrics.queue_depth == 0


def test_batcher_wait_bound_sends_a_lone_request() -> None:
    async def main() -> float:
        b = EmbeddingBatcher(FakeEmbedder(), max_tokens=1000, max_wait_s=0.2)
        await b.start()
        t0 = time.perf_counter()
        await b.embed(["alone"], 1)
        dt = time.perf_counter() - t0
        await b.stop()
        return dt

    assert 0.15 < asyncio.run(main()) < 2.0


def test_batcher_shares_waiting_texts_between_idle_model_processes() -> None:
    """Two model processes (in_flight=2): 8 requests waiting at once go 4 and 4, computed at the
    same time, and each request gets its own vectors back."""
    emb = FakeEmbedder()
    calls: list[tuple[list[str], float, float]] = []

    def embed_fn(texts: list[str]) -> np.ndarray:
        t0 = time.perf_counter()
        time.sleep(0.3)  # a model call, on its executor thread
        calls.append((texts, t0, time.perf_counter()))
        return emb.embed(texts)

    async def main() -> list[np.ndarray]:
        b = EmbeddingBatcher(emb, max_tokens=1000, max_wait_s=0.05, embed_fn=embed_fn, in_flight=2)
        await b.start()
        try:
            return await asyncio.gather(*(b.embed([f"text {i}"], 2) for i in range(8)))
        finally:
            await b.stop()

    results = asyncio.run(main())
    for i, vecs in enumerate(results):
        np.testing.assert_allclose(vecs, emb.embed([f"text {i}"]), atol=1e-6)
    assert sorted(len(texts) for texts, _, _ in calls) == [4, 4]
    (_, a0, a1), (_, b0, b1) = calls
    assert max(a0, b0) < min(a1, b1)  # side by side, not one after the other


def test_batcher_with_one_model_process_takes_everything_waiting() -> None:
    emb = FakeEmbedder()
    sizes: list[int] = []

    def embed_fn(texts: list[str]) -> np.ndarray:
        sizes.append(len(texts))
        return emb.embed(texts)

    async def main() -> None:
        b = EmbeddingBatcher(emb, max_tokens=1000, max_wait_s=0.05, embed_fn=embed_fn)
        await b.start()
        try:
            await asyncio.gather(*(b.embed([f"text {i}"], 2) for i in range(8)))
        finally:
            await b.stop()

    asyncio.run(main())
    assert sizes == [8]


def test_stopping_the_batcher_fails_batches_in_flight() -> None:
    emb = FakeEmbedder()

    def embed_fn(texts: list[str]) -> np.ndarray:
        time.sleep(0.3)
        return emb.embed(texts)

    async def main() -> BaseException | None:
        b = EmbeddingBatcher(emb, max_tokens=1000, max_wait_s=0.0, embed_fn=embed_fn, in_flight=2)
        await b.start()
        pending = asyncio.ensure_future(b.embed(["x"], 1))
        await asyncio.sleep(0.1)  # its batch is being computed
        await b.stop()
        try:
            await asyncio.wait_for(pending, 2.0)
        except RuntimeError as exc:
            return exc
        return None

    exc = asyncio.run(main())
    assert exc is not None and "shutting down" in str(exc)


class SlowEmbedder(FakeEmbedder):
    def _embed_batch(self, texts):
        time.sleep(2.0)  # a blocking model call
        return super()._embed_batch(texts)


def test_health_answers_while_the_model_runs(tmp_path) -> None:
    settings = Settings(index=tmp_path / "index")
    app = create_app(settings, embedder=SlowEmbedder())

    async def main() -> tuple[float, int]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url=LOCAL) as c:
                slow = asyncio.create_task(c.post("/v1/embeddings", json={"input": "x"}))
                await asyncio.sleep(0.2)  # the model is busy now
                t0 = time.perf_counter()
                h = await c.get("/healthz")
                dt = time.perf_counter() - t0
                assert not slow.done()
                assert (await slow).status_code == 200
                return dt, h.status_code

    dt, status = asyncio.run(main())
    # A loop blocked by the model answers only when the 2 s model call ends (>= 1.8 s after the
    # probe); a free one in milliseconds. 1 s leaves a busy shared machine room, and no more.
    assert status == 200 and dt < 1.0, dt


# ------------------------------------------------------------------------------ search, ask, chat
def test_search(loaded) -> None:
    r = loaded.post("/v1/search", json={"query": "kiln firmware", "k": 2, "mode": "hybrid"})
    assert r.status_code == 200
    hits = r.json()["hits"]
    assert hits and hits[0]["source"].endswith("kiln.md") and len(hits) <= 2
    r = loaded.post("/v1/search", json={"query": "bicycle chains kiln", "file_types": ["txt"]})
    hits = r.json()["hits"]  # the filter keeps the txt file's hits and drops kiln.md's
    assert hits and all(h["file_type"] == "txt" for h in hits)
    assert hits[0]["source"].endswith("other.txt")
    assert loaded.post("/v1/search", json={"query": "x", "mode": "fuzzy"}).status_code == 422
    assert loaded.post("/v1/search", json={"query": "x", "k": 0}).status_code == 422


def test_ask_json_and_stream(loaded) -> None:
    r = loaded.post("/v1/ask", json={"question": QUESTION})
    assert r.status_code == 200
    answer = r.json()
    assert not answer["refused"] and "4.2" in answer["text"] and answer["citations"]

    with loaded.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as s:
        assert s.headers["content-type"].startswith("text/event-stream")
        events = _sse(s.iter_lines())
    names = [e for e, _ in events]
    assert names[-2:] == ["answer", "done"] and "sentence" in names
    final = events[-2][1]
    assert final["rendered"] == answer["rendered"] and final["citations"] == answer["citations"]
    kept = [d["rendered"] for e, d in events if e == "sentence" and d["kept"]]
    assert " ".join(kept) == answer["rendered"]


def test_chat_completions_answer_from_documents(loaded) -> None:
    msgs = [{"role": "system", "content": "be brief"}, {"role": "user", "content": QUESTION}]
    r = loaded.post("/v1/chat/completions", json={"model": "rag", "messages": msgs})
    assert r.status_code == 200, r.text
    body = r.json()
    content = body["choices"][0]["message"]["content"]
    assert "4.2" in content and "[1]" in content and body["object"] == "chat.completion"
    assert body["citations"][0]["source"].endswith("kiln.md") and body["refused"] is False
    assert body["usage"]["total_tokens"] > 0

    with loaded.stream(
        "POST", "/v1/chat/completions", json={"model": "rag", "messages": msgs, "stream": True}
    ) as s:
        lines = [ln for ln in s.iter_lines() if ln.startswith("data: ")]
    assert lines[-1] == "data: [DONE]"
    chunks = [json.loads(ln[6:]) for ln in lines[:-1]]
    streamed = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert streamed == content
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["citations"] == body["citations"]


def test_chat_refuses_what_the_documents_do_not_say(loaded) -> None:
    msgs = [{"role": "user", "content": "What is the boiling point of liquid nitrogen?"}]
    body = loaded.post("/v1/chat/completions", json={"messages": msgs}).json()
    assert body["refused"] is True and body["choices"][0]["message"]["content"]
    r = loaded.post("/v1/chat/completions", json={"messages": [{"role": "system", "content": "x"}]})
    assert r.status_code == 400


def test_chat_refuses_other_models_and_pasted_books(client) -> None:
    """A reply must not claim to come from a model it did not (it said "model": "gpt-4o"), and
    a user message is a question, limited as /v1/ask's is (190 KB took 7 s of CPU)."""
    msgs = [{"role": "user", "content": "Which firmware does the kiln run?"}]
    r = client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": msgs})
    assert r.status_code == 404 and r.json()["error"]["code"] == "model_not_found"
    assert "'rag'" in r.json()["error"]["message"]
    long = [{"role": "user", "content": "kiln " * 2001}]
    r = client.post("/v1/chat/completions", json={"messages": long})
    assert r.status_code == 400 and r.json()["error"]["code"] == "question_too_long"


def test_a_server_setting_that_is_wrong_is_a_500_not_the_clients_fault(client, monkeypatch) -> None:
    from rag.conversation import Conversation
    from rag.errors import ConfigError

    def broken(*args, **kwargs):
        raise ConfigError("the answer model was trained on other features; retrain it")

    monkeypatch.setattr(Conversation, "ask", broken)
    r = client.post("/v1/ask", json={"question": "Which firmware?"})
    assert r.status_code == 500, r.text
    assert r.json()["error"]["type"] == "server_error"
    assert r.json()["error"]["code"] == "invalid_setting"


# ------------------------------------------------------------------------------ documents
def test_upload_list_replace_delete(store_client, tmp_path) -> None:
    client = store_client
    files = [("files", ("kiln notes.md", KILN.encode(), "text/markdown"))]
    r = client.post("/v1/documents", files=files)
    assert r.status_code == 201, r.text
    docs = r.json()["documents"]
    assert len(docs) == 1 and docs[0]["source"].endswith("kiln notes.md")
    listed = client.get("/v1/documents").json()["data"]
    assert [d["id"] for d in listed] == [docs[0]["id"]]
    hits = client.post("/v1/search", json={"query": "kiln firmware"}).json()["hits"]
    assert hits and hits[0]["doc_id"] == docs[0]["id"]

    # same name again: the document is replaced, not duplicated
    new = [("files", ("kiln notes.md", b"The kiln now runs firmware 5.0.", "text/markdown"))]
    assert client.post("/v1/documents", files=new).status_code == 201
    listed = client.get("/v1/documents").json()["data"]
    assert len(listed) == 1
    stored = client.app.state.server.index.store.document(listed[0]["id"])
    assert stored.text == "The kiln now runs firmware 5.0."  # the replacing upload's text
    assert Path(listed[0]["source"]).read_bytes() == b"The kiln now runs firmware 5.0."
    hits = client.post("/v1/search", json={"query": "kiln firmware"}).json()["hits"]
    assert [h["text"] for h in hits] == ["The kiln now runs firmware 5.0."]

    r = client.delete(f"/v1/documents/{listed[0]['id']}")
    assert r.status_code == 200 and r.json()["deleted"] is True
    assert client.get("/v1/documents").json()["data"] == []
    assert not Path(listed[0]["source"]).exists()
    assert client.delete(f"/v1/documents/{listed[0]['id']}").status_code == 404


def test_upload_rejects_unsupported_and_unreadable_files(client) -> None:
    r = client.post(
        "/v1/documents", files=[("files", ("tool.exe", b"MZ\x90\x00", "application/x"))]
    )
    assert r.status_code == 415 and ".exe" in r.json()["error"]["message"]
    bad_pdf = [("files", ("broken.pdf", b"not a pdf at all", "application/pdf"))]
    r = client.post("/v1/documents", files=bad_pdf)
    assert r.status_code == 422 and "broken.pdf" in r.json()["error"]["message"]
    assert client.post("/v1/documents").status_code == 422  # no files field
    # a path in the file name never escapes the upload folder
    r = client.post(
        "/v1/documents", files=[("files", ("../../evil.txt", b"plain words here", "text/plain"))]
    )
    assert r.status_code == 201
    src = Path(r.json()["documents"][0]["source"])
    assert src.name == "evil.txt" and "uploads" in src.parts


@pytest.mark.parametrize("empty", [b"", b"  \n\n "])
def test_an_empty_upload_is_refused_and_keeps_the_copy_it_would_replace(client, empty) -> None:
    """Unlike a file emptied in a folder (its document goes at the next ingest), an empty
    upload is a failed one: 422, and the earlier upload stays, on disk and in the index."""
    first = [("files", ("kiln.txt", b"The kiln runs firmware 4.2.", "text/plain"))]
    assert client.post("/v1/documents", files=first).status_code == 201
    r = client.post("/v1/documents", files=[("files", ("kiln.txt", empty, "text/plain"))])
    assert r.status_code == 422, r.text
    assert "version indexed before is kept" in r.json()["error"]["message"]
    docs = client.get("/v1/documents").json()["data"]
    assert len(docs) == 1 and Path(docs[0]["source"]).read_bytes() == b"The kiln runs firmware 4.2."


def test_two_files_of_one_name_in_one_upload_are_both_kept(client) -> None:
    """Two folders' notes.txt sent together: the second is kept as notes (2).txt, as the app
    does (it used to be written over the first, which was lost without a word)."""
    files = [
        ("files", ("a/notes.txt", b"Zebras graze on the budget meadow.", "text/plain")),
        ("files", ("b/notes.txt", b"Giraffes were cancelled from the parade.", "text/plain")),
    ]
    r = client.post("/v1/documents", files=files)
    assert r.status_code == 201, r.text
    names = sorted(Path(d["source"]).name for d in r.json()["documents"])
    assert names == ["notes (2).txt", "notes.txt"]
    texts = {
        Path(d["source"]).name: Path(d["source"]).read_bytes()
        for d in client.get("/v1/documents").json()["data"]
    }
    assert texts == {
        "notes.txt": b"Zebras graze on the budget meadow.",
        "notes (2).txt": b"Giraffes were cancelled from the parade.",
    }


# ------------------------------------------------------------------------------ metrics
def test_metrics_are_prometheus_text(client) -> None:
    client.post("/v1/embeddings", json={"input": ["a b c", "d e"]})
    client.get("/healthz")
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'rag_http_requests_total{method="POST",route="/v1/embeddings",status="200"} 1' in text
    assert (
        'rag_http_request_duration_seconds_bucket{method="GET",route="/healthz",le="+Inf"} 1'
        in text
    )
    assert "rag_embed_batch_size_count 1" in text
    assert "rag_embed_tokens_total 5" in text and "rag_embed_texts_total 2" in text
    assert "rag_embed_queue_depth 0" in text
    for line in text.splitlines():  # every sample line is `name{labels} number`
        if not line.startswith("#"):
            float(line.rsplit(" ", 1)[1])


def _sse(lines) -> list[tuple[str, dict]]:
    events, name = [], "message"
    for line in lines:
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


def test_index_reopened_by_app_is_closed(tmp_path) -> None:
    settings = Settings(index=tmp_path / "index")
    app = create_app(settings, embedder=FakeEmbedder())  # the app opens the index itself
    with TestClient(app, base_url=LOCAL) as c:
        up = [("files", ("a.txt", b"Kilns fire clay.", "text/plain"))]
        assert c.post("/v1/documents", files=up).status_code == 201  # takes the write lock
    own = app.state.server.index
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        own.documents()  # closed on shutdown
    with RagIndex.open(settings, FakeEmbedder()) as again:  # and its write lock released
        again.ingest([write(tmp_path / "b.txt", "Glazes melt.")])
        assert len(again.documents()) == 2

    idx = RagIndex.open(settings, FakeEmbedder())
    with TestClient(create_app(settings, idx), base_url=LOCAL) as c:
        assert c.get("/healthz").json()["status"] == "ok"
    assert len(idx.documents()) == 2  # an index passed in stays open
    idx.close()


def test_cli_serve_refuses_an_open_address_without_keys(tmp_path) -> None:
    from click.testing import CliRunner

    from rag.cli import cli

    res = CliRunner().invoke(cli, ["--index", str(tmp_path / "i"), "serve", "--host", "0.0.0.0"])
    assert res.exit_code == 1 and "RAG_API_KEYS" in res.output
    assert not (tmp_path / "i").exists()  # refused before anything was opened


def test_uploads_and_searches_embed_through_the_batcher_in_pieces(tmp_path) -> None:
    emb = FakeEmbedder()
    with make_client(tmp_path, embedder=emb, batch_max_tokens=50) as c:
        text = "\n\n".join(f"Paragraph {i} about kilns and glazes and firing." for i in range(40))
        r = c.post("/v1/documents", files=[("files", ("big.txt", text.encode(), "text/plain"))])
        assert r.status_code == 201
        n_chunks = r.json()["documents"][0]["n_chunks"]
        metrics = c.app.state.server.metrics
        batches = metrics.batch_texts.series[()][-2]
        assert metrics.texts_embedded == n_chunks and batches >= 2  # no batch over 50 tokens
        tokens = metrics.batch_tokens.series[()]
        assert metrics.batch_tokens.buckets[1] == 64 and tokens[1] == tokens[-2]  # all <= 64
        before = metrics.texts_embedded
        hits = c.post("/v1/search", json={"query": "kilns", "mode": "dense"}).json()["hits"]
        assert hits and metrics.texts_embedded == before + 1  # the query went through it too
        # vectors stored by the upload are the embedder's own
        stored = c.app.state.server.index.store
        some = next(iter(stored.vectors_by_text(r.json()["documents"][0]["id"]).values()))
        assert some.shape == (64,)


def test_the_host_guard_remembers_its_answers_and_stays_bounded(client: TestClient) -> None:
    """The Host check is remembered per header (it was parsed on every request); a refused name
    stays refused, an allowed one allowed, and a client sending endless names fills no memory."""
    for _ in range(2):
        r = client.get("/healthz", headers={"Host": "rebound.evil.example"})
        assert r.status_code == 403 and r.json()["error"]["code"] == "host_not_allowed"
        assert client.get("/healthz", headers={"Host": "localhost:8000"}).status_code == 200
    guard = client.app.middleware_stack
    while type(guard).__name__ != "OriginAndHostGuard":
        guard = guard.app
    for i in range(1100):
        assert not guard._host_allowed(f"name{i}.example")
        assert guard._host_allowed(f"127.0.0.{i % 250 + 1}:80")
    assert len(guard._hosts_seen) == 1024
    assert not guard._host_allowed("rebound.evil.example")


def test_fastapi_telemetry_is_on_only_when_opentelemetry_is_configured(monkeypatch) -> None:
    from rag.server.app import _telemetry

    for key in [k for k in os.environ if k.startswith("OTEL_")]:
        monkeypatch.delenv(key)
    assert _telemetry() == {"tracing": False, "metrics": False, "logs": False}
    monkeypatch.setenv("OTEL_SERVICE_NAME", "rag")
    assert _telemetry() is None  # FastAPI's own defaults: spans and metrics on


@pytest.mark.parametrize(("threads", "expected"), [(1, "false"), (2, None), (None, None)])
def test_a_single_threaded_model_process_keeps_the_tokenizer_to_one_thread(
    monkeypatch, threads: int | None, expected: str | None
) -> None:
    """What the child sees when it starts: a process meant for one core does not wake the
    tokenizer's pool of one thread per core for every batch."""
    from rag.server.worker import ProcessEmbedder

    monkeypatch.delenv("TOKENIZERS_PARALLELISM", raising=False)
    seen: dict[str, str | None] = {}

    class Child:
        def __init__(self, **kwargs) -> None:
            pass

        def start(self) -> None:
            seen["tokenizers"] = os.environ.get("TOKENIZERS_PARALLELISM")
            seen["omp"] = os.environ.get("OMP_NUM_THREADS")

    worker = ProcessEmbedder(Settings(), threads=threads)
    monkeypatch.setattr(worker._ctx, "Process", Child)
    worker.start()
    assert seen["tokenizers"] == expected
    if threads is not None:
        assert seen["omp"] == str(threads)
    assert "TOKENIZERS_PARALLELISM" not in os.environ  # the server's own is left as it was


def test_a_server_with_other_chunk_sizes_searches_but_refuses_uploads(
    tmp_path: Path, caplog
) -> None:
    """The index was cut to 40 tokens, the server's settings say 64: searching works, and an
    upload gets the operator's way out instead of a traceback (the server used not to start)."""
    with make_client(tmp_path) as c:
        r = c.post("/v1/documents", files={"files": ("kiln.md", KILN.encode(), "text/markdown")})
        assert r.status_code == 201, r.text
    settings = Settings(index=tmp_path / "index", chunk_tokens=64, chunk_overlap=8)
    with caplog.at_level(logging.WARNING, logger="rag.server"):
        app = create_app(settings, embedder=FakeEmbedder())
    assert "RAG_CHUNK_TOKENS=40" in caplog.text and "uploads are refused" in caplog.text
    with TestClient(app, base_url=LOCAL) as c:
        r = c.post("/v1/search", json={"query": "kiln firmware"})
        assert r.status_code == 200 and r.json()["hits"], r.text
        r = c.post("/v1/documents", files={"files": ("new.txt", b"Glaze recipes.", "text/plain")})
        assert r.status_code == 500, r.text
        error = r.json()["error"]
        assert error["code"] == "index_mismatch" and "RAG_CHUNK_TOKENS=40" in error["message"]
        names = [Path(d["source"]).name for d in c.get("/v1/documents").json()["data"]]
        assert names == ["kiln.md"]


def test_chat_n_other_than_one_and_a_text_field_for_a_file_say_what_to_send(client) -> None:
    """n=3 returned one choice without a word; a form field where a file belongs showed
    pydantic's "Expected UploadFile, received: <class 'str'>"."""
    msgs = [{"role": "user", "content": "Which firmware does the kiln run?"}]
    r = client.post("/v1/chat/completions", json={"messages": msgs, "n": 3})
    assert r.status_code == 422 and r.json()["error"]["param"] == "n"
    assert "one answer per request" in r.json()["error"]["message"]
    assert client.post("/v1/chat/completions", json={"messages": msgs, "n": 1}).status_code == 200
    r = client.post("/v1/documents", data={"files": "just a string"})
    assert r.status_code == 422, r.text
    message = r.json()["error"]["message"]
    assert "expected a file" in message and "files=@" in message and "UploadFile" not in message
