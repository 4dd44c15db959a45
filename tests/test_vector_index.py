"""The local store's FAISS index chosen by size (store/vectors.py): flat up to FLAT_MAX, an IVF
above it, trained again at fourfold growth, flat again below half the bound; and the keyword
postings' incremental updates (store/keyword.py) against a rebuild. The bound is lowered here so
that a few thousand vectors cross it."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from rag.documents import Chunk, Document
from rag.store import IndexStore
from rag.store import vectors as vx
from rag.store.keyword import KeywordIndex
from rag.store.schema import DocumentWrite

DIM = 32
PER_DOC = 5


@pytest.fixture
def small_bound(monkeypatch) -> None:
    monkeypatch.setattr(vx, "FLAT_MAX", 1000)


def _vectors(seed: int, n: int) -> np.ndarray:
    """Unit vectors around 40 centres (as embeddings cluster by topic), so an IVF has lists
    worth the name."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(0).standard_normal((40, DIM)).astype(np.float32)
    v = centres[rng.integers(0, 40, n)] + 0.35 * rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _doc(i: int, vecs: np.ndarray) -> DocumentWrite:
    texts = [f"document {i} part {j} word{i % 7} w{j}" for j in range(len(vecs))]
    text = " ".join(texts)
    chunks, at = [], 0
    for j, t in enumerate(texts):
        chunks.append(Chunk(j, at, at + len(t), t, 8))
        at += len(t) + 1
    d = Document(f"/corpus/d{i:05d}.txt", "txt", text, f"hash{i}")
    return DocumentWrite(d, chunks, vecs, len(text), 0.0)


def _add(store: IndexStore, first: int, count: int) -> None:
    vecs = _vectors(first + 1, count * PER_DOC)
    with store.writing():
        for lo in range(0, count, 50):
            store.write(
                [
                    _doc(i, vecs[(i - first) * PER_DOC : (i - first + 1) * PER_DOC])
                    for i in range(first + lo, first + min(count, lo + 50))
                ]
            )


def _exact(store: IndexStore, q: np.ndarray, k: int, ids=None) -> list[tuple[int, float]]:
    rows = store._conn.execute("SELECT id, vector FROM chunks").fetchall()
    got = [(r[0], float(np.frombuffer(r[1], dtype=np.float32) @ q)) for r in rows]
    if ids is not None:
        got = [g for g in got if g[0] in ids]
    return sorted(got, key=lambda g: (-g[1], g[0]))[:k]


def _open(tmp_path) -> IndexStore:
    return IndexStore.open(
        tmp_path / "index", {"fingerprint": "test", "dim": DIM}, {"chunk_tokens": 40}
    )


def _kind(store: IndexStore) -> str:
    return vx.kind(store.vectors.current(store._conn))


def test_below_the_bound_the_index_is_flat_and_exact(tmp_path, small_bound) -> None:
    store = _open(tmp_path)
    _add(store, 0, 190)  # 950 chunks
    assert _kind(store) == "flat"
    for q in _vectors(99, 10):
        got = store.dense_search(q, 10)
        want = _exact(store, q, 10)
        assert [c for c, _ in got] == [c for c, _ in want]
        assert np.allclose([s for _, s in got], [s for _, s in want], atol=1e-5)
    store.close()


def test_past_the_bound_an_ivf_is_trained_written_and_read_back(tmp_path, small_bound) -> None:
    store = _open(tmp_path)
    _add(store, 0, 150)
    store.dense_search(_vectors(5, 1)[0], 5)  # loaded: the next writes go through apply()
    _add(store, 150, 150)  # 1,500 chunks: past the bound
    n = store.counts()["chunks"]
    assert n == 1500 and _kind(store) == f"ivf{vx.lists_for(1500)}"
    [file] = (tmp_path / "index").glob("vectors-*.faiss")
    assert vx.kind(vx.faiss.read_index(str(file))) == "ivf38"
    queries = _vectors(7, 20)
    before = [store.dense_search(q, 10) for q in queries]
    store.close()
    store = _open(tmp_path)  # read from the file, not rebuilt: same answers
    assert [store.dense_search(q, 10) for q in queries] == before
    # Scores are the exact inner products (rescored from SQLite), whatever the IVF chose.
    for q, hits in zip(queries, before, strict=True):
        exact = dict(_exact(store, q, 1500))
        assert all(abs(exact[c] - s) < 1e-5 for c, s in hits)
        assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    store.close()


