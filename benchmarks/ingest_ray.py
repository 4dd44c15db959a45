"""Ingest throughput on Ray (issue 16): the local pipeline against `ingest --ray` with 1 and 2
worker actors, the same files, in one run.

    .venv/bin/python benchmarks/ingest_ray.py [--files 600 --rounds 2 --store local]

SciFact abstracts, one .txt file each, are ingested into a fresh index by each of the three in
every round, in an order that turns from round to round (this machine's speed drifts). One local
Ray (127.0.0.1, as many CPUs as the machine has) serves every Ray run; its start is timed once,
and each Ray ingest is timed whole, its workers' start (each loads the model) included, as a
user waits for it. The workers' start alone is timed too, beside. Every Ray index is checked
against the local one of its round: the same chunks (ids, text, offsets) and the largest
difference between their vectors.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import ROOT, load_beir, machine, save, write_corpus_files

from rag.api import RagIndex
from rag.config import Settings
from rag.onnx_embed import cpu_features

CONFIGS: list[tuple[str, int | None]] = [("local", None), ("ray-1", 1), ("ray-2", 2)]


def ingest(files: Path, index: Path, store: str, workers: int | None) -> dict[str, Any]:
    settings = Settings(index=index, store=store)  # type: ignore[arg-type]
    with RagIndex.open(settings) as idx:
        t0 = time.perf_counter()
        report = idx.ingest([files], ray=None if workers is None else "local", ray_workers=workers)
        seconds = time.perf_counter() - t0
    n = len(report.added)
    return {
        "seconds": round(seconds, 2),
        "files": n,
        "chunks": report.chunks_embedded,
        "files_per_s": round(n / seconds, 2),
        "chunks_per_s": round(report.chunks_embedded / seconds, 2),
    }


def chunks(index: Path) -> tuple[list[tuple], np.ndarray]:
    conn = sqlite3.connect(index / "rag.sqlite3")
    rows = conn.execute(
        'SELECT c.id, d.source, c.ordinal, c.start, c."end", c.text, c.vector FROM chunks c '
        "JOIN documents d ON d.id = c.doc_id ORDER BY c.id"
    ).fetchall()
    conn.close()
    return [r[:6] for r in rows], np.stack([np.frombuffer(r[6], np.float32) for r in rows])


def workers_start(n: int, settings: Settings) -> float:
    """Seconds to start n worker actors (each builds and loads the model), alone."""
    from rag.ingest.on_ray import ray_stage

    with RagIndex.open(settings) as idx:
        t0 = time.perf_counter()
        with ray_stage(
            "local",
            workers=n,
            factory=idx.components.embedder,
            settings=settings,
            expected=idx.embedder.describe(),
            splitter=idx.splitter,
            max_file_bytes=settings.max_file_bytes,
            limits=None,
        ):
            return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=600, help="SciFact abstracts (files)")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--store", choices=["local", "milvus"], default="local")
    ap.add_argument("--work", type=Path, default=None, help="folder for files and indexes")
    args = ap.parse_args()

    # Ray's workers import rag as this script does (this tree, not another install).
    os.environ["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])
    )
    work = args.work or Path(tempfile.mkdtemp(prefix="ingest-ray-"))
    corpus, _, _ = load_beir("scifact")
    files = write_corpus_files(dict(list(corpus.items())[: args.files]), work / "files")

    from rag.ingest.on_ray import import_ray, start_local_ray

    load_before = os.getloadavg()
    t0 = time.perf_counter()
    start_local_ray(os.cpu_count() or 1)
    ray_start = time.perf_counter() - t0
    runs: list[dict[str, Any]] = []
    starts: dict[str, list[float]] = {"ray-1": [], "ray-2": []}
    try:
        for r in range(args.rounds):
            order = CONFIGS[r % 3 :] + CONFIGS[: r % 3]
            for name, workers in order:
                index = work / f"index-{r}-{name}"
                shutil.rmtree(index, ignore_errors=True)
                run = {"round": r + 1, "config": name, **ingest(files, index, args.store, workers)}
                run["load"] = round(os.getloadavg()[0], 1)
                runs.append(run)
                print(run, flush=True)
            for name, workers in CONFIGS[1:]:
                s = Settings(index=work / f"start-{r}-{name}")
                starts[name].append(round(workers_start(workers or 1, s), 2))
            if args.store == "local":
                ref_rows, ref_vecs = chunks(work / f"index-{r}-local")
                for name, _ in CONFIGS[1:]:
                    rows, vecs = chunks(work / f"index-{r}-{name}")
                    same = rows == ref_rows
                    diff = float(np.abs(vecs - ref_vecs).max()) if same else None
                    run = next(x for x in runs if x["round"] == r + 1 and x["config"] == name)
                    run |= {"same_chunks_as_local": same, "max_vector_diff": diff}
                    print(name, "same chunks:", same, "max |dv|:", diff, flush=True)
    finally:
        import_ray().shutdown()

    totals = {}
    for name, _ in CONFIGS:
        mine = [x for x in runs if x["config"] == name]
        secs = sum(x["seconds"] for x in mine)
        totals[name] = {
            "seconds": round(secs, 1),
            "files_per_s": round(sum(x["files"] for x in mine) / secs, 2),
            "chunks_per_s": round(sum(x["chunks"] for x in mine) / secs, 2),
            "vs_local": None,
        }
    for t in totals.values():
        t["vs_local"] = round(t["chunks_per_s"] / totals["local"]["chunks_per_s"], 3)
    out = {
        "machine": {**machine(), "cpu_features": cpu_features()},
        "store": args.store,
        "files": args.files,
        "ray_start_s": round(ray_start, 2),
        "workers_start_s": starts,
        "load_before": [round(x, 1) for x in load_before],
        "load_after": [round(x, 1) for x in os.getloadavg()],
        "runs": runs,
        "totals": totals,
    }
    print(save("ingest_ray", out))
    print("| config | seconds | files/s | chunks/s | vs local |")
    print("|---|---|---|---|---|")
    for name, t in totals.items():
        row = f"| {name} | {t['seconds']} | {t['files_per_s']} | {t['chunks_per_s']} |"
        print(f"{row} {t['vs_local']} |")


if __name__ == "__main__":
    main()
