"""Start-up time of whole processes, as a user meets them: `rag --help`, a cold `rag search` and
`rag ask` (extractive) on the seed index, `rag serve` until /healthz answers, and the app until
its page loads.

    .venv/bin/python benchmarks/startup.py [--runs 5] [--torch]

Each command is a fresh process (nothing is kept warm between runs: Python, the imports and the
model load are all in the figure; the OS file cache is warm, as for anyone who ran rag before).
The seed index (../shared/corpus/seeds) is built first in a temp folder, which also caches the
ONNX graph. Reported: wall seconds, median of the runs with min and max, and the CPU seconds the
process used (user + system, all threads) — on a shared machine the CPU figure moves less.
`--torch` adds the same commands with RAG_EMBED_BACKEND=torch, the path before ONNX.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from common import SHARED, save

from rag.onnx_embed import cpu_features

RAG = [sys.executable, "-m", "rag"]
QUESTION = "What did Austin say?"


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_once(cmd: list[str], env: dict[str, str], expect: str = "") -> tuple[float, float]:
    c0, t0 = _children_cpu(), time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    wall = time.perf_counter() - t0
    if proc.returncode != 0 or expect not in proc.stdout:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{proc.stdout[-1000:]}{proc.stderr[-2000:]}")
    return wall, _children_cpu() - c0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def until_ready(cmd: list[str], env: dict[str, str], url: str, marker: str) -> tuple[float, float]:
    """Seconds from the process start until `url` answers 200 with `marker` in its body (no CPU
    figure: the server goes on running after it answers)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        while time.perf_counter() - t0 < 300:
            if proc.poll() is not None:
                raise SystemExit(f"{' '.join(cmd)} exited:\n{proc.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200 and marker in r.read().decode("utf-8", "replace"):
                        return time.perf_counter() - t0, float("nan")
            except OSError:
                pass
            time.sleep(0.05)
        raise SystemExit(f"{' '.join(cmd)}: no answer at {url} in 300 s")
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def summary(samples: list[tuple[float, float]]) -> dict[str, float]:
    walls = [w for w, _ in samples]
    cpus = [c for _, c in samples if c == c]
    return {
        "median_s": round(statistics.median(walls), 3),
        "min_s": round(min(walls), 3),
        "max_s": round(max(walls), 3),
        "cpu_s_median": round(statistics.median(cpus), 3) if cpus else None,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--torch", action="store_true", help="also time RAG_EMBED_BACKEND=torch")
    ap.add_argument("--cache", type=Path, default=None, help="RAG_CACHE_DIR (default: temp)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rag-startup-"))
    index = work / "index"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_CACHE_DIR=str(args.cache or work / "cache"), GRADIO_ANALYTICS_ENABLED="False")
    env["RAG_INDEX"] = str(index)
    t0 = time.perf_counter()
    seeds = SHARED / "corpus" / "seeds"
    built = subprocess.run([*RAG, "ingest", str(seeds)], env=env, capture_output=True, text=True)
    if "2 added" not in built.stdout:  # timing an empty index would measure nothing
        raise SystemExit(
            f"the seed index was not built from {seeds}:\n{built.stdout}{built.stderr}"
        )
    print(f"seed index built in {time.perf_counter() - t0:.1f} s (ONNX export included if new)")

    variants = {"onnx": env}
    if args.torch:
        variants["torch"] = {**env, "RAG_EMBED_BACKEND": "torch"}
    results: dict[str, dict[str, float]] = {}
    load_before = os.getloadavg()
    for variant, venv in variants.items():
        commands = {
            "rag --help": [*RAG, "--help"],
            "rag search": [*RAG, "search", QUESTION],
            "rag ask (extractive)": [*RAG, "ask", QUESTION],
        }
        for label, cmd in commands.items():
            if variant == "torch" and label == "rag --help":
                continue
            # The seed article that answers the question must be in the output.
            expect = "" if label == "rag --help" else "002_18a88cf3fba0953a.txt"
            samples = [run_once(cmd, venv, expect) for _ in range(args.runs)]
            results[f"{label} [{variant}]"] = summary(samples)
            print(label, variant, results[f"{label} [{variant}]"], flush=True)
        if variant == "torch":  # the servers' PyTorch start-up is the same model load again
            continue
        port = free_port()
        serve = [*RAG, "serve", "--port", str(port), "--no-access-log"]
        url = f"http://127.0.0.1:{port}/healthz"
        samples = [until_ready(serve, venv, url, "") for _ in range(args.runs)]
        results[f"rag serve until /healthz [{variant}]"] = summary(samples)
        print("serve", variant, results[f"rag serve until /healthz [{variant}]"], flush=True)
        app = [*RAG, "ui", "--port", str(port)]
        page = f"http://127.0.0.1:{port}/"
        samples = [until_ready(app, venv, page, "<html") for _ in range(args.runs)]
        results[f"app until its page loads [{variant}]"] = summary(samples)
        print("app", variant, results[f"app until its page loads [{variant}]"], flush=True)
    out = {
        "runs": args.runs,
        "cpu_features": cpu_features(),
        "cpus": len(os.sched_getaffinity(0)),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "results": results,
    }
    print("\n| command | median s | min s | max s | CPU s (median) |\n|---|---|---|---|---|")
    for label, r in results.items():
        cpu = "-" if r["cpu_s_median"] is None else f"{r['cpu_s_median']:.2f}"
        print(f"| {label} | {r['median_s']:.2f} | {r['min_s']:.2f} | {r['max_s']:.2f} | {cpu} |")
    print(
        f"load average before {load_before}, after {os.getloadavg()}; saved {save('startup', out)}"
    )


if __name__ == "__main__":
    main()
