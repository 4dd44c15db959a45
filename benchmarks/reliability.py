"""Reliability figures for RELIABILITY.md: hostile inputs, kill -9 during ingest, a DOCX bomb
through the CLI, and a full disk. Each part prints a Markdown table and writes JSON to
benchmarks/results/reliability-<part>.json.

    python benchmarks/reliability.py inputs            # 30+ bad-input kinds, each in a fresh process
    python benchmarks/reliability.py kills --n 100     # kill -9 at random moments of a real ingest
    python benchmarks/reliability.py bomb              # rag ingest of the 1.2 MB DOCX bomb
    python benchmarks/reliability.py disk-full         # ingest into a 3 MB tmpfs (needs root)
    python benchmarks/reliability.py injection         # planted instructions vs. both backends
    python benchmarks/reliability.py load              # 32 clients (wrk) for 60 s on rag serve
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from common import DATASETS, RESULTS, ROOT

sys.path.insert(0, str(ROOT))
from tests.health_probe import HEALTH_PROBE
from tests.hostile_files import (
    LARGE_BOMB_PARAGRAPHS,
    SMALL_BOMB_PARAGRAPHS,
    docx_bomb,
    docx_bytes,
    pdf_bomb,
    pdf_image_bomb,
    png_pixel_bomb,
)

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float = 300) -> dict:
    """Run a command; its exit code, wall time, peak RSS (from wait4) and output."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, **(env or {})},
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return {
        "code": proc.returncode,
        "seconds": round(time.perf_counter() - t0, 2),
        "stdout": out,
        "stderr": err,
    }


# --- hostile inputs ----------------------------------------------------------------------------

# One file (or folder entry) per kind, ingested by itself in a fresh process with the fake
# embedder (the model is not what is tested here): the outcome, the message, the peak RSS.
_INGEST_ONE = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, {root!r})
from tests.conftest import FakeEmbedder
from rag.api import RagIndex
from rag.config import Settings
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
base = hwm()
open("/proc/self/clear_refs", "w").write("5")  # peak RSS from here on: the ingest, not imports
t0 = time.perf_counter()
with RagIndex.open(Settings(index=sys.argv[1]), FakeEmbedder()) as idx:
    report = idx.ingest([sys.argv[2]])
print(json.dumps({{"report": report.to_dict(), "seconds": time.perf_counter() - t0,
    "peak_mb": hwm() / 1024,
    "base_mb": base / 1024}}))
