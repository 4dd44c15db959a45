"""Embeddings over HTTP against the ideal: rag serve's /v1/embeddings at concurrency 1, 8 and 32
versus the same texts through the embedder the server runs (ONNX Runtime by default), in one
process at its best batch size,
measured in the same run, in alternating rounds: each round times the ideal, then loads the
server, so that both see the same machine (the CPUs here are shared with other tenants, and
their speed moved by 20% between one minute and the next). Each round's server figure is
divided by that round's ideal; the median over rounds is the figure.

    .venv/bin/python benchmarks/embeddings_server.py [--texts 512] [--seconds 20] [--rounds 1]

Texts are sentences of SciFact abstracts (../shared/datasets/scifact), one text per request: the
hardest case for a server, since every text pays for its own HTTP request. Each client sends its
next request when the previous one is answered. Tokens are the server's own usage counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, machine, save, scifact_sentences

from rag.config import Settings
from rag.embeddings import Embedder, SentenceTransformerEmbedder, make_embedder


def ideal(emb: Embedder, texts: list[str], batch_sizes: list[int]) -> dict[int, dict]:
    """texts/s of the embedder the server runs (make_embedder with the default settings: ONNX
    Runtime since commit 0e08a36, SentenceTransformer.encode before) over all texts, and its
    CPU time per text, per batch size."""
    out = {}
    for bs in batch_sizes:
        emb.batch_size, emb.batch_tokens = bs, 1 << 30
        t0, c0 = time.perf_counter(), time.process_time()
        emb.embed(texts)
        out[bs] = {
            "texts_per_s": len(texts) / (time.perf_counter() - t0),
            "cpu_ms_per_text": round((time.process_time() - c0) * 1000 / len(texts), 1),
        }
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        out += [int(c) for c in (task / "children").read_text().split()]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def load(url: str, texts: list[str], concurrency: int, seconds: float) -> dict:
    import httpx

    latencies: list[float] = []
    tokens = 0
    errors = 0
    end = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async def client(i: int, c: httpx.AsyncClient) -> None:
        nonlocal tokens, errors
        j = i
        while time.monotonic() < end:
            t0 = time.perf_counter()
            r = await c.post("/v1/embeddings", json={"input": texts[j % len(texts)]})
            if r.status_code != 200:
                errors += 1
            else:
                tokens += r.json()["usage"]["prompt_tokens"]
                latencies.append(time.perf_counter() - t0)
            j += concurrency

    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as c:
        await c.post("/v1/embeddings", json={"input": "warm up"})
        t0 = time.perf_counter()
        await asyncio.gather(*(client(i, c) for i in range(concurrency)))
        wall = time.perf_counter() - t0
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [latencies[0]] * 99
    return {
        "concurrency": concurrency,
        "requests": len(latencies),
        "errors": errors,
        "texts_per_s": round(len(latencies) / wall, 1),
        "tokens_per_s": round(tokens / wall, 1),
        "p50_ms": round(q[49] * 1000, 1),
        "p99_ms": round(q[98] * 1000, 1),
    }


def _wrk_ms(text: str) -> float:
    value = float(re.match(r"[\d.]+", text).group(0))  # type: ignore[union-attr]
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[re.sub(r"[\d.]+", "", text)]


def wrk_load(
    url: str, texts: list[str], concurrency: int, seconds: float, fmt: str = "float"
) -> dict:
    """The same load from Debian's `wrk` (C, one thread, a Lua script cycling through the
    texts): its clients cost far less CPU per request than Python's, so the server and the
    model get the cores. Its CPU time is added to CPU_CLIENT (it is a child process)."""
    bodies = ",\n".join(
        f"[==[{json.dumps({'input': t, 'encoding_format': fmt})}]==]" for t in texts
    )
    script = Path(tempfile.mkdtemp(prefix="rag-wrk-")) / "post.lua"
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"local bodies = {{{bodies}}}\nlocal i = 0\n"
        "request = function()\n  i = i % #bodies + 1\n"
        '  return wrk.format(nil, "/v1/embeddings", nil, bodies[i])\nend\n'
    )
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{int(seconds)}s", "--latency", "-s", str(script)]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, check=True).stdout
    print(out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    pct = {p: m.group(1) for p in ("50", "99") if (m := re.search(rf"\b{p}%\s+([\d.]+\w+)", out))}
    return {
        "concurrency": concurrency,
        "client": "wrk",
        "requests": requests,
        "errors": int(bad.group(1)) if bad else 0,
        "texts_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
        "p50_ms": round(_wrk_ms(pct["50"]), 1),
        "p99_ms": round(_wrk_ms(pct["99"]), 1),
    }


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--texts", type=int, default=512)
    ap.add_argument("--seconds", type=float, default=20.0, help="per concurrency level and round")
    ap.add_argument("--rounds", type=int, default=1, help="ideal-then-server rounds (median)")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--batch-sizes", default="16,32,64,128")
    ap.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="RAG_X=V",
        help="a setting for the server only (repeatable), e.g. RAG_EMBED_CALL_TOKENS=64",
    )
    ap.add_argument(
        "--compare-env",
        action="append",
        default=[],
        metavar="RAG_X=V",
        help="start a second server with this setting too (repeatable) and load both in each "
        "round, alternating which goes first: e.g. RAG_EMBED_PACK_TEXTS=0",
    )
    ap.add_argument("--client", choices=["httpx", "wrk"], default="httpx")
    ap.add_argument(
        "--encoding-format",
        choices=["float", "base64"],
        default="float",
        help="what the wrk clients ask for: base64 is what OpenAI's Python client requests",
    )
    args = ap.parse_args()
    texts = scifact_sentences(args.texts)
    sizes = [int(b) for b in args.batch_sizes.split(",")]
    levels = [int(x) for x in args.concurrency.split(",")]
    emb = make_embedder(Settings())
    emb.embed(texts[:64])  # export the ONNX graph if it is not cached
    ideal(emb, texts, sizes)  # warm up: every call shape once, before any round is timed

    # The server as configured, and with --compare-env a second one ("B") beside it: each
    # round loads both, in alternating order, so that their ratio sees the same machine.
    servers = {"A": args.server_env}
    if args.compare_env:
        servers["B"] = args.server_env + args.compare_env
    started: dict[str, tuple[subprocess.Popen, str, list[int]]] = {}
    rounds: list[dict] = []
    try:
        for label, extra in servers.items():
            started[label] = start_server(extra)
        for r in range(args.rounds):
            # The ideal while the servers are idle (their processes asleep), then the servers.
            round_ = {"round": r + 1, "ideal": ideal(emb, texts, sizes), "server": []}
            print(
                f"round {r + 1}: ideal",
                {b: round(v["texts_per_s"], 1) for b, v in round_["ideal"].items()},
            )
            order = list(started) if r % 2 == 0 else list(started)[::-1]
            by_label: dict[str, list[dict]] = {}
            for label in order:
                proc, url, kids = started[label]
                by_label[label] = [load_server(args, url, texts, c, kids, proc.pid) for c in levels]
            round_["server"] = by_label["A"]
            if "B" in by_label:
                round_["server_b"] = by_label["B"]
            rounds.append(round_)
        mean_batch = {label: model_batch(url) for label, (_, url, _) in started.items()}
    finally:
        for proc, _, _ in started.values():
            proc.send_signal(signal.SIGINT)
            proc.wait(30)

    mean = {b: statistics.mean(r["ideal"][b]["texts_per_s"] for r in rounds) for b in sizes}
    best = max(mean, key=lambda b: mean[b])
    summary = {}
    for i, c in enumerate(levels):
        summary[c] = {}
        for key in ("server", "server_b") if args.compare_env else ("server",):
            ratios, bracketed = [], []
            for n, r in enumerate(rounds):
                run = r[key][i]
                ideal_tps = r["ideal"][best]["texts_per_s"]
                run["ratio_to_ideal"] = round(run["texts_per_s"] / ideal_tps, 3)
                ratios.append(run["ratio_to_ideal"])
                # Against the ideal timed just before and just after this load (the next
                # round's): the VM's speed drifts within a minute, on either side.
                around = [
                    rounds[m]["ideal"][best]["texts_per_s"] for m in (n, n + 1) if m < len(rounds)
                ]
                bracketed.append(run["texts_per_s"] / statistics.mean(around))
            summary[c][key] = {
                "ratio_to_ideal_median": round(statistics.median(ratios), 3),
                "ratio_to_ideal_mean": round(statistics.mean(ratios), 3),
                "ratio_to_ideal_min_max": [min(ratios), max(ratios)],
                "ratio_to_ideal_before_and_after_median": round(statistics.median(bracketed), 3),
                "texts_per_s_median": statistics.median(r[key][i]["texts_per_s"] for r in rounds),
            }
        if args.compare_env:
            b_over_a = [
                r["server_b"][i]["texts_per_s"] / r["server"][i]["texts_per_s"] for r in rounds
            ]
            summary[c]["b_over_a_median"] = round(statistics.median(b_over_a), 3)
            summary[c]["b_over_a"] = [round(x, 3) for x in b_over_a]
    result = {
        "machine": machine(),
        "load_average_at_end": os.getloadavg(),
        "texts": len(texts),
        "server_env": args.server_env,
        "compare_env": args.compare_env,
        "client": args.client,
        "encoding_format": args.encoding_format,
        "mean_tokens_per_text": round(
            sum(SentenceTransformerEmbedder().count_tokens(texts)) / len(texts), 1
        ),
        "ideal_best_batch": best,
        "ideal_texts_per_s_mean": mean,
        "rounds": rounds,
        "summary_by_concurrency": summary,
        "mean_model_batch": mean_batch["A"],
        "mean_model_batch_b": mean_batch.get("B"),
    }
    print(result)
    for c, row in summary.items():
        for key in ("server", "server_b"):
            if key in row:
                s = row[key]
                print(
                    f"concurrency {c}, {key}: of the ideal, median {s['ratio_to_ideal_median']}, "
                    f"mean {s['ratio_to_ideal_mean']}, range {s['ratio_to_ideal_min_max']}; "
                    "of the ideal before and after, median "
                    f"{s['ratio_to_ideal_before_and_after_median']}"
                )
        if "b_over_a_median" in row:
            print(
                f"concurrency {c}: B / A texts/s per round {row['b_over_a']}, median {row['b_over_a_median']}"
            )
    print("saved", save("embeddings_server", result))


def start_server(extra: list[str]) -> tuple[subprocess.Popen, str, list[int]]:
    """`rag serve` on a free port with these settings, once /healthz answers: (process, url,
    its model processes)."""
    import httpx

    port = free_port()
    tmp = Path(tempfile.mkdtemp(prefix="rag-bench-serve-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_INDEX=str(tmp / "index"), RAG_PORT=str(port))
    env.update(kv.split("=", 1) for kv in extra)
    proc = subprocess.Popen(
        [sys.executable, "-m", "rag", "serve", "--no-access-log"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.3)
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            raise SystemExit("rag serve did not start")
    # The model processes (and multiprocessing's resource tracker).
    return proc, url, children(proc.pid)


def model_batch(url: str) -> float | None:
    """The server's mean model batch (texts), from its metrics."""
    import httpx

    metrics = httpx.get(url + "/metrics").text
    m = re.search(r"^rag_embed_batch_size_sum (\S+)$", metrics, re.M)
    n = re.search(r"^rag_embed_batch_size_count (\S+)$", metrics, re.M)
    return round(float(m.group(1)) / float(n.group(1)), 1) if m and n else None


