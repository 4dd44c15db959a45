"""What `rag serve`'s own process costs per /v1/embeddings request, the model left out: the
server runs with an instant model (constant vectors, no model process), so its process is the
only work, and Debian's `wrk` loads it at 32 connections with one SciFact sentence a request.
Two servers side by side, each round loading both in alternating order: as shipped (the direct
route for JSON bodies, rag/server/routes/embeddings.py) and with every request through
FastAPI's route (the direct route turned off in that server's process).

    .venv/bin/python benchmarks/server_overhead.py [--rounds 5] [--seconds 10]

On 2 cores the model gets what the server's process does not take, so each 0.1 ms saved here
is about 0.6% more texts per second at 32 clients (benchmarks/embeddings_server.py measures
that whole figure).
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, save, scifact_sentences
from embeddings_server import cpu_seconds, free_port, wrk_load


def child(fastapi_only: bool) -> None:  # pragma: no cover - runs as the server's process
    import numpy as np

    from rag.config import Settings
    from rag.server import serve, worker
    from rag.server.routes import embeddings

    def instant(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), 384), dtype=np.float32)
        out[:, 0] = 1.0
        return out

    worker.ProcessPool.embed = instant  # type: ignore[method-assign]
    worker.ProcessPool.warm_up = lambda self: None  # type: ignore[method-assign]
    if fastapi_only:
        from starlette.routing import Match

        embeddings.DirectRoute.matches = lambda self, scope: (Match.NONE, {})  # type: ignore[method-assign]
    serve(Settings(), access_log=False)


def start(fastapi_only: bool) -> tuple[subprocess.Popen, str]:
    import httpx

    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="rag-bench-overhead-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OTEL_"))}
    env.update(RAG_INDEX=str(tmp / "index"), RAG_PORT=str(port))
    cmd = [sys.executable, __file__, "--child"] + (["--fastapi-only"] if fastapi_only else [])
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.3)
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit("the server did not start")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--texts", type=int, default=256)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--fastapi-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.fastapi_only)
        return
    texts = scifact_sentences(args.texts)
    servers = {"direct": start(False), "fastapi": start(True)}
    runs: dict[str, list[dict]] = {name: [] for name in servers}
    try:
        for r in range(args.rounds):
            order = list(servers) if r % 2 == 0 else list(servers)[::-1]
            for name in order:
                proc, url = servers[name]
                wrk_load(url, texts[:8], args.concurrency, 2)  # warm up, not counted
                c0 = cpu_seconds(proc.pid)
                res = wrk_load(url, texts, args.concurrency, args.seconds)
                res["server_cpu_ms_per_request"] = round(
                    (cpu_seconds(proc.pid) - c0) * 1000 / max(res["requests"], 1), 3
                )
                runs[name].append(res)
                print(f"round {r + 1} {name}: {res}")
    finally:
        for proc, _ in servers.values():
            proc.send_signal(signal.SIGINT)
            proc.wait(30)
    summary = {}
    for name, rows in runs.items():
        assert all(row["errors"] == 0 for row in rows), f"{name}: non-2xx replies"
        cpu = [row["server_cpu_ms_per_request"] for row in rows]
        summary[name] = {
            "server_cpu_ms_per_request_median": statistics.median(cpu),
            "range": [min(cpu), max(cpu)],
            "requests_per_s_median": statistics.median(row["texts_per_s"] for row in rows),
        }
    ratio = [
        d["server_cpu_ms_per_request"] / f["server_cpu_ms_per_request"]
        for d, f in zip(runs["direct"], runs["fastapi"], strict=True)
    ]
    summary["direct_over_fastapi_cpu_median"] = round(statistics.median(ratio), 3)
    print(summary)
    print("saved", save("server_overhead", {"machine": machine(), "args": vars(args), **summary}))


if __name__ == "__main__":
    main()
