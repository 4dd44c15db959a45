"""POST /v1/embeddings is served by a direct route (rag/server/routes/embeddings.py, DirectRoute)
that skips FastAPI's per-request machinery. It must answer exactly as FastAPI's route does:
every reply here, good or bad, is compared between an app with the direct route and the same
app without it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rag.config import Settings
from rag.server import create_app
from rag.server.routes import embeddings as routes

from .conftest import FakeEmbedder

LOCAL = "http://127.0.0.1"
JSON = {"content-type": "application/json"}
LONG = "word " * 300  # over the fake embedder's 254 tokens

# (body, headers): what clients send, right and wrong.
REQUESTS: list[tuple[bytes | str, dict[str, str]]] = [
    ('{"input": "the kiln runs hot"}', JSON),
    ('{"input": ["kiln glaze", "chain"], "model": "fake-hash-64"}', JSON),
    ('{"input": ["kiln", "chain"], "encoding_format": "base64"}', JSON),
    ('{"input": "x", "model": "other-model"}', JSON),
    ('{"input": "x", "dimensions": 32}', JSON),
    ('{"input": "x", "dimensions": "64"}', JSON),
    ('{"input": "x", "encoding_format": "int8"}', JSON),
    ('{"input": []}', JSON),
    ('{"input": [1, 2, 3]}', JSON),
    ('{"input": [[1, 2]]}', JSON),
    ('{"input": ["a", 1]}', JSON),
    ('{"input": ""}', JSON),
    ('{"input": ["kiln", ""]}', JSON),
    ('{"input": ["a", "b", "c", "d"]}', JSON),  # over max_inputs=3
    (json.dumps({"input": ["ok", LONG]}), JSON),
    (json.dumps({"input": ["ok", LONG], "truncate": True}), JSON),
    ('{"input": "x", "truncate": "maybe"}', JSON),
    ('{"input": "x", "unknown": 1}', JSON),
    ('{"input": "abc \\ud800 def"}', JSON),  # a lone surrogate: not text
    ('{"input": NaN}', JSON),
    ('{"model": "fake-hash-64"}', JSON),
    ('{"input": "x",', JSON),
    ("", JSON),
    ("[1, 2]", JSON),
    ('"just a string"', JSON),
    ('{"input": "x"}', {"content-type": "application/json; charset=utf-8"}),
    ('{"input": "x"}', {"content-type": "Application/JSON"}),
    ('{"input": "x"}', {"content-type": "application/vnd.api+json"}),
    ('{"input": "x"}', {"content-type": "text/plain"}),  # FastAPI's route takes these
    ('{"input": "x"}', {}),
    ("\xff\xfe not utf-8".encode("latin-1"), JSON),
    (b'{"input": "\xff"}', JSON),  # not UTF-8
    (b'\xef\xbb\xbf{"input": "x"}', JSON),  # a byte-order mark
    ('{"input": "x"} trailing', JSON),
]

KEYS = [
    {},
    {"authorization": "Bearer secret-key"},
    {"authorization": "bearer secret-key"},
    {"authorization": "Bearer wrong"},
    {"authorization": "Basic secret-key"},
    {"authorization": "Bearer"},
]


@contextmanager
def clients(tmp_path: Path, **overrides) -> Iterator[tuple[TestClient, TestClient]]:
    """(with the direct route, without it): two apps alike in all else."""

    def app(name: str):
        settings = Settings(index=tmp_path / name, max_inputs=3, **overrides)
        return create_app(settings, embedder=FakeEmbedder())

    direct, plain = app("direct"), app("plain")
    assert isinstance(direct.router.routes[0], routes.DirectRoute)
    plain.router.routes[:] = [
        r for r in plain.router.routes if not isinstance(r, routes.DirectRoute)
    ]
    with TestClient(direct, base_url=LOCAL) as a, TestClient(plain, base_url=LOCAL) as b:
        yield a, b


def reply(r) -> tuple[int, str | None, str | None, object]:
    try:
        body: object = r.json()
    except ValueError:
        body = r.text
    return r.status_code, r.headers.get("content-type"), r.headers.get("x-model-fingerprint"), body


def test_the_direct_route_answers_as_fastapi_does(tmp_path: Path, monkeypatch) -> None:
    served = []
    direct = routes._direct

    async def spy(request):
        served.append(request.headers.get("content-type"))
        return await direct(request)

    monkeypatch.setattr(routes, "_direct", spy)
    statuses = set()
    with clients(tmp_path) as (a, b):
        for content, headers in REQUESTS:
            got = reply(a.post("/v1/embeddings", content=content, headers=headers))
            want = reply(b.post("/v1/embeddings", content=content, headers=headers))
            assert got == want, (content, headers)
            statuses.add(got[0])
        assert reply(a.get("/v1/embeddings")) == reply(b.get("/v1/embeddings"))
        assert a.get("/v1/embeddings").status_code == 405
        # Counted by route like any other request.
        metrics = a.get("/metrics").text
        assert (
            'rag_http_requests_total{method="POST",route="/v1/embeddings",status="200"}' in metrics
        )
    assert statuses >= {200, 400, 404, 422}
    # Every request declared JSON went the direct way; the others went on to FastAPI's route.
    declared = [h.get("content-type") for _, h in REQUESTS]
    assert served == [c for c in declared if c and "json" in c.lower()]


def test_the_direct_route_checks_keys_as_fastapi_does(tmp_path: Path) -> None:
    with clients(tmp_path, api_keys=["secret-key"]) as (a, b):
        codes = []
        for headers in KEYS:
            got = reply(a.post("/v1/embeddings", json={"input": "x"}, headers=headers))
            want = reply(b.post("/v1/embeddings", json={"input": "x"}, headers=headers))
            assert got == want, headers
            codes.append(got[0])
    assert codes == [401, 200, 200, 401, 401, 401]


def test_the_direct_route_keeps_the_size_limit(tmp_path: Path) -> None:
    with clients(tmp_path, max_body_mb=0.001) as (a, b):
        body = json.dumps({"input": "x" * 2000})
        got = reply(a.post("/v1/embeddings", content=body, headers=JSON))
        assert got == reply(b.post("/v1/embeddings", content=body, headers=JSON))
        assert got[0] == 413


def test_with_opentelemetry_on_fastapi_serves_every_request(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its spans come from FastAPI's route: the direct one would leave embeddings untraced."""
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    app = create_app(Settings(index=tmp_path / "index"), embedder=FakeEmbedder())
    assert not any(isinstance(r, routes.DirectRoute) for r in app.router.routes)