def test_the_ivf_finds_the_exact_hits_when_it_probes_every_list(
    tmp_path, small_bound, monkeypatch
) -> None:
    store = _open(tmp_path)
    _add(store, 0, 400)
    assert _kind(store).startswith("ivf")
    monkeypatch.setattr(vx, "NPROBE_DIVISOR", 1)
    for q in _vectors(11, 10):
        assert [c for c, _ in store.dense_search(q, 10)] == [c for c, _ in _exact(store, q, 10)]
    store.close()


def test_its_recall_at_the_chosen_probes_is_high_on_clustered_vectors(tmp_path, small_bound):
    store = _open(tmp_path)
    _add(store, 0, 600)  # 3,000 chunks, 54 lists, 6 probed
    found = []
    for q in _vectors(13, 50):
        want = {c for c, _ in _exact(store, q, 10)}
        found.append(len(want & {c for c, _ in store.dense_search(q, 10)}) / 10)
    assert np.mean(found) >= 0.9
    store.close()


def test_removed_chunks_are_never_found_by_the_ivf(tmp_path, small_bound) -> None:
    store = _open(tmp_path)
    _add(store, 0, 300)
    gone = [f"d{i:05d}" for i in range(0, 300, 3)]
    ids = {r[1]: r[0] for r in store._conn.execute("SELECT id, source FROM documents")}
    doc_ids = [ids[f"/corpus/{g}.txt"] for g in gone]
    rows = store._conn.execute(
        f"SELECT id, vector FROM chunks WHERE doc_id IN ({','.join('?' * len(doc_ids))})",
        doc_ids,
    ).fetchall()
    assert _kind(store).startswith("ivf")  # loaded before the removal: updated in memory
    with store.writing():
        store.remove(doc_ids)
    assert _kind(store).startswith("ivf") and store.vector_count() == 1500 - len(rows)
    removed = {r[0] for r in rows}
    index = store.vectors.current(store._conn)
    every_list = vx.faiss.SearchParametersIVF(nprobe=vx.faiss.extract_index_ivf(index).nlist)
    for cid, blob in rows[::7]:  # each removed vector as the query: its own copy would win
        q = np.frombuffer(blob, dtype=np.float32)
        _, raw = index.search(q[None], 50, params=every_list)  # the IVF itself, not rescored
        assert cid not in raw[0] and not removed & set(raw[0].tolist())
        hits = store.dense_search(q, 20)
        assert len(hits) == 20 and not removed & {c for c, _ in hits}
    store.close()


def _remove_docs(store: IndexStore, count: int) -> None:
    ids = [r[0] for r in store._conn.execute("SELECT id FROM documents ORDER BY source")]
    with store.writing():
        store.remove(ids[:count])


def test_fourfold_growth_or_shrinkage_trains_the_ivf_again(tmp_path, small_bound) -> None:
    store = _open(tmp_path)
    _add(store, 0, 220)  # 1,100 chunks: sqrt 33
    assert _kind(store) == "ivf33"
    _add(store, 220, 600)  # 4,100: sqrt 64, under twice 33
    assert _kind(store) == "ivf33"
    _add(store, 820, 100)  # 4,600: sqrt 67, trained again
    assert _kind(store) == "ivf67"
    _remove_docs(store, 700)  # 1,100: sqrt 33, not under half of 67
    assert _kind(store) == "ivf67"
    _remove_docs(store, 10)  # 1,050: sqrt 32, trained again
    assert _kind(store) == "ivf32" and store.vector_count() == 1050
    store.close()


def test_between_half_the_bound_and_the_bound_an_ivf_stays_then_goes_flat(tmp_path, small_bound):
    store = _open(tmp_path)
    _add(store, 0, 220)
    assert _kind(store) == "ivf33"
    _remove_docs(store, 60)  # 800 chunks: no switching back and forth around the bound
    assert _kind(store) == "ivf33" and store.vector_count() == 800
    _remove_docs(store, 80)  # 400: under half the bound
    assert _kind(store) == "flat" and store.vector_count() == 400
    q = _vectors(3, 1)[0]
    assert [c for c, _ in store.dense_search(q, 10)] == [c for c, _ in _exact(store, q, 10)]
    store.close()