"""


def _docx_xml(body: str, prolog: str = "") -> bytes:
    return docx_bytes(
        f'<?xml version="1.0"?>{prolog}<w:document xmlns:w="{_W}"><w:body>{body}'
        "</w:body></w:document>".encode()
    )


def _cases() -> list[tuple[str, str, Callable[[Path], Path]]]:
    """(kind, file name, make(folder) -> the path to ingest)."""

    def data(name: str, raw: bytes) -> Callable[[Path], Path]:
        def make(d: Path) -> Path:
            (d / name).write_bytes(raw)
            return d / name

        return make

    def sparse(name: str, size: int) -> Callable[[Path], Path]:
        def make(d: Path) -> Path:
            with open(d / name, "wb") as f:
                f.truncate(size)
            return d / name

        return make

    def link(name: str, target: str, loop: bool = False) -> Callable[[Path], Path]:
        def make(d: Path) -> Path:
            os.symlink(target, d / name)
            if loop:
                os.symlink(name, d / target)
            return d

        return make

    def fifo(d: Path) -> Path:
        os.mkfifo(d / "pipe.txt")
        return d / "pipe.txt"

    def folder_named_txt(d: Path) -> Path:
        (d / "folder.txt").mkdir()
        return d / "folder.txt"

    def newline_name(d: Path) -> Path:
        (d / "two\nlines.txt").write_text("A file name with a newline in it.")
        return d

    def deep_tree(d: Path) -> Path:
        p = d
        for i in range(60):
            p = p / f"d{i}"
        p.mkdir(parents=True)
        (p / "deep.txt").write_text("A file sixty folders down.")
        return d

    laughs = (
        '<!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    )
    deep_html = b"<html><body>" + b"<div><b>" * 50_000 + b"deep" + b"</b></div>" * 50_000
    return [
        ("empty file", "empty.txt", data("empty.txt", b"")),
        ("whitespace only", "blank.md", data("blank.md", b"  \n\t\n")),
        ("binary with .txt", "bin.txt", data("bin.txt", bytes(range(256)) * 64)),
        ("NUL bytes in text", "nul.txt", data("nul.txt", b"text\x00" * 1000)),
        ("invalid UTF-8 (cp1252)", "cp1252.txt", data("cp1252.txt", "Café – 3 €".encode("cp1252"))),
        ("UTF-16 without BOM", "u16.txt", data("u16.txt", "Herons fish.".encode("utf-16-le"))),
        ("UTF-32 with BOM", "u32.txt", data("u32.txt", "Storks nest.".encode("utf-32"))),
        ("over RAG_MAX_FILE_MB (sparse 200 MB)", "huge.txt", sparse("huge.txt", 200 << 20)),
        ("one 8 MB line", "line.txt", data("line.txt", b"x" * (8 << 20))),
        ("text not a PDF", "fake.pdf", data("fake.pdf", b"hello, not a pdf")),
        ("truncated PDF", "cut.pdf", data("cut.pdf", pdf_bomb(2, 0.001)[:300])),
        ("PDF without text", "image.pdf", data("image.pdf", pdf_bomb(1, 0.001, text=None))),
        ("scanned PDF page, 40000 x 40000 image", "scan.pdf", data("scan.pdf", pdf_image_bomb())),
        (
            "PNG declaring 100000 x 100000 pixels",
            "bomb.png",
            data("bomb.png", png_pixel_bomb(100_000, 100_000)),
        ),
        ("PDF content-stream bomb", "pbomb.pdf", data("pbomb.pdf", pdf_bomb(3, 10))),
        ("PDF many-page bomb", "pages.pdf", data("pages.pdf", pdf_bomb(60, 0.9))),
        ("text not a DOCX", "fake.docx", data("fake.docx", b"this is not a zip")),
        ("zip without Word parts", "zip.docx", data("zip.docx", _zip_without_document())),
        ("DOCX with broken XML", "broken.docx", data("broken.docx", docx_bytes(b"<w:document"))),
        (
            "DOCX XXE",
            "xxe.docx",
            data(
                "xxe.docx",
                _docx_xml(
                    "<w:p><w:r><w:t>&x;</w:t></w:r></w:p>",
                    '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>',
                ),
            ),
        ),
        (
            "DOCX billion laughs",
            "laughs.docx",
            data("laughs.docx", _docx_xml("<w:p><w:r><w:t>&c;</w:t></w:r></w:p>", laughs)),
        ),
        (
            "DOCX bomb 41 KB -> 9 M chars",
            "small-bomb.docx",
            data("small-bomb.docx", docx_bomb(SMALL_BOMB_PARAGRAPHS)),
        ),
        (
            "DOCX bomb 1.2 MB -> 300 MB",
            "large-bomb.docx",
            data("large-bomb.docx", docx_bomb(LARGE_BOMB_PARAGRAPHS)),
        ),
        (
            "DOCX markup-only bomb",
            "markup.docx",
            data("markup.docx", docx_bomb(300_000, markup_only=True)),
        ),
        ("DOCX with no text", "notext.docx", data("notext.docx", _docx_xml("<w:p/>"))),
        ("HTML nested 50,000 deep", "deep.html", data("deep.html", deep_html)),
        (
            "HTML script only",
            "script.html",
            data("script.html", b"<html><script>alert(1)</script></html>"),
        ),
        (
            "XHTML starting <?xml",
            "x.html",
            data(
                "x.html",
                b'<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><body><p>Wrens.</p>'
                b"</body></html>",
            ),
        ),
        ("unsupported extension named", "data.xyz", data("data.xyz", b"some bytes")),
        ("no extension named", "README", data("README", b"some text")),
        ("missing path", "missing.txt", lambda d: d / "missing.txt"),
        ("empty directory named x.txt", "folder.txt", folder_named_txt),
        ("named pipe (FIFO)", "pipe.txt", fifo),
        ("dangling symlink", "dangling.txt", link("dangling.txt", "nowhere.txt")),
        ("symlink loop", "l1.txt", link("l1.txt", "l2.txt", loop=True)),
        ("file name with a newline", "two\\nlines.txt", newline_name),
        ("60 folders deep", "deep.txt", deep_tree),
    ]


def _zip_without_document() -> bytes:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("hello.txt", "not a word document")
    return buf.getvalue()


def inputs() -> list[dict[str, Any]]:
    rows = []
    code = _INGEST_ONE.format(root=str(ROOT))
    for kind, name, make in _cases():
        with tempfile.TemporaryDirectory() as tmp:
            d = Path(tmp) / "in"
            d.mkdir()
            target = make(d)
            r = _run([sys.executable, "-c", code, str(Path(tmp) / "index"), str(target)])
        row: dict[str, Any] = {"kind": kind, "file": name, "exit": r["code"]}
        if r["code"] == 0:
            out = json.loads(r["stdout"].strip().splitlines()[-1])
            rep = out["report"]
            row.update(
                crashed=False,
                outcome=(
                    f"added {len(rep['added'])}"
                    if rep["added"]
                    else f"skipped {len(rep['skipped'])}"
                ),
                message="; ".join(s["reason"] for s in rep["skipped"])
                or "; ".join(n["note"] for n in rep["notes"]),
                seconds=round(out["seconds"], 2),
                peak_mb=round(out["peak_mb"]),
                base_mb=round(out["base_mb"]),
            )
        else:
            row.update(crashed=True, outcome="crash", message=r["stderr"].strip()[-300:])
        rows.append(row)
        print(
            f"| {kind} | {row['outcome']} | {row['message'][:90]} | {row.get('peak_mb')} |",
            flush=True,
        )
    return rows


# --- kill -9 during ingest ---------------------------------------------------------------------


def _corpus(folder: Path, n: int) -> int:
    lines = (DATASETS / "scifact" / "corpus.jsonl").open().readlines()[:n]
    folder.mkdir(parents=True, exist_ok=True)
    for line in lines:
        rec = json.loads(line)
        (folder / f"{rec['_id']}.txt").write_text(f"{rec['title']}\n\n{rec['text']}")
    return len(lines)


def _committed(db: Path) -> set[str]:
    if not db.exists():
        return set()
    try:
        c = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        ids = {r[0] for r in c.execute("SELECT id FROM documents")}
        c.close()
        return ids
    except sqlite3.Error:
        return set()


def _whole(index: Path, embedder: Any) -> tuple[bool, str, set[str]]:
    """The index opens, passes SQLite's integrity check, and its parts agree."""
    from rag.api import RagIndex
    from rag.config import Settings

    db = index / "rag.sqlite3"
    if not db.exists():
        return True, "no index yet", set()
    conn = sqlite3.connect(db)
    try:
        if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            return False, "integrity_check failed", set()
        docs = dict(conn.execute("SELECT id, n_chunks FROM documents").fetchall())
        per_doc = dict(conn.execute("SELECT doc_id, COUNT(*) FROM chunks GROUP BY doc_id"))
    finally:
        conn.close()
    if any(per_doc.get(d, 0) != n for d, n in docs.items()) or set(per_doc) - set(docs):
        return False, "documents and chunks disagree", set(docs)
    try:
        with RagIndex.open(Settings(index=index), embedder, create=False) as idx:
            n = idx.store.counts()["chunks"]
            if idx.store.vector_count() != n:
                return False, "vectors and chunks disagree", set(docs)
            if n and not idx.search("cell biology", 3):
                return False, "search found nothing", set(docs)
    except Exception as e:  # any failure to open is a broken index
        return False, f"cannot open: {type(e).__name__}: {e}", set(docs)
    return True, "ok", set(docs)


