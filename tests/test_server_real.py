"""rag serve as a real process with the real model: the official openai client, and a load test."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from .conftest import rag_serve
from .health_probe import HEALTH_PROBE

KEY = "sk-rag-test-0123456789"
DOCS = {
    "kiln.md": "# Kiln\n\nThe kiln controller runs firmware version 4.2 from the vendor. "
    "Pottery glazes melt at high temperatures in the kiln.",
    "bikes.txt": "Bicycles need their chains oiled every month. Tyres lose pressure in winter.",
}
QUESTION = "Which firmware version does the kiln controller run?"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[dict]:
    base: Path = tmp_path_factory.mktemp("serve")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_INDEX=str(base / "index"), RAG_API_KEYS=KEY)
    headers = {"Authorization": f"Bearer {KEY}"}
    with rag_serve(env, base / "server.log", cwd=base) as url:
        files = [("files", (name, text.encode(), "text/plain")) for name, text in DOCS.items()]
        r = httpx.post(f"{url}/v1/documents", files=files, headers=headers, timeout=120)
        assert r.status_code == 201, r.text
        yield {"url": url, "index": base / "index", "log": base / "server.log", "headers": headers}


@pytest.fixture(scope="module")
def embedder():
    from rag.embeddings import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder()


@pytest.mark.slow
def test_openai_embeddings_equal_the_index_embedder(server, embedder) -> None:
    import openai

    client = openai.OpenAI(base_url=server["url"] + "/v1", api_key=KEY, max_retries=0)
    texts = [
        "The kiln controller runs firmware version 4.2.",
        "short",
        "A much longer passage about bicycles, chains, tyres and the winter weather " * 5,
        "Ünïcödé text, with accents: café, naïve, Zürich.",
    ]
    expected = embedder.embed(texts)
    resp = client.embeddings.create(model=embedder.name, input=texts)  # base64 by default
    got = np.array([d.embedding for d in resp.data], dtype=np.float32)
    assert got.shape == expected.shape
    assert np.abs(got - expected).max() <= 1e-5
    floats = client.embeddings.create(model=embedder.name, input=texts, encoding_format="float")
    got_f = np.array([d.embedding for d in floats.data], dtype=np.float32)
    assert np.abs(got_f - expected).max() <= 1e-5
    assert resp.usage.prompt_tokens == sum(embedder.count_tokens(texts))
    # the fingerprint in the reply is the one the index manifest records
    manifest = json.loads((server["index"] / "manifest.json").read_text())
    assert resp.model_extra["model_fingerprint"] == manifest["embedding"]["fingerprint"]
    assert manifest["embedding"]["fingerprint"] == embedder.fingerprint

    single = client.embeddings.create(model=embedder.name, input="short")
    assert np.abs(np.array(single.data[0].embedding) - expected[1]).max() <= 1e-5
    assert [m.id for m in client.models.list()] == [embedder.name, "rag"]

    with pytest.raises(openai.BadRequestError, match="dimensions"):
        client.embeddings.create(model=embedder.name, input="x", dimensions=128)
    with pytest.raises(openai.BadRequestError, match="reads 254"):
        client.embeddings.create(model=embedder.name, input="word " * 400)
    cut = client.embeddings.create(
        model=embedder.name, input="word " * 400, extra_body={"truncate": True}
    )
    assert cut.usage.prompt_tokens == 254
    with pytest.raises(openai.AuthenticationError):
        openai.OpenAI(
            base_url=server["url"] + "/v1", api_key="wrong", max_retries=0
        ).embeddings.create(model=embedder.name, input="x")
    assert KEY not in server["log"].read_text()


@pytest.mark.slow
def test_openai_chat_completions_stream_with_citations(server) -> None:
    import openai

    client = openai.OpenAI(base_url=server["url"] + "/v1", api_key=KEY, max_retries=0)
    messages = [{"role": "user", "content": QUESTION}]
    whole = client.chat.completions.create(model="rag", messages=messages)
    content = whole.choices[0].message.content
    assert content and "4.2" in content and "[1]" in content
    citations = whole.model_extra["citations"]
    assert citations[0]["source"].endswith("kiln.md") and "4.2" in citations[0]["quote"]

    stream = client.chat.completions.create(model="rag", messages=messages, stream=True)
    pieces, last = [], None
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        last = chunk
    assert "".join(pieces) == content
    assert last is not None and last.choices[0].finish_reason == "stop"
    assert last.model_extra["citations"] == citations

    refused = client.chat.completions.create(
        model="rag", messages=[{"role": "user", "content": "Who won the 1998 world cup?"}]
    )
    assert refused.model_extra["refused"] is True


WORDS = [
    "kiln",
    "firmware",
    "pottery",
    "glaze",
    "bicycle",
    "chain",
    "tyre",
    "winter",
    "index",
    "search",
    "answer",
    "citation",
    "document",
    "vector",
    "token",
    "batch",
    "server",
    "client",
    "latency",
    "model",
    "embedding",
    "sentence",
    "paragraph",
]


def _texts(rng: random.Random) -> list[str]:
    return [
        " ".join(rng.choices(WORDS, k=rng.choice((4, 12, 40, 120))))
        for _ in range(rng.randint(1, 4))
    ]


@pytest.mark.slow
def test_load_32_clients_for_60_seconds(server) -> None:
    """32 clients embed (and some search) for 60 s: no errors, and /healthz answers from the
    event loop while the model works (its latency figures are in BENCHMARKS.md)."""
    seconds, clients = 60.0, 32
    host, port = server["url"].removeprefix("http://").split(":")
    probe = subprocess.Popen(
        [sys.executable, "-c", HEALTH_PROBE, host, port, str(seconds)],
        stdout=subprocess.PIPE,
        text=True,
    )
    errors: list[str] = []
    done = {"embed": 0, "search": 0, "texts": 0}
    latencies: list[float] = []

    async def client(i: int, c: httpx.AsyncClient, end: float) -> None:
        rng = random.Random(i)
        while time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                if rng.random() < 0.1:
                    r = await c.post(
                        "/v1/search", json={"query": " ".join(rng.choices(WORDS, k=5))}
                    )
                    ok = r.status_code == 200 and "hits" in r.json()
                    kind = "search"
                else:
                    texts = _texts(rng)
                    r = await c.post(
                        "/v1/embeddings", json={"input": texts, "model": "all-MiniLM-L6-v2"}
                    )
                    ok = r.status_code == 200 and len(r.json()["data"]) == len(texts)
                    kind = "embed"
                    done["texts"] += len(texts)
                if not ok:
                    errors.append(f"{r.status_code} {r.text[:200]}")
                done[kind] += 1
            except Exception as exc:
                errors.append(repr(exc))
            latencies.append(time.perf_counter() - t0)

    async def main() -> None:
        limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
        async with httpx.AsyncClient(
            base_url=server["url"], headers=server["headers"], timeout=60, limits=limits
        ) as c:
            end = time.monotonic() + seconds
            await asyncio.gather(*(client(i, c, end) for i in range(clients)))

    asyncio.run(main())
    out, _ = probe.communicate(timeout=60)
    health = json.loads(out)
    lat = np.array(health["latencies_ms"])
    metrics = httpx.get(server["url"] + "/metrics", headers=server["headers"]).text
    batches = float(re.search(r"^rag_embed_batch_size_count (\S+)$", metrics, re.M).group(1))
    p50, p99 = np.percentile(np.array(latencies) * 1000, [50, 99])
    print(
        f"\nload: {done} in {seconds:.0f} s, {done['texts'] / seconds:.0f} texts/s, "
        f"request p50 {p50:.0f} ms p99 {p99:.0f} ms; {batches:.0f} model batches; "
        f"/healthz {len(lat)} probes, p50 {np.median(lat):.1f} ms, max {lat.max():.1f} ms"
    )
    assert not errors, f"{len(errors)} errors: {errors[:5]}"
    assert not health["errors"], health["errors"][:5]
    assert len(lat) > 300  # probed all along
    # Bounds only a blocked event loop breaks: with the model on the loop, the typical probe
    # waits for a model batch (hundreds of ms under this load) and the worst for several. A free
    # loop measured p50 2.6 ms, worst 57 ms (BENCHMARKS.md); a busy shared machine adds to that.
    assert np.median(lat) < 50, f"/healthz p50 {np.median(lat):.0f} ms"
    assert lat.max() < 2000, f"/healthz took {lat.max():.0f} ms at worst"
    assert done["embed"] > 100 and done["search"] > 10
    assert batches < done["embed"]  # concurrent requests shared model batches
    processes = re.search(r"^rag_embed_model_processes (\d+)$", metrics, re.M).group(1)
    assert int(processes) == min(2, len(os.sched_getaffinity(0)))
