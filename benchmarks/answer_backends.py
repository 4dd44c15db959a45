"""Answer backends side by side: accuracy, citations, refusals and time, on the same retrievals.

    .venv/bin/python benchmarks/answer_backends.py [--squad 200] [--seed 0]
        [--backends extractive,local:smollm2-135m,local:gemma3-270m,openai:smollm2-135m]

Two question sets:
- the seed questions (../shared/eval/seed_questions.jsonl) over the two seed articles: an
  answerable question passes when the answer mentions every required fact and cites only the
  listed sources; an unanswerable one passes when it is refused;
- a stratified sample of SQuAD 2.0 dev part1 questions (half answerable, half not) of the
  articles held out from the answer model's training (`rag.eval.data.is_heldout`), over all of
  its paragraphs, one file each: SQuAD EM/F1 (a refusal is the empty answer, right for an
  unanswerable question), whether the answer contains a gold answer, citation precision (cited
  spans that lie in the gold paragraph) and refusal precision/recall.

Each question is retrieved once; every backend answers from the same hits. Time to first token
is measured from the start of answering (evidence scoring included); for the extractive backend
it is the whole answer. `openai:MODEL` starts llama-cpp-python's OpenAI-compatible server on
127.0.0.1 with that packaged model, so the HTTP path is measured against the in-process one.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
from common import DATASETS, SHARED, machine, save

from rag.answer import Answer, make_answerer
from rag.answer.llm import packaged_model_path
from rag.api import RagIndex
from rag.config import Settings
from rag.eval.data import is_heldout
from rag.eval.metrics import f1, normalize


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: Path, port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "2048", "--n_threads", str(os.cpu_count() or 2)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    for _ in range(120):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=1)
            return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit("llama_cpp.server did not start")


SERVER_PIDS: dict[int, int] = {}


def _server_cpu(port: int | None) -> float:
    """CPU seconds used so far by the model server on `port` (user + system), 0 without one."""
    if port is None or port not in SERVER_PIDS:
        return 0.0
    fields = Path(f"/proc/{SERVER_PIDS[port]}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backend_settings(spec: str, base: Settings, port: int | None) -> Settings:
    kind, _, model = spec.partition(":")
    extra: dict[str, Any] = {"backend": kind}
    if kind == "local":
        extra["llm_packaged"] = model
    if kind == "openai":
        extra.update(openai_base_url=f"http://127.0.0.1:{port}/v1", openai_model=model)
    return base.model_copy(update=extra)


def seed_items() -> tuple[Path, list[dict[str, Any]]]:
    items = [json.loads(x) for x in (SHARED / "eval" / "seed_questions.jsonl").open()]
    return SHARED / "corpus" / "seeds", items


def squad_items(work: Path, n: int, seed: int) -> tuple[Path, list[dict[str, Any]]]:
    data = json.loads((DATASETS / "squad2-dev" / "dev-v2.0-part1.json").read_text())["data"]
    files = work / "paragraphs"
    files.mkdir(parents=True, exist_ok=True)
    answerable, impossible = [], []
    for a, article in enumerate(data):
        for p, para in enumerate(article["paragraphs"]):
            name = f"{a:02d}_{p:03d}.txt"
            (files / name).write_text(para["context"])
            if not is_heldout(str(article.get("title", a))):
                continue  # the answer model was trained on this article's questions
            for qa in para["qas"]:
                item = {
                    "question": qa["question"],
                    "answerable": not qa["is_impossible"],
                    "sources": [name],
                    "answers": [x["text"] for x in qa["answers"]],
                }
                (impossible if qa["is_impossible"] else answerable).append(item)
    rng = random.Random(seed)
    return files, rng.sample(answerable, n // 2) + rng.sample(impossible, n - n // 2)


def score_seed(item: dict[str, Any], ans: Answer) -> dict[str, Any]:
    cited = {Path(c.source).name for c in ans.citations}
    if not item["answerable"]:
        return {"pass": ans.refused, "refused": ans.refused}
    text = ans.text.lower()
    mentions = all(any(m.lower() in text for m in alts) for alts in item["must_mention_any"])
    sources_ok = bool(cited) and cited <= set(item["sources"])
    good = [Path(c.source).name in item["sources"] for c in ans.citations]
    return {
        "pass": (not ans.refused) and mentions and sources_ok,
        "mentions": mentions,
        "sources_ok": sources_ok,
        "refused": ans.refused,
        "citation_precision": float(np.mean(good)) if good else None,
    }


def score_squad(item: dict[str, Any], ans: Answer) -> dict[str, Any]:
    pred = "" if ans.refused else ans.text
    golds = item["answers"] or [""]
    good = [Path(c.source).name in item["sources"] for c in ans.citations]
    return {
        "f1": max(f1(pred, g) for g in golds),
        "em": max(float(normalize(pred) == normalize(g)) for g in golds),
        "contains": (not ans.refused) and any(normalize(g) in normalize(pred) for g in golds),
        "refused": ans.refused,
        "citation_precision": float(np.mean(good)) if good and item["answerable"] else None,
    }


def summarise(rows: list[dict[str, Any]], answerable: list[bool]) -> dict[str, Any]:
    ok = np.array(answerable)
    refused = np.array([r["refused"] for r in rows])
    out: dict[str, Any] = {}
    tp = int((refused & ~ok).sum())
    out["refusal_precision"] = round(tp / max(int(refused.sum()), 1), 3)
    out["refusal_recall"] = round(tp / max(int((~ok).sum()), 1), 3)
    out["answerable_answered"] = round(float((~refused & ok).sum() / max(ok.sum(), 1)), 3)
    precs = [r["citation_precision"] for r in rows if r.get("citation_precision") is not None]
    out["citation_precision"] = round(float(np.mean(precs)), 3) if precs else None
    for key in ("pass", "f1", "em"):
        if key in rows[0]:
            out[key] = round(float(np.mean([r[key] for r in rows])), 3)
    if "contains" in rows[0]:
        kept = [r["contains"] for r, a in zip(rows, answerable, strict=True) if a]
        out["contains_gold"] = round(float(np.mean(kept)), 3)
    for key in ("first_token_ms", "total_ms", "cpu_ms"):
        vals = [r[key] for r in rows if r.get(key) is not None]
        out[key] = {
            "mean": round(float(np.mean(vals)), 1),
            "p50": round(float(np.percentile(vals, 50)), 1),
            "p95": round(float(np.percentile(vals, 95)), 1),
        }
    gen = [r for r in rows if r.get("called_model")]
    out["model_called"] = len(gen)
    out["fallback_rate"] = round(sum(r["fallback"] for r in gen) / max(len(gen), 1), 3)
    sents = sum(r["kept"] + r["dropped"] for r in gen)
    out["dropped_sentence_rate"] = round(sum(r["dropped"] for r in gen) / max(sents, 1), 3)
    marks = [r["markers_confirmed"] for r in gen if r["markers_confirmed"] is not None]
    out["model_markers_confirmed"] = round(float(np.mean(marks)), 3) if marks else None
    return out


def run(
    name: str,
    folder: Path,
    items: list[dict[str, Any]],
    specs: list[str],
    work: Path,
    scorer: Any,
    port: int | None,
    limits: dict[str, int] | None = None,
) -> dict[str, Any]:
    base = Settings(index=work / f"index-{name}")
    idx = RagIndex.open(base)
    t0 = time.perf_counter()
    idx.ingest([folder])
    print(f"{name}: indexed in {time.perf_counter() - t0:.1f} s", flush=True)
    hits = [idx.search(item["question"]) for item in items]
    results: dict[str, Any] = {}
    for spec in specs:
        answerer = make_answerer(
            backend_settings(spec, base, port), idx.embedder, idx.store.term_counts
        )
        rows = []
        n = (limits or {}).get(spec, len(items))
        # A smaller share keeps the answerable/unanswerable balance: take from both halves.
        chosen = sorted(
            set(range(n // 2)) | set(range(len(items) // 2, len(items) // 2 + n - n // 2))
        )
        if n >= len(items):
            chosen = list(range(len(items)))
        for i in chosen:
            item, h = items[i], hits[i]
            t = time.perf_counter()
            cpu0 = time.process_time() + _server_cpu(port if spec.startswith("openai") else None)
            first = None
            answer = None
            for event in answerer.stream(item["question"], h):
                if first is None:
                    first = (time.perf_counter() - t) * 1000
                if isinstance(event, Answer):
                    answer = event
            assert answer is not None
            row = scorer(item, answer)
            called = answer.model_text is not None
            row.update(
                total_ms=(time.perf_counter() - t) * 1000,
                cpu_ms=(
                    time.process_time()
                    + _server_cpu(port if spec.startswith("openai") else None)
                    - cpu0
                )
                * 1000,
                first_token_ms=answer.timings_ms.get("first_token", first),
                called_model=called,
                fallback=answer.fallback is not None,
                kept=len(answer.sentences),
                dropped=len(answer.dropped),
                markers_confirmed=(
                    np.mean(c)
                    if (
                        c := [
                            s.markers_confirmed
                            for s in answer.sentences
                            if s.markers_confirmed is not None
                        ]
                    )
                    else None
                ),
                answer=answer.text,
                model_text=answer.model_text,
            )
            rows.append(row)
            if len(rows) % 25 == 0:
                print(f"  {spec}: {len(rows)}/{len(chosen)}", flush=True)
        summary = summarise(rows, [items[i]["answerable"] for i in chosen])
        summary["questions"] = len(chosen)
        summary["load_average_1m"] = round(os.getloadavg()[0], 2)
        print(f"{name} {spec}: {json.dumps(summary)}", flush=True)
        results[spec] = {"summary": summary, "rows": rows}
    idx.close()
    return results


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--squad", type=int, default=200)
    ap.add_argument(
        "--squad-limit",
        action="append",
        default=[],
        metavar="BACKEND=N",
        help="ask only N of the SQuAD questions of this backend (e.g. openai:smollm2-135m=50)",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="answer_backends", help="result name in benchmarks/results")
    ap.add_argument(
        "--backends",
        default="extractive,local:smollm2-135m,local:gemma3-270m,openai:smollm2-135m",
    )
    args = ap.parse_args()
    specs = args.backends.split(",")
    work = Path(tempfile.mkdtemp(prefix="rag-backends-"))
    # A kill (SIGTERM) must still stop the model server started below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    server = None
    port = None
    openai_models = {s.partition(":")[2] for s in specs if s.startswith("openai:")}
    if openai_models:
        if len(openai_models) > 1:
            raise SystemExit("one openai:MODEL at a time")
        model = openai_models.pop()
        port = free_port()
        server = start_server(packaged_model_path(model, Settings().cache_dir), port)
        SERVER_PIDS[port] = server.pid
    try:
        seeds_folder, seeds = seed_items()
        result: dict[str, Any] = {
            "seeds": run("seeds", seeds_folder, seeds, specs, work, score_seed, port)
        }
        if args.squad:
            folder, squad = squad_items(work, args.squad, args.seed)
            limits = {k: int(v) for k, v in (x.rsplit("=", 1) for x in args.squad_limit)}
            result["squad"] = run("squad", folder, squad, specs, work, score_squad, port, limits)
    finally:
        if server is not None:
            server.terminate()
            server.wait(10)
    out = {
        "backends": specs,
        "squad_questions": args.squad,
        "seed": args.seed,
        "settings": json.loads(Settings().model_dump_json(exclude={"openai_api_key"})),
        "machine": machine(),
        **result,
    }
    print(save(args.out, out))
    for dataset in result:
        print(f"\n{dataset}")
        for spec, r in result[dataset].items():
            print(f"  {spec}: {json.dumps(r['summary'])}")


if __name__ == "__main__":
    main()
