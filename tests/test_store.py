"""The index on each store: manifest checks, locking, FAISS rebuilds, filters, fusion, and an
ingest killed with SIGKILL."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from rag.api import RagIndex
from rag.config import Settings
from rag.errors import IndexFormatError, IndexLockedError, IndexMismatchError
from rag.retrieve import rrf
from rag.store import Store
from rag.store.keyword import query_terms

from .conftest import STORES, FakeEmbedder, shared, store_settings, write


@pytest.fixture(params=STORES)
def settings(request, tmp_path) -> Settings:
    """Every test here runs on each store (RAG_STORE), unless it names one."""
    return store_settings(tmp_path, request.param)


LOCAL_ONLY = pytest.mark.parametrize("settings", ["local"], indirect=True)


def _ingest_three(idx: RagIndex, tmp_path) -> None:
    write(tmp_path / "c" / "one.txt", "Apples and pears grow in the orchard.")
    write(tmp_path / "c" / "two.md", "# Fruit\n\nBananas ripen in the sun.")
    write(tmp_path / "c" / "sub" / "three.txt", "Cherries are picked in June.")
    idx.ingest([tmp_path / "c"])


def test_another_embedding_model_is_refused_with_a_way_out(settings, tmp_path) -> None:
    with RagIndex.open(settings, FakeEmbedder()) as idx:
        _ingest_three(idx, tmp_path)
    with pytest.raises(IndexMismatchError) as err:
        RagIndex.open(settings, FakeEmbedder(version="v2"))
    msg = str(err.value)
    assert "fake-64-v1" in msg and "fake-64-v2" in msg and "--index" in msg
    with pytest.raises(IndexMismatchError, match="dim"):
        RagIndex.open(settings, FakeEmbedder(dim=32))


def test_other_chunk_sizes_may_search_but_not_add(settings, tmp_path) -> None:
    """Chunks cut to another size would mix in one index: an ingest is refused, with the way
    out. Searching reads the chunks as they are, whatever the settings say now."""
    with RagIndex.open(settings, FakeEmbedder()) as idx:
        _ingest_three(idx, tmp_path)
        before = [h.chunk_id for h in idx.search("cherries", 3)]
    for update in ({"chunk_tokens": 64}, {"chunk_overlap": 4}):
        other = settings.model_copy(update=update)
        with RagIndex.open(other, FakeEmbedder()) as idx:
            assert [h.chunk_id for h in idx.search("cherries", 3)] == before
            write(tmp_path / "c" / "four.txt", "Plums are dried into prunes.")
            key = next(iter(update))
            with pytest.raises(IndexMismatchError, match=f"RAG_{key.upper()}="):
                idx.ingest([tmp_path / "c"])
            assert idx.info()["documents"] == 3  # nothing was added or changed
    with RagIndex.open(settings, FakeEmbedder()) as idx:
        assert len(idx.ingest([tmp_path / "c"]).added) == 1  # with the index's own sizes


def test_manifest_is_readable_json_and_versioned(index, tmp_path) -> None:
    _ingest_three(index, tmp_path)
    m = json.loads((index.settings.index / "manifest.json").read_text())
    assert m["format"] == "rag-index" and m["format_version"] == 1
    assert m["embedding"]["fingerprint"] == "fake-64-v1" and m["embedding"]["dim"] == 64
    assert m["chunking"]["chunk_tokens"] == 40
    info = index.info()
    assert info["documents"] == 3 and info["chunks"] == 3


@LOCAL_ONLY
def test_a_future_format_version_is_refused(settings, tmp_path) -> None:
    with RagIndex.open(settings, FakeEmbedder()) as idx:
        _ingest_three(idx, tmp_path)
    db = sqlite3.connect(settings.index / "rag.sqlite3")
    m = json.loads(db.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()[0])
    m["format_version"] = 99
    db.execute("UPDATE meta SET value=? WHERE key='manifest'", (json.dumps(m),))
    db.commit()
    db.close()
    with pytest.raises(IndexFormatError, match="version 99"):
        RagIndex.open(settings, FakeEmbedder())


@LOCAL_ONLY
def test_an_index_cut_by_the_v1_splitter_is_refused_with_how_to_rebuild(settings, tmp_path):
    # v1 left parts of long runs in no chunk; unchanged files are never cut again, so a v1
    # index would keep those holes for good.
    with RagIndex.open(settings, FakeEmbedder()) as idx:
        _ingest_three(idx, tmp_path)
    db = sqlite3.connect(settings.index / "rag.sqlite3")
    m = json.loads(db.execute("SELECT value FROM meta WHERE key='manifest'").fetchone()[0])
    assert m["chunking"]["splitter"] == "sentences-tokens-v5"
    m["chunking"]["splitter"] = "recursive-tokens-v1"
    db.execute("UPDATE meta SET value=? WHERE key='manifest'", (json.dumps(m),))
    db.commit()
    db.close()
    with pytest.raises(IndexMismatchError, match=r"recursive-tokens-v1.*--index NEW_DIR"):
        RagIndex.open(settings, FakeEmbedder())


def test_opening_a_missing_index_without_create(settings) -> None:
    with pytest.raises(IndexFormatError, match="rag ingest"):
        RagIndex.open(settings, FakeEmbedder(), create=False)


@LOCAL_ONLY
def test_one_writer_at_a_time(settings, tmp_path) -> None:
    a = RagIndex.open(settings, FakeEmbedder())
    b = RagIndex.open(settings, FakeEmbedder())
    a.store.acquire_write_lock()
    with pytest.raises(IndexLockedError, match="being written"):
        b.ingest([write(tmp_path / "x.txt", "hello")])
    a.store.release_write_lock()
    assert b.ingest([tmp_path / "x.txt"]).added
    a.close()
    b.close()


@LOCAL_ONLY
@pytest.mark.parametrize("damage", ["missing", "stale", "corrupt"])
def test_keyword_file_is_rebuilt_from_sqlite(settings, tmp_path, damage) -> None:
    with RagIndex.open(settings, FakeEmbedder()) as idx:
        _ingest_three(idx, tmp_path)
        expected = idx.search("bananas cherries", 3, mode="keyword")
    [kw_file] = settings.index.glob("keywords-*.npz")
    if damage == "missing":
        kw_file.unlink()
    elif damage == "stale":
        kw_file.rename(settings.index / "keywords-0.npz")
    else:
        kw_file.write_bytes(b"PK not really")
    with RagIndex.open(settings, FakeEmbedder()) as idx:
        got = idx.search("bananas cherries", 3, mode="keyword")
        idx.ingest([tmp_path / "c"])  # nothing changed: the next write makes the file whole
    assert [(h.chunk_id, round(h.score, 5)) for h in got] == [
        (h.chunk_id, round(h.score, 5)) for h in expected
    ]
    if damage == "corrupt" and settings.store == "local":  # it was left in place, forever
        from rag.store.keyword import KeywordIndex

        [kw_file] = settings.index.glob("keywords-*.npz")
        gen = int(kw_file.stem.split("-")[1])
        assert KeywordIndex(settings.index)._read(gen, 3) is not None


@LOCAL_ONLY
def test_incremental_keyword_updates_equal_a_rebuild(settings, tmp_path) -> None:
    from rag.store.keyword import KeywordIndex

    with RagIndex.open(settings, FakeEmbedder()) as idx:
        _ingest_three(idx, tmp_path)
        idx.search("warm", 1, mode="keyword")  # load the postings, so later writes update them
        write(tmp_path / "c" / "one.txt", "Apples, plums and quinces grow in the orchard.")
        write(tmp_path / "c" / "four.txt", "Quinces make a fine jelly. Plums too.")
        idx.ingest([tmp_path / "c"])
        idx.remove([str(tmp_path / "c" / "sub")])
        live = idx.store.keywords.current(idx.store._conn)
        fresh = KeywordIndex(tmp_path / "elsewhere")._rebuild(idx.store._conn)
        assert live.chunk_ids.tolist() == fresh.chunk_ids.tolist()
        for q in ("quinces plums", "apples orchard", "cherries june", "bananas"):
            a = idx.store.keywords.search(idx.store._conn, q, 10, None)
            fresh_index = KeywordIndex(tmp_path / "elsewhere")
            fresh_index._p, fresh_index._generation = fresh, idx.store.generation
            b = fresh_index.search(idx.store._conn, q, 10, None)
            assert [c for c, _ in a] == [c for c, _ in b]
            assert [round(s, 5) for _, s in a] == [round(s, 5) for _, s in b]
        assert idx.store.keywords.search(idx.store._conn, "cherries", 5, None) == []


@LOCAL_ONLY
@pytest.mark.parametrize("damage", ["missing", "stale", "corrupt"])
def test_faiss_file_is_rebuilt_from_sqlite(settings, tmp_path, damage) -> None:
    with RagIndex.open(settings, FakeEmbedder()) as idx:
        _ingest_three(idx, tmp_path)
        expected = [h.chunk_id for h in idx.search("bananas sun", 3, mode="dense")]
    [vec_file] = settings.index.glob("vectors-*.faiss")
    if damage == "missing":
        vec_file.unlink()
    elif damage == "stale":  # as after a crash between the SQLite commit and the FAISS write
        vec_file.rename(settings.index / "vectors-0.faiss")
        db = sqlite3.connect(settings.index / "rag.sqlite3")
        db.execute("DELETE FROM chunks WHERE id = (SELECT MIN(id) FROM chunks)")
        db.commit()
        db.close()
    else:
        vec_file.write_bytes(b"not a faiss index")
    with RagIndex.open(settings, FakeEmbedder()) as idx:
        got = [h.chunk_id for h in idx.search("bananas sun", 3, mode="dense")]
        n = idx.store.counts()["chunks"]
        assert idx.store.vector_count() == n
        idx.ingest([tmp_path / "c"])  # nothing changed: the next write makes the file whole
    if damage == "corrupt":
        import faiss

        [vec_file] = settings.index.glob("vectors-*.faiss")
        assert faiss.read_index(str(vec_file)).ntotal == 3
    assert len(expected) == 3 and n == (2 if damage == "stale" else 3)
    if damage == "stale":  # the rebuilt vectors are the rows SQLite still holds, all found
        assert got == [c for c in expected if c != min(expected)]
    else:
        assert got == expected


def test_filters_apply_in_every_mode(index, tmp_path) -> None:
    _ingest_three(index, tmp_path)
    for mode in ("dense", "keyword", "hybrid"):
        hits = index.search("bananas cherries apples", 10, mode=mode, file_types=["md"])
        assert [h.file_type for h in hits] == ["md"]
        hits = index.search("bananas cherries apples", 10, mode=mode, path="sub")
        assert [h.source.endswith("three.txt") for h in hits] == [True]
        hits = index.search("bananas cherries apples", 10, mode=mode, path="*/c/*.txt")
        assert {h.source.rsplit("/", 1)[1] for h in hits} == {"one.txt", "three.txt"}


@LOCAL_ONLY  # Milvus keeps its own files
def test_every_file_of_the_index_is_as_readable_as_its_database(index, tmp_path) -> None:
    """Exploratory run: manifest.json and the vectors' and keywords' files were written 0600
    (mkstemp's mode), the SQLite file 0644: an index shared read-only with another user could
    not be opened."""
    import stat

    _ingest_three(index, tmp_path)
    index.search("apples", 3, mode="keyword")
    folder = Path(index.store.location)
    db = folder / "rag.sqlite3"
    modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in folder.iterdir() if p.is_file()}
    want = stat.S_IMODE(db.stat().st_mode)
    assert {n: m for n, m in modes.items() if not n.endswith((".lock", "-wal", "-shm"))} == {
        n: want for n in modes if not n.endswith((".lock", "-wal", "-shm"))
    }


def test_a_relative_path_pattern_matches_from_any_folder(index, tmp_path) -> None:
    """Exploratory run: `--path 'c/*'` matched nothing (paths are stored whole), though `--path
    c` and `--path '/abs/c/*'` found the files."""
    _ingest_three(index, tmp_path)
    hits = index.search("bananas cherries apples", 10, mode="keyword", path="c/*.txt")
    assert {h.source.rsplit("/", 1)[1] for h in hits} == {"one.txt", "three.txt"}
    hits = index.search("bananas cherries apples", 10, mode="keyword", path="sub/*")
    assert [h.source.rsplit("/", 1)[1] for h in hits] == ["three.txt"]
    assert index.search("apples", 10, mode="keyword", path="ub/*") == []  # folder names whole


def test_file_types_are_read_as_a_user_writes_them(index, tmp_path) -> None:
    """ ".MD", "markdown" and "md" are one type; an unknown one was a filter that silently
    matched nothing ("no matching passages"), now it names the known types."""
    from rag.errors import QueryError

    _ingest_three(index, tmp_path)
    for name in ("md", ".MD", "markdown"):
        hits = index.search("bananas cherries apples", 10, file_types=[name])
        assert [h.file_type for h in hits] == ["md"], name
    assert index.search("apples", 10, file_types=["png", "jpg"]) == []  # images: none here
    with pytest.raises(QueryError, match="unknown file type 'exe': use one of docx"):
        index.search("apples", 10, file_types=["exe"])


def test_a_path_pattern_with_an_open_set_is_an_error(index, tmp_path) -> None:
    from rag.errors import QueryError

    _ingest_three(index, tmp_path)
    for bad in ("[[", "report[1.txt", "*/c/[!"):
        with pytest.raises(QueryError, match="never closed"):
            index.search("apples", 10, path=bad)
    assert index.search("apples", 10, path="*/c/[o]ne.txt", mode="keyword")  # a closed set
    assert index.search("apples", 10, path="*[[]*", mode="keyword") == []  # a literal [


def test_hits_carry_spans_and_headings(index, tmp_path) -> None:
    _ingest_three(index, tmp_path)
    [hit] = index.search("bananas", 1, mode="keyword")
    doc = index.store.document(hit.doc_id)
    assert doc.text[hit.start : hit.end] == hit.text
    assert hit.section == "Fruit"
    assert "§ Fruit" in hit.location()


def test_a_sentence_is_cited_under_its_own_heading(index, tmp_path) -> None:
    """A chunk that starts under "Handbook" and runs into "## Leave": the leave sentence was
    cited as "§ Handbook" (the chunk's first heading), as pages once were."""
    from rag.answer.evidence import candidates, citation

    write(
        tmp_path / "h.md",
        "# Handbook\n\nWelcome to the handbook.\n\n## Leave\n\n"
        "New staff receive 25 days of paid leave per year.\n",
    )
    index.ingest([tmp_path / "h.md"])
    [hit] = index.search("paid leave", 1, mode="keyword")
    assert hit.section == "Handbook"  # where the chunk starts
    by_text = {c.text: citation(c, 1) for c in candidates([hit])}
    assert by_text["New staff receive 25 days of paid leave per year."].section == (
        "Handbook > Leave"
    )
    assert by_text["Welcome to the handbook."].section == "Handbook"


def test_keyword_query_cannot_inject_fts_syntax(index, tmp_path) -> None:
    _ingest_three(index, tmp_path)
    # Query syntax is read as plain words: the words find their chunk, the operators nothing.
    expected = {'"': [], "-": [], "^": [], "apples AND NOT": ["one.txt"], "apples*": ["one.txt"]}
    expected |= {"NEAR(apples pears)": ["one.txt"], "text:apples": ["one.txt"]}
    expected |= {'"bananas" OR cherries': ["two.md", "three.txt"]}
    for q, names in expected.items():
        hits = index.search(q, 3, mode="keyword")
        assert sorted(Path(h.source).name for h in hits) == sorted(names), q
    assert query_terms("What did Austin say about the orchard?") == ["austin", "orchard"]
    assert index.search("the of and", 3, mode="keyword") == []


def test_rare_names_count_in_small_collections(index, tmp_path) -> None:
    # FTS5's own IDF is zero for a term in half the chunks; ours must still rank by it.
    write(tmp_path / "k" / "a.txt", "Austin spoke with Kishi about trilateral security.")
    write(tmp_path / "k" / "b.txt", "Austin and Suh discussed deterrence.")
    write(tmp_path / "k" / "c.txt", "The weather was mild and calm.")
    write(tmp_path / "k" / "d.txt", "Markets closed higher on the day.")
    index.ingest([tmp_path / "k"])
    hits = index.search("Austin", 4, mode="keyword")
    assert {h.source.rsplit("/", 1)[1] for h in hits} == {"a.txt", "b.txt"}


def test_each_store_implements_the_store_protocol(index) -> None:
    assert isinstance(index.store, Store)  # what retrieval, ingest and the server rely on


def test_rrf_fuses_by_rank() -> None:
    fused = rrf({"dense": [1, 2, 3], "keyword": [3, 4, 1]}, k=60)
    scores = {c: s for c, s, _ in fused}
    assert scores[1] == pytest.approx(1 / 61 + 1 / 63)
    assert scores[3] == pytest.approx(1 / 63 + 1 / 61)
    assert [c for c, _, _ in fused][:2] == [1, 3]  # tie broken by best rank, then id
    assert fused[0][2] == {"dense": 1, "keyword": 3}
    assert {c for c, _, _ in fused} == {1, 2, 3, 4}


# An ingest in a process of its own, on the store named, that prints the sources of each write
# once the store has committed it: after such a line, those documents must survive a kill.
_KILLED_INGEST = """
import json, sys
sys.path.insert(0, sys.argv[1])
from tests.conftest import FakeEmbedder
from rag.api import RagIndex
from rag.config import Settings

settings = Settings(
    store=sys.argv[2], index=sys.argv[3], chunk_tokens=40, chunk_overlap=8, commit_every=8
)
idx = RagIndex.open(settings, FakeEmbedder(dim=384))
write = idx.store.write

def write_and_report(docs, remove_ids=()):
    write(docs, remove_ids)
    print(json.dumps([w.document.source for w in docs]), flush=True)

idx.store.write = write_and_report
idx.ingest([sys.argv[4]])
"""


def _whole_documents(settings: Settings) -> tuple[set[str], int]:
    """The sources the index shows and its number of chunks, after checking that every shown
    document has exactly the chunks it declares (none of another version, none half-written),
    that the local store's FAISS and keyword indexes agree with SQLite, and that a search
    answers from shown documents."""
    with RagIndex.open(settings, FakeEmbedder(dim=384), create=False) as idx:
        store = idx.store
        infos = store.documents()
        declared = {d.id: d.n_chunks for d in infos}
        live: dict[str, int] = {}
        if settings.store == "local":
            conn = store._conn
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            live = dict(conn.execute("SELECT doc_id, COUNT(*) FROM chunks GROUP BY doc_id"))
            n = sum(live.values())
            assert store.vector_count() == n
            assert len(store.keywords.current(conn).chunk_ids) == n
        else:
            heads = {r["id"]: r["gen"] for r in store._all(store.docs, "gen >= 0", ["gen"])}
            for c in store._all(store.chunks, "id >= 0 or id < 0", ["doc_id", "gen"]):
                if heads.get(c["doc_id"]) == c["gen"]:
                    live[c["doc_id"]] = live.get(c["doc_id"], 0) + 1
        assert live == declared, "a document is partly written, or chunks have no document"
        hits = idx.search("cerebral white matter diffusion", 3)
        assert hits and all(h.doc_id in declared and h.text for h in hits)
        return {d.source for d in infos}, sum(live.values())


@pytest.mark.slow
def test_kill_9_during_an_ingest_leaves_the_last_committed_state(settings, tmp_path) -> None:
    """A real ingest process (files read, split, written by the store; a fake embedder, since
    this is about the store) killed with SIGKILL at four moments, after 1, 10, 40 and 120 of
    its commits and a pause. Each time every document shown is whole, every document whose
    commit was reported before the kill is there, and the next ingest finishes the rest."""
    corpus = tmp_path / "corpus"
    lines = shared("datasets", "scifact", "corpus.jsonl").open().readlines()[:600]
    for line in lines:
        rec = json.loads(line)
        write(corpus / f"{rec['_id']}.txt", f"{rec['title']}\n\n{rec['text']}")
    root = str(Path(__file__).resolve().parents[1])
    shown: set[str] = set()
    for commits, pause in ((1, 0.0), (10, 0.02), (40, 0.1), (120, 0.3)):
        child = [_KILLED_INGEST, root, settings.store, str(settings.index), str(corpus)]
        proc = subprocess.Popen(
            [sys.executable, "-c", *child],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        reported: set[str] = set()
        for _ in range(commits):
            line = proc.stdout.readline()
            assert line, "the ingest ended before it had committed enough"
            reported |= set(json.loads(line))
        time.sleep(pause)
        assert proc.poll() is None, "ingest finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        now, _ = _whole_documents(settings)
        assert reported <= now and shown <= now, "a committed document was lost"
        assert len(now) > len(shown)
        shown = now
    assert len(shown) < len(lines)
    with RagIndex.open(settings, FakeEmbedder(dim=384)) as idx:
        idx.ingest([corpus])
    docs, chunks = _whole_documents(settings)
    assert len(docs) == len(lines) and chunks > len(lines)


def _read_only(monkeypatch, folder: Path) -> None:
    """The index folder as a read-only mount shows it: os.access says no to writing. (Tests may
    run as root, whom file modes do not stop; the database itself is opened read-only.)"""
    import os

    real = os.access

    def access(path, mode, *args, **kwargs):
        if mode & os.W_OK and Path(path).resolve().is_relative_to(folder.resolve()):
            return False
        return real(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)


@LOCAL_ONLY
def test_a_read_only_index_is_searched_and_asked_and_never_changed(
    settings, tmp_path, monkeypatch
) -> None:
    """An index on a read-only mount: every command ended in "unable to open database file"
    (WAL mode writes its shared-memory file even to read). Now reads work, writes say why."""
    from rag.errors import IndexReadOnlyError

    with RagIndex.open(settings, FakeEmbedder()) as idx:
        _ingest_three(idx, tmp_path)
    before = {p.name: p.read_bytes() for p in settings.index.iterdir()}
    _read_only(monkeypatch, settings.index)
    with RagIndex.open(settings, FakeEmbedder()) as idx:
        assert idx.store.read_only
        assert len(idx.documents()) == 3
        for mode in ("dense", "keyword", "hybrid"):
            assert idx.search("bananas", 1, mode=mode)[0].source.endswith("two.md")
        idx.ask("Where do apples grow?")  # answering reads only: no error
        with pytest.raises(IndexReadOnlyError, match="read-only: it can be searched"):
            idx.ingest([tmp_path / "c"])
        with pytest.raises(IndexReadOnlyError, match="read-only"):
            idx.remove([str(tmp_path / "c" / "one.txt")])
    assert {p.name: p.read_bytes() for p in settings.index.iterdir()} == before
    with pytest.raises(IndexReadOnlyError, match="cannot create an index"):
        RagIndex.open(settings.model_copy(update={"index": settings.index / "new"}), FakeEmbedder())


@LOCAL_ONLY
def test_a_read_only_index_with_unmerged_writes_is_refused(settings, tmp_path, monkeypatch) -> None:
    from rag.errors import IndexReadOnlyError

    with RagIndex.open(settings, FakeEmbedder()) as idx:
        _ingest_three(idx, tmp_path)
    (settings.index / "rag.sqlite3-wal").write_bytes(b"\0" * 4096)  # as a crash leaves it
    _read_only(monkeypatch, settings.index)
    with pytest.raises(IndexReadOnlyError, match="open it once where it is writable"):
        RagIndex.open(settings, FakeEmbedder())


@LOCAL_ONLY
def test_a_damaged_database_or_an_impossible_folder_is_one_clear_error(settings, tmp_path) -> None:
    with RagIndex.open(settings, FakeEmbedder()) as idx:
        _ingest_three(idx, tmp_path)
    db = settings.index / "rag.sqlite3"
    with db.open("r+b") as f:
        f.truncate(5000)
    with pytest.raises(IndexFormatError, match=r"is damaged .*ingest your files again"):
        RagIndex.open(settings, FakeEmbedder())
    under_a_file = settings.model_copy(update={"index": tmp_path / "c" / "one.txt" / "idx"})
    with pytest.raises(IndexFormatError, match="cannot create the index folder"):
        RagIndex.open(under_a_file, FakeEmbedder())


def test_k_below_one_is_an_error_not_a_default(index, tmp_path) -> None:
    """k=0 gave the default 5 passages and k=-1 all but one of the index's chunks."""
    from rag.errors import QueryError
    from rag.langchain import RagRetriever

    _ingest_three(index, tmp_path)
    for k in (0, -1):
        with pytest.raises(QueryError, match="at least 1"):
            index.search("fruit", k)
        with pytest.raises(QueryError, match="at least 1"):
            index.ask("Which fruit ripens in the sun?", k)
        with pytest.raises(QueryError, match="at least 1"):
            RagRetriever(index=index, k=k).invoke("fruit")
    assert len(index.search("fruit", 1)) == 1
    assert len(index.search("fruit", np.int64(2))) == 2  # numpy's ints are ints
    assert len(index.search("fruit")) == 3  # left out: the default (top_k 5, 3 chunks here)
