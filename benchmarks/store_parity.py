"""SciFact retrieval on the local store and on Milvus Lite, same chunks, same vectors (issue 16).

    nice .venv/bin/python benchmarks/store_parity.py --others 1000 --work /tmp/parity

Runs `rag eval retrieval` (rag.eval.retrieval) on the local store, copies that index (documents,
chunks and their vectors) into Milvus Lite with the sources pointed at a second copy of the
files, and runs the same evaluation with RAG_STORE=milvus: its ingest finds every file unchanged,
so any difference in the metrics is the store's (BM25 inside Milvus, its filters, its fusion
input), not the embedding. Corpus: every abstract judged for the test queries plus --others
random ones (all 5,183 with --others -1). Writes benchmarks/results/store_parity.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import DATASETS, machine, save

from rag.config import Settings
from rag.documents import Chunk
from rag.eval.data import load_beir
from rag.eval.retrieval import eval_retrieval
from rag.store import DocumentWrite, IndexStore
from rag.store.milvus import MilvusStore


def copy_to_milvus(local: IndexStore, target: MilvusStore, old_root: Path, new_root: Path) -> int:
    """Every document of `local` into `target`, its source moved from old_root to new_root."""
    conn = local._conn
    n = 0
    with target.writing():
        batch: list[DocumentWrite] = []
        for info in local.documents():
            doc = local.document(info.id)
            doc.source = str(new_root / Path(info.source).relative_to(old_root))
            rows = conn.execute(
                'SELECT ordinal, start, "end", text, n_tokens, vector FROM chunks'
                " WHERE doc_id=? ORDER BY ordinal",
                (info.id,),
            ).fetchall()
            chunks = [Chunk(r[0], r[1], r[2], r[3], r[4]) for r in rows]
            vecs = np.vstack([np.frombuffer(r[5], dtype=np.float32) for r in rows])
            batch.append(DocumentWrite(doc, chunks, vecs, info.size, time.time()))
            n += len(chunks)
            if len(batch) >= 64:
                target.write(batch)
                batch = []
        if batch:
            target.write(batch)
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", type=Path, default=DATASETS / "scifact")
    ap.add_argument("--others", type=int, default=1000, help="unjudged abstracts (-1: all)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/store-parity"))
    args = ap.parse_args()

    data = load_beir(args.dataset)
    judged = {d for q in data.queries for d in data.qrels.get(q, {}) if d in data.corpus}
    corpus_limit = None if args.others < 0 else len(judged) + args.others
    base = Settings()
    out: dict[str, object] = {"machine": machine(), "corpus_limit": corpus_limit}

    t0 = time.perf_counter()
    local_work = args.work / "local"
    out["local"] = eval_retrieval(args.dataset, base, corpus_limit=corpus_limit, work=local_work)
    print("local", json.dumps(out["local"]["results"], indent=1), flush=True)  # type: ignore[index]

    milvus_work = args.work / "milvus"
    settings = base.model_copy(update={"store": "milvus", "index": milvus_work / "index"})
    local = IndexStore.open(
        local_work / "index",
        json.loads((local_work / "index" / "manifest.json").read_text())["embedding"],
        json.loads((local_work / "index" / "manifest.json").read_text())["chunking"],
        create=False,
    )
    target = MilvusStore.open(settings, local.manifest.embedding, local.manifest.chunking)
    t = time.perf_counter()
    if target.counts()["documents"] == 0:
        out["copied_chunks"] = copy_to_milvus(
            local,
            target,
            (local_work / "documents").resolve(),
            (milvus_work / "documents").resolve(),
        )
    out["copy_s"] = round(time.perf_counter() - t, 1)
    target.close()
    local.close()
    out["milvus"] = eval_retrieval(
        args.dataset, settings, corpus_limit=corpus_limit, work=milvus_work
    )
    print("milvus", json.dumps(out["milvus"]["results"], indent=1), flush=True)  # type: ignore[index]
    out["wall_s"] = round(time.perf_counter() - t0, 1)
    save("store_parity", out)


if __name__ == "__main__":
    main()