def test_a_filter_on_an_ivf_probes_enough_lists_to_find_the_allowed_chunks(
    tmp_path, small_bound
) -> None:
    store = _open(tmp_path)
    _add(store, 0, 400)
    assert _kind(store).startswith("ivf")
    allowed = {
        r[0]
        for r in store._conn.execute(
            "SELECT c.id FROM chunks c JOIN documents d ON d.id = c.doc_id"
            " WHERE d.source GLOB '/corpus/d0001*'"
        )
    }
    assert len(allowed) == 50
    for q in _vectors(17, 10):
        got = store.dense_search(q, 10, path_glob="/corpus/d0001*")
        assert [c for c, _ in got] == [c for c, _ in _exact(store, q, 10, allowed)]
    store.close()


def test_a_flat_file_too_big_for_its_kind_is_rebuilt_as_an_ivf(tmp_path, small_bound, monkeypatch):
    monkeypatch.setattr(vx, "FLAT_MAX", 10_000)
    store = _open(tmp_path)
    _add(store, 0, 300)
    assert _kind(store) == "flat"
    store.close()
    monkeypatch.setattr(vx, "FLAT_MAX", 1000)  # as after an upgrade that lowered the bound
    store = _open(tmp_path)
    assert _kind(store) == "ivf38"
    store.close()


# ---------------------------------------------------------------- keyword postings


def _texts(seed: int, n: int, first_id: int) -> list[tuple[int, str]]:
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(60)] + ["otter", "kiln", "glaze", "firmware"]
    return [
        (first_id + i, " ".join(rng.choice(words, size=int(rng.integers(3, 30))))) for i in range(n)
    ]


def _conn(rows: list[tuple[int, str]]) -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    conn.execute("INSERT INTO meta VALUES ('generation', '1')")
    conn.execute("CREATE TABLE chunks (id INTEGER PRIMARY KEY, text TEXT)")
    conn.executemany("INSERT INTO chunks VALUES (?, ?)", rows)
    return conn


@pytest.mark.parametrize("seed", range(6))
def test_keyword_postings_after_random_adds_and_removals_equal_a_rebuild(tmp_path, seed):
    """Removals, additions in id order and out of it (an id below the largest), and new words,
    applied to loaded postings, score every query exactly as postings built from scratch."""
    rng = np.random.default_rng(seed)
    rows = dict(_texts(seed, 300, 1))
    conn = _conn(sorted(rows.items()))
    live = KeywordIndex(tmp_path)
    live.current(conn)
    next_id = 301
    for step in range(8):
        gone = [int(c) for c in rng.choice(sorted(rows), size=20, replace=False)]
        low = [c for c in range(1, next_id) if c not in rows][:3]  # reuse freed ids: unsorted
        added = _texts(seed * 100 + step, 15, next_id) + [(c, f"otter kiln new{step}") for c in low]
        next_id += 15
        for c in gone:
            del rows[c]
        rows.update(added)
        live.apply(gone, added, gen=1)
    fresh = KeywordIndex(tmp_path)._rebuild(_conn(sorted(rows.items())))
    p = live._p
    assert p is not None
    assert p.chunk_ids.tolist() == fresh.chunk_ids.tolist() == sorted(rows)
    for q in ("otter kiln", "w1 w2 w3", "glaze firmware w59", "new3", "w7"):
        a = live.search(conn, q, 50, None)
        fresh_index = KeywordIndex(tmp_path)
        fresh_index._p, fresh_index._generation = fresh, 1
        b = fresh_index.search(conn, q, 50, None)
        assert a == b, q
    assert live.doc_freq(conn, ["otter", "w5"]) == fresh_index.doc_freq(conn, ["otter", "w5"])


def test_keyword_postings_survive_their_file(tmp_path) -> None:
    rows = _texts(1, 200, 1)
    conn = _conn(rows)
    a = KeywordIndex(tmp_path)
    a.flush(conn)
    [file] = tmp_path.glob("keywords-1.npz")
    b = KeywordIndex(tmp_path)
    p = b._read(1, 200)
    assert p is not None and p.pos.dtype == np.int32 and p.tf.dtype == np.uint16
    b._p, b._generation = p, 1
    assert a.search(conn, "otter w3", 20, None) == b.search(conn, "otter w3", 20, None)
    assert file.stat().st_size > 0