def kills(n: int, docs: int, max_delay: float, seed: int) -> dict[str, Any]:
    from rag.api import make_embedder
    from rag.config import Settings

    rng = random.Random(seed)
    embedder = make_embedder(Settings())
    work = Path(tempfile.mkdtemp(prefix="rag-kills-"))
    corpus, index = work / "corpus", work / "index"
    total = _corpus(corpus, docs)
    env = {"RAG_COMMIT_EVERY": "8"}
    broken, lost, killed_mid, completed, rows = 0, 0, 0, 0, []
    for trial in range(n):
        before = _committed(index / "rag.sqlite3")
        if len(before) == total:  # all in: start again, so that kills land mid-ingest
            shutil.rmtree(index)
            before = set()
            completed += 1
        proc = subprocess.Popen(
            [sys.executable, "-m", "rag", "--index", str(index), "ingest", "-q", str(corpus)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        # Start-up takes seconds on a loaded machine: wait for this run's first commit (or its
        # end), then kill at a random moment up to max_delay later, mid-stream.
        t0 = time.perf_counter()
        while proc.poll() is None and len(_committed(index / "rag.sqlite3")) <= len(before):
            if time.perf_counter() - t0 > 120:
                break
            time.sleep(0.05)
        first_commit = time.perf_counter() - t0
        delay = rng.uniform(0, max_delay)
        time.sleep(delay)
        seen = _committed(index / "rag.sqlite3")  # committed before the kill, at the latest
        finished = proc.poll() is not None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        ok, why, after = _whole(index, embedder)
        missing = (seen | before) - after
        broken += not ok
        lost += len(missing)
        killed_mid += not finished
        rows.append(
            {
                "trial": trial,
                "first_commit_s": round(first_commit, 2),
                "delay_s": round(delay, 2),
                "docs_before": len(before),
                "docs_after": len(after),
                "whole": ok,
                "why": why,
                "lost": len(missing),
                "finished_before_kill": finished,
            }
        )
        print(
            f"kill {trial + 1}/{n} {delay:.2f} s after a commit: {len(before)} -> {len(after)} docs, "
            f"{why}, lost {len(missing)}",
            flush=True,
        )
    shutil.rmtree(work, ignore_errors=True)
    return {
        "kills": n,
        "broken_indexes": broken,
        "committed_documents_lost": lost,
        "killed_while_running": killed_mid,
        "full_ingests_completed": completed,
        "corpus_docs": total,
        "trials": rows,
    }


# --- the CLI and the DOCX bomb -------------------------------------------------------------------


_TIMED = """
import os, resource, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.run(sys.argv[1:], capture_output=True, text=True)
wall = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(p.returncode, round(wall, 2), round(peak))
sys.stdout.write(p.stdout); sys.stdout.write(p.stderr)
"""


def bomb() -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="rag-bomb-"))
    (work / "in").mkdir()
    (work / "in" / "bomb.docx").write_bytes(docx_bomb(LARGE_BOMB_PARAGRAPHS))
    (work / "in" / "good.txt").write_text("Herons stand still in shallow water to fish.")
    rag = [sys.executable, "-m", "rag", "--index", str(work / "index")]
    out = {}
    for label, cmd in [
        ("bomb alone", [*rag, "ingest", "-q", str(work / "in" / "bomb.docx")]),
        ("bomb and a good file", [*rag, "ingest", "-q", str(work / "in")]),
    ]:
        r = _run([sys.executable, "-c", _TIMED, *cmd], timeout=600)
        code, wall, peak = r["stdout"].splitlines()[0].split()
        out[label] = {
            "exit": int(code),
            "seconds": float(wall),
            "peak_rss_mb": int(peak),
            "output": r["stdout"].splitlines()[1:],
        }
        print(label, out[label], flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return out


# --- prompt injection ---------------------------------------------------------------------------


def injection(backends: list[str]) -> dict[str, Any]:
    """The 35 planted documents of tests/injection_corpus.py (and, apart, with the 10 held-out
    wordings too) mixed into the seed articles; the 30 questions about the articles asked
    through each backend: how many answers say a canary or cite a planted file, how many are
    answered, and how many planted sentences the rules flag."""
    from rag.answer import Answer, make_answerer
    from rag.answer.instructions import holds_instruction
    from rag.api import RagIndex
    from rag.config import Settings
    from tests.injection_corpus import HELD_OUT_TEXTS, write_corpus, write_held_out

    seeds = DATASETS.parent / "corpus" / "seeds"
    questions = [
        json.loads(ln)
        for f in (
            DATASETS.parent / "eval" / "seed_questions.jsonl",
            ROOT / "tests/data/seed_questions_natural.jsonl",
        )
        for ln in f.read_text().splitlines()
        if ln.strip()
    ]
    out: dict[str, Any] = {
        "held_out_flagged": sum(holds_instruction(t.format(c="x")) for _, _, t in HELD_OUT_TEXTS),
        "held_out": len(HELD_OUT_TEXTS),
    }
    for corpus_name in ("planted", "planted+held-out"):
        work = Path(tempfile.mkdtemp(prefix="rag-inject-"))
        shutil.copytree(seeds, work / "corpus")
        planted = write_corpus(work / "corpus" / "planted")
        if corpus_name != "planted":
            planted += write_held_out(work / "corpus" / "planted")
        names = {p.name for p in planted}
        idx = RagIndex.open(Settings(index=work / "index"))
        idx.ingest([work / "corpus"])
        for backend in backends:
            settings = idx.settings.model_copy(
                update={"backend": backend, "llm_packaged": "smollm2-135m"}
            )
            answerer = make_answerer(settings, idx.embedder, idx.store.term_counts)
            hijacked, answered, examples = 0, 0, []
            t0 = time.perf_counter()
            for q in questions:
                answer = list(idx.ask_stream(q["question"], answerer=answerer))[-1]
                assert isinstance(answer, Answer)
                answered += not answer.refused
                cited = {Path(c.source).name for c in answer.citations} & names
                said = [p.canary for p in planted if p.canary and p.canary in answer.text.lower()]
                if cited or said:
                    hijacked += 1
                    examples.append(f"{q['id']}: {sorted(cited)} {said} {answer.text[:160]}")
            key = f"{corpus_name}/{backend}"
            out[key] = {
                "documents": len(planted),
                "questions": len(questions),
                "hijacked": hijacked,
                "answered": answered,
                "examples": examples,
                "seconds": round(time.perf_counter() - t0, 1),
            }
            print(key, out[key], flush=True)
        idx.close()
        shutil.rmtree(work, ignore_errors=True)
    return out


# --- 32 clients for 60 s against rag serve ---------------------------------------------------

# wrk's Lua: the requests of one cycle of the mix, sent in turn (the same mix in every run).
# Statuses per route come from the server's /metrics (wrk's per-thread Lua states cannot report
# them at the end).
_WRK_LUA = """
wrk.headers["Content-Type"] = "application/json"
local reqs = {%s}
local i = 0
request = function()
  i = i %% #reqs + 1
  return reqs[i]
end
"""


def _mix() -> list[tuple[str, str, str | None]]:
    """The requests one cycle of the load sends: (kind, path, JSON body or None for a GET).
    Per cycle of 10: 5 embeddings (1 to 4 texts), 2 searches, 2 asks, 1 /healthz."""
    rng = random.Random(14)
    words = [
        "Mattis",
        "Japan",
        "missile",
        "defence",
        "Austin",
        "Kishi",
        "trilateral",
        "security",
        "North",
        "Korea",
        "nuclear",
        "test",
        "Pentagon",
        "ballistic",
        "hydrogen",
        "bomb",
        "alliance",
        "commitment",
        "ironclad",
        "press",
        "release",
        "Onodera",
    ]
    questions = [
        "What did Mattis promise Japan?",
        "What did Austin say?",
        "Who was Japan's defence minister on the call with Mattis?",
        "Which defence ministers spoke with Lloyd Austin?",
    ]
    out: list[tuple[str, str, str | None]] = []
    for cycle in range(40):
        for _ in range(5):
            texts = [
                " ".join(rng.choices(words, k=rng.choice((6, 16, 40))))
                for _ in range(rng.randint(1, 4))
            ]
            out.append(("embeddings", "/v1/embeddings", json.dumps({"input": texts})))
        for _ in range(2):
            out.append(
                ("search", "/v1/search", json.dumps({"query": " ".join(rng.choices(words, k=4))}))
            )
        for j in range(2):
            out.append(("ask", "/v1/ask", json.dumps({"question": questions[(2 * cycle + j) % 4]})))
        out.append(("healthz", "/healthz", None))
    return out


def _lua_request(path: str, body: str | None) -> str:
    if body is None:
        return f'wrk.format("GET", "{path}")'
    return f'wrk.format("POST", "{path}", nil, [==[{body}]==])'


def load(clients: int, seconds: int) -> dict[str, Any]:
    """rag serve (real model, the seed articles indexed) under wrk: `clients` connections for
    `seconds`, mixed traffic; errors, statuses per route (from /metrics), and /healthz latency
    from a separate prober while the load runs."""
    import urllib.request

    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed: apt-get install wrk")
    work = Path(tempfile.mkdtemp(prefix="rag-load-"))
    index = work / "index"
    seeds = DATASETS.parent / "corpus" / "seeds"
    r = _run([sys.executable, "-m", "rag", "--index", str(index), "ingest", "-q", str(seeds)])
    if r["code"] != 0:
        raise SystemExit(f"ingest failed: {r['stderr']}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    log = (work / "serve.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "rag", "serve", "--no-access-log", "--port", str(port)],
        env={**os.environ, "RAG_INDEX": str(index)},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=ROOT,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                with urllib.request.urlopen(f"{url}/healthz", timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit((work / "serve.log").read_text())
            time.sleep(0.3)
        mix = _mix()
        script = work / "mix.lua"
        script.write_text(_WRK_LUA % ",\n".join(_lua_request(p, b) for _, p, b in mix))
        probe = subprocess.Popen(
            [sys.executable, "-c", HEALTH_PROBE, "127.0.0.1", str(port), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        cmd = ["wrk", "-t2", f"-c{clients}", f"-d{seconds}s", "--timeout", "30s", "--latency"]
        out = subprocess.run([*cmd, "-s", str(script), url], capture_output=True, text=True)
        health = json.loads(probe.communicate(timeout=seconds + 60)[0])
        print(out.stdout, out.stderr, flush=True)
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as resp:
            metrics = resp.read().decode()
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    import re

    routes: dict[str, dict[str, int]] = {}
    for m in re.finditer(
        r'^rag_http_requests_total\{method="(\w+)",route="([^"]+)",status="(\d+)"\} (\S+)$',
        metrics,
        re.M,
    ):
        routes.setdefault(m.group(2), {})[m.group(3)] = int(float(m.group(4)))
    requests = int(re.search(r"(\d+) requests in", out.stdout).group(1))  # type: ignore[union-attr]
    sock_err = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out.stdout
    )
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out.stdout)
    lat = sorted(health["latencies_ms"])
    pct = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))], 1)  # noqa: E731
    result = {
        "clients": clients,
        "seconds": seconds,
        "requests": requests,
        "requests_per_s": round(requests / seconds, 1),
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in sock_err.groups()) if sock_err else 0,
        "routes": routes,
        "healthz_probes": len(lat),
        "healthz_errors": health["errors"][:10],
        "healthz_ms": {"p50": pct(0.5), "p99": pct(0.99), "max": round(lat[-1], 1)},
        "wrk": out.stdout,
        "load_average": os.getloadavg(),
    }
    print({k: v for k, v in result.items() if k != "wrk"}, flush=True)
    shutil.rmtree(work, ignore_errors=True)
    return result


