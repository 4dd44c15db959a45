"""schemathesis against rag serve's own OpenAPI schema, served by uvicorn on 127.0.0.1: whatever
the generated requests hold, the server answers 2xx or 4xx, never 5xx."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
import uvicorn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from rag.config import Settings
from rag.server import create_app

from .conftest import FakeEmbedder, free_port, write


class ThreadServer:
    """uvicorn in a thread of this process, on a free loopback port."""

    def __init__(self, app) -> None:
        self.app = app
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ThreadServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("the server did not start")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[ThreadServer]:
    base: Path = tmp_path_factory.mktemp("schema")
    write(base / "d" / "kiln.md", "# Kiln\n\nThe kiln controller runs firmware version 4.2.")
    write(base / "d" / "bike.txt", "Bicycles need their chains oiled every month.")
    cfg = Settings(index=base / "index", chunk_tokens=40, chunk_overlap=8, max_body_mb=1.0)
    app = create_app(cfg, embedder=FakeEmbedder())
    with ThreadServer(app) as srv:
        app.state.server.index.ingest([base / "d"])
        # One question first: a model export the answerer does once (half a minute after a
        # cache-format change) must not fall inside a generated request's 30-second timeout.
        app.state.server.index.ask("Which firmware does the kiln controller run?")
        yield srv


@pytest.mark.slow
def test_no_server_errors(live) -> None:
    # schemathesis's pytest plugin does not run under this pytest; the same through hypothesis:
    # each operation's strategy (valid and invalid data), a fixed number of examples each.
    schema = schemathesis.openapi.from_url(f"{live.url}/openapi.json")
    labels = []
    for result in schema.get_all_operations():
        operation = result.ok()
        labels.append(operation.label)
        modes = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]

        @settings(
            max_examples=40,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,  # the same requests every run: a failure is reproducible
            database=None,
        )
        @given(case=st.one_of(*(operation.as_strategy(generation_mode=m) for m in modes)))
        def check(case) -> None:
            case.call_and_validate(base_url=live.url, checks=[not_a_server_error], timeout=30)

        check()
    assert {"POST /v1/embeddings", "POST /v1/chat/completions", "POST /v1/documents"} <= set(labels)
    # the requests did reach the server, and both accepted and refused ones were among them
    requests = live.app.state.server.metrics.requests
    by_route: dict[str, set[str]] = {}
    for key, n in requests.items():
        labels_ = dict(key)
        by_route.setdefault(labels_["route"], set()).add(labels_["status"][0])
        assert not labels_["status"].startswith("5"), (key, n)
    print({r: sorted(s) for r, s in by_route.items()}, sum(requests.values()), "requests")
    assert sum(requests.values()) > 200
    for route in ("/v1/embeddings", "/v1/chat/completions", "/v1/search", "/v1/documents"):
        assert {"2", "4"} <= by_route[route], (route, by_route.get(route))
