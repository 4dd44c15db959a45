"""The splitter on a real corpus, beside the splitter of an earlier commit: how many characters
no chunk covers, and whether the chunks (texts and offsets) are the same.

    .venv/bin/python benchmarks/splitter_coverage.py --old-rev d098d66~1

Reads SciFact's corpus.jsonl (each abstract as `rag eval` writes it: title, blank line, text)
or, with --folder, every .txt/.md file under a folder; counts tokens with the packaged model's
tokenizer at the default chunk settings.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rag.config import Settings  # noqa: E402
from rag.embeddings import SentenceTransformerEmbedder  # noqa: E402
from rag.ingest.splitter import TokenSplitter  # noqa: E402


def old_splitter(rev: str) -> Any:
    """The TokenSplitter class of rag/ingest/splitter.py at `rev`, imported beside today's."""
    source = subprocess.run(
        ["git", "show", f"{rev}:rag/ingest/splitter.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "old_splitter.py"
    path.write_text(source.replace("from ..documents import", "from rag.documents import"))
    spec = importlib.util.spec_from_file_location("old_splitter", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.TokenSplitter


def documents(args: argparse.Namespace) -> list[str]:
    if args.folder:
        files = sorted(p for p in Path(args.folder).rglob("*") if p.suffix in {".txt", ".md"})
        return [p.read_text(encoding="utf-8", errors="replace") for p in files]
    docs = []
    with open(args.scifact / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            rec = json.loads(line)
            docs.append(f"{rec['title']}\n\n{rec['text']}" if rec["title"] else rec["text"])
    return docs


def lost(text: str, chunks: list[Any]) -> int:
    """Non-space characters in no chunk's span."""
    covered = bytearray(len(text))
    for c in chunks:
        covered[c.start : c.end] = b"\1" * (c.end - c.start)
    return sum(1 for i, ch in enumerate(text) if not covered[i] and not ch.isspace())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scifact", type=Path, default=ROOT.parent / "shared/datasets/scifact")
    ap.add_argument("--folder", type=Path, help="a folder of .txt/.md files instead of SciFact")
    ap.add_argument("--old-rev", help="also run the splitter of this git revision")
    args = ap.parse_args()
    settings = Settings()
    count = SentenceTransformerEmbedder().count_tokens
    size, overlap = settings.chunk_tokens, settings.chunk_overlap
    docs = documents(args)
    splitters = {"now": TokenSplitter(count, size, overlap)}
    if args.old_rev:
        splitters[args.old_rev] = old_splitter(args.old_rev)(count, size, overlap)
    out: dict[str, list[list[tuple[int, int, str]]]] = {}
    for name, splitter in splitters.items():
        t0 = time.perf_counter()
        results = [splitter.split(text) for text in docs]
        seconds = time.perf_counter() - t0
        n_lost = sum(lost(text, chunks) for text, chunks in zip(docs, results, strict=True))
        hit = sum(1 for text, chunks in zip(docs, results, strict=True) if lost(text, chunks))
        print(
            f"{name}: {len(docs)} documents, {sum(map(len, results))} chunks, {n_lost} characters"
            f" in no chunk ({hit} documents), {seconds:.1f} s"
        )
        out[name] = [[(c.start, c.end, c.text) for c in chunks] for chunks in results]
    if args.old_rev:
        same = sum(1 for a, b in zip(out["now"], out[args.old_rev], strict=True) if a == b)
        print(f"documents with identical chunks (texts and offsets): {same} of {len(docs)}")


if __name__ == "__main__":
    main()