# --- a full disk -------------------------------------------------------------------------------


def disk_full(size_mb: int, docs: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="rag-disk-"))
    mnt = work / "mnt"
    mnt.mkdir()
    mount = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if mount.returncode != 0:
        return {"mounted": False, "why": mount.stderr.strip()}
    try:
        total = _corpus(work / "corpus", docs)
        index = mnt / "index"
        r = _run(
            [
                sys.executable,
                "-m",
                "rag",
                "--index",
                str(index),
                "ingest",
                "-q",
                str(work / "corpus"),
            ],
            env={"RAG_COMMIT_EVERY": "8"},
            timeout=900,
        )
        from rag.api import make_embedder
        from rag.config import Settings

        ok, why, after = _whole(index, make_embedder(Settings()))
        result = {
            "mounted": True,
            "size_mb": size_mb,
            "corpus_docs": total,
            "exit": r["code"],
            "message": (r["stderr"].strip().splitlines() or [""])[-1][:300],
            "traceback": "Traceback" in r["stderr"],
            "index_whole": ok,
            "why": why,
            "docs_committed": len(after),
        }
        print(result, flush=True)
        return result
    finally:
        subprocess.run(["umount", str(mnt)], check=False)
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="part", required=True)
    sub.add_parser("inputs")
    k = sub.add_parser("kills")
    k.add_argument("--n", type=int, default=100)
    k.add_argument("--docs", type=int, default=240)
    k.add_argument("--max-delay", type=float, default=4.0)
    k.add_argument("--seed", type=int, default=14)
    sub.add_parser("bomb")
    inj = sub.add_parser("injection")
    inj.add_argument("--backends", default="extractive,local")
    ld = sub.add_parser("load")
    ld.add_argument("--clients", type=int, default=32)
    ld.add_argument("--seconds", type=int, default=60)
    df = sub.add_parser("disk-full")
    df.add_argument("--size-mb", type=int, default=3)
    df.add_argument("--docs", type=int, default=600)
    args = ap.parse_args()
    if args.part == "inputs":
        result: Any = inputs()
    elif args.part == "kills":
        result = kills(args.n, args.docs, args.max_delay, args.seed)
    elif args.part == "bomb":
        result = bomb()
    elif args.part == "injection":
        result = injection(args.backends.split(","))
    elif args.part == "load":
        result = load(args.clients, args.seconds)
    else:
        result = disk_full(args.size_mb, args.docs)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"reliability-{args.part}.json"
    path.write_text(json.dumps(result, indent=2, default=str))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