def load_server(
    args: argparse.Namespace, url: str, texts: list[str], c: int, kids: list[int], pid: int
) -> dict:
    """One load of the server at concurrency c, with the CPU time of each side, which the
    machine's other load cannot change: the model processes, the server's own process (HTTP,
    JSON, tokenizer, batching), the clients."""

    def client_cpu() -> float:
        return time.process_time() + _children_cpu()  # wrk is a child once it ends

    cpu0 = (sum(map(cpu_seconds, kids)), cpu_seconds(pid), client_cpu())
    if args.client == "wrk":
        res = wrk_load(url, texts, c, args.seconds, args.encoding_format)
    else:
        res = asyncio.run(load(url, texts, c, args.seconds))
    cpu1 = (sum(map(cpu_seconds, kids)), cpu_seconds(pid), client_cpu())
    model_s, server_s, client_s = (b - a for a, b in zip(cpu0, cpu1, strict=True))
    per = 1000 / max(res["requests"], 1)
    res["cpu_ms_per_text"] = {
        "model": round(model_s * per, 1),
        "server": round(server_s * per, 1),
        "clients": round(client_s * per, 1),
    }
    res["model_share_of_cpu"] = round(model_s / (model_s + server_s + client_s), 3)
    print(res)
    return res


if __name__ == "__main__":
    main()
