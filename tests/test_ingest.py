"""Ingest with the fake embedder: change detection, deletion, bad input, no stale chunks."""

from __future__ import annotations

import itertools
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from rag.api import RagIndex
from rag.config import Settings
from rag.errors import DocumentNotFoundError
from rag.store import IndexStore

from .conftest import STORES, FakeEmbedder, store_settings, write

LOREM = (
    "The lighthouse keeper recorded the storm in his log. Waves broke over the northern pier. "
    "Ships waited in the harbour until the wind turned west. "
)


def _corpus(root: Path) -> Path:
    write(root / "a.txt", "Zebras graze on the savanna near the river delta. " + LOREM * 3)
    write(root / "notes" / "b.md", "# Birds\n\nPuffins nest on cliffs in the north.\n\n" + LOREM)
    write(
        root / "notes" / "c.html",
        "<html><head><title>Cats</title></head><body><h1>Cats</h1><p>Ocelots hunt at night."
        "</p></body></html>",
    )
    write(root / "notes" / "ignored.csv", "a,b\n1,2\n")
    write(root / ".hidden" / "secret.txt", "never indexed")
    return root


@pytest.fixture(params=STORES)
def settings(request, tmp_path) -> Settings:
    """Every test here runs on each store (RAG_STORE)."""
    return store_settings(tmp_path, request.param)


def _integrity(index: RagIndex) -> None:
    """Every part of the index agrees: documents, chunks, keyword postings and vectors."""
    if not isinstance(index.store, IndexStore):
        return _milvus_integrity(index)
    conn = sqlite3.connect(index.store.path / "rag.sqlite3")
    n_chunks = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    orphans = conn.execute(
        "SELECT COUNT(*) FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)"
    ).fetchone()[0]
    declared = conn.execute("SELECT COALESCE(SUM(n_chunks), 0) FROM documents").fetchone()[0]
    ids = sorted(r[0] for r in conn.execute("SELECT id FROM chunks"))
    conn.close()
    assert orphans == 0
    assert declared == n_chunks
    assert index.store.vector_count() == n_chunks
    assert index.store.keywords.current(index.store._conn).chunk_ids.tolist() == ids


def _milvus_integrity(index: RagIndex) -> None:
    """Every chunk in Milvus is one of its document's committed generation, and each document
    has the chunks its head row declares: no stale, orphaned or missing chunk."""
    from rag.store.milvus import MilvusStore

    store = index.store
    assert isinstance(store, MilvusStore)
    heads = {r["id"]: r for r in store._all(store.docs, "gen >= 0", ["gen", "n_chunks"])}
    chunks = store._all(store.chunks, "id >= 0 or id < 0", ["doc_id", "gen"])
    per_doc: dict[str, int] = {}
    for c in chunks:
        assert c["doc_id"] in heads and c["gen"] == heads[c["doc_id"]]["gen"], c
        per_doc[c["doc_id"]] = per_doc.get(c["doc_id"], 0) + 1
    assert per_doc == {d: int(h["n_chunks"]) for d, h in heads.items()}
    assert store.vector_count() == len(chunks) == store.counts()["chunks"]


def test_first_ingest_adds_supported_files_and_ignores_the_rest(index, tmp_path) -> None:
    root = _corpus(tmp_path / "docs")
    report = index.ingest([root])
    assert sorted(Path(s).name for s in report.added) == ["a.txt", "b.md", "c.html"]
    assert report.ignored == 1 and not report.skipped
    _integrity(index)
    assert index.search("zebras savanna", 1)[0].source.endswith("a.txt")
    assert index.search("ocelots", 1, mode="keyword")[0].source.endswith("c.html")


def test_reingesting_unchanged_files_embeds_nothing(index, fake_embedder, tmp_path) -> None:
    root = _corpus(tmp_path / "docs")
    index.ingest([root])
    fake_embedder.embedded.clear()
    gen = index.store.generation
    report = index.ingest([root])
    assert len(report.unchanged) == 3 and not report.added and not report.updated
    assert fake_embedder.embedded == []
    assert index.store.generation == gen  # nothing was written at all


def test_a_changed_file_reembeds_only_its_changed_chunks(index, fake_embedder, tmp_path) -> None:
    root = _corpus(tmp_path / "docs")
    index.ingest([root])
    before = {c.text for c in index.splitter.split((root / "a.txt").read_text())}
    fake_embedder.embedded.clear()
    write(root / "a.txt", (root / "a.txt").read_text() + "\n\nGiraffes browse acacia trees.")
    report = index.ingest([root])
    assert [Path(s).name for s in report.updated] == ["a.txt"]
    assert len(report.unchanged) == 2
    assert fake_embedder.embedded, "the new text must be embedded"
    assert all(t not in before for t in fake_embedder.embedded)
    assert report.chunks_reused > 0
    _integrity(index)
    assert index.search("giraffes acacia", 1, mode="keyword")[0].source.endswith("a.txt")


def test_embedding_progress_is_reported_chunk_by_chunk(index, tmp_path) -> None:
    """One large file is thousands of chunks and minutes of embedding, where per-file progress
    stands still (a 3 MB one-line file: 8,048 chunks, 9 minutes): each commit reports its
    chunks as they are embedded."""
    f = write(tmp_path / "d" / "big.txt", " ".join(f"word{i} otters" for i in range(3000)))
    calls: list[tuple[int, int]] = []
    report = index.ingest([f], on_embed=lambda done, total: calls.append((done, total)))
    assert report.chunks_embedded > 8 and len(calls) > 1
    assert all(b[0] > a[0] for a, b in itertools.pairwise(calls) if a[1] == b[1])
    finished = [done for done, total in calls if done == total]
    assert sum(finished) == report.chunks_embedded  # every commit reaches its total


def test_an_edit_leaves_no_stale_chunk(index, tmp_path) -> None:
    f = write(tmp_path / "d" / "x.txt", "The password is swordfish. " + LOREM)
    index.ingest([f.parent])
    write(f, "The password is marlin. " + LOREM)
    index.ingest([f.parent])
    for mode in ("keyword", "dense", "hybrid"):
        hits = index.search("swordfish", 10, mode=mode)
        assert all("swordfish" not in h.text for h in hits)
    _integrity(index)


def test_prune_removes_vanished_files_from_every_part(index, tmp_path) -> None:
    root = _corpus(tmp_path / "docs")
    index.ingest([root])
    (root / "a.txt").unlink()
    report = index.ingest([root])  # without --prune the document stays
    assert not report.removed and len(index.documents()) == 3
    report = index.ingest([root], prune=True)
    assert [Path(s).name for s in report.removed] == ["a.txt"]
    assert len(index.documents()) == 2
    assert all(not h.source.endswith("a.txt") for h in index.search("zebras", 10, mode="dense"))
    assert index.search("zebras", 10, mode="keyword") == []
    _integrity(index)


def test_prune_of_a_vanished_folder(index, tmp_path) -> None:
    root = _corpus(tmp_path / "docs")
    index.ingest([root])
    shutil.rmtree(root / "notes")
    report = index.ingest([root / "notes"], prune=True)
    assert sorted(Path(s).name for s in report.removed) == ["b.md", "c.html"]
    assert not report.skipped  # a folder that was indexed and is gone is not an error
    _integrity(index)


def test_prune_drops_a_file_that_became_a_folder_and_a_named_missing_file_says_it_stays(
    index, tmp_path
) -> None:
    """Exploratory run: a file replaced by a folder of its name survived --prune (and went on
    being cited); a deleted file named to ingest said "path does not exist" and nothing of its
    document, which stayed searchable."""
    root = _corpus(tmp_path / "docs")
    index.ingest([root])
    (root / "a.txt").unlink()
    report = index.ingest([root / "a.txt"])
    assert report.skipped == [
        (
            str(root / "a.txt"),
            "path does not exist; the version indexed before is kept (drop it with `rag "
            "remove` or `rag ingest --prune`)",
        )
    ]
    (root / "a.txt").mkdir()
    report = index.ingest([root], prune=True)
    assert [Path(s).name for s in report.removed] == ["a.txt"]
    assert index.search("zebras", 10, mode="keyword") == []
    _integrity(index)


def test_remove_by_id_path_and_folder(index, tmp_path) -> None:
    root = _corpus(tmp_path / "docs")
    index.ingest([root])
    docs = {Path(d.source).name: d for d in index.documents()}
    assert [d.source for d in index.remove([docs["a.txt"].id])] == [docs["a.txt"].source]
    removed = index.remove([str(root / "notes")])
    assert sorted(Path(d.source).name for d in removed) == ["b.md", "c.html"]
    assert index.documents() == []
    assert index.search("puffins", 5) == []
    _integrity(index)
    with pytest.raises(DocumentNotFoundError, match="rag documents"):
        index.remove(["nope"])


def test_bad_inputs_never_stop_the_batch(index, tmp_path) -> None:
    root = tmp_path / "bad"
    write(root / "good.txt", "Good file about volcanoes and lava. " + LOREM)
    write(root / "empty.txt", "")
    write(root / "blank.md", "   \n\n  ")
    (root / "binary.txt").write_bytes(bytes(range(256)) * 20)
    (root / "corrupt.pdf").write_bytes(b"%PDF-1.4\n garbage \x00\x01")
    (root / "fake.docx").write_bytes(b"this is not a zip")
    (root / "utf16.txt").write_bytes("Glaciers carve valleys slowly.".encode("utf-16"))
    (root / "latin1.txt").write_bytes("Café au lait près de la gare.".encode("latin-1"))
    with open(root / "huge.txt", "wb") as f:
        f.truncate(200 * 1024 * 1024)  # sparse: instant, and never read
    skipped_live: list[tuple[str, str]] = []
    report = index.ingest(
        [root, tmp_path / "does-not-exist", root / "good.txt"],
        on_skip=lambda s, r: skipped_live.append((s, r)),
    )
    names = {Path(s).name: r for s, r in report.skipped}
    assert sorted(Path(s).name for s in report.added) == ["good.txt", "latin1.txt", "utf16.txt"]
    assert set(names) == {
        "empty.txt",
        "blank.md",
        "binary.txt",
        "corrupt.pdf",
        "fake.docx",
        "huge.txt",
        "does-not-exist",
    }
    assert "binary" in names["binary.txt"]
    assert "corrupt" in names["corrupt.pdf"].lower()
    assert "RAG_MAX_FILE_MB" in names["huge.txt"]
    assert names["does-not-exist"] == "path does not exist"
    assert all("\n" not in r for r in names.values())
    assert skipped_live == report.skipped
    assert "7 skipped" in report.summary()
    assert index.search("café gare", 1, mode="keyword")[0].source.endswith("latin1.txt")
    assert index.search("glaciers", 1, mode="keyword")[0].source.endswith("utf16.txt")
    _integrity(index)


def test_a_name_that_is_not_utf8_is_skipped_not_fatal(index, tmp_path) -> None:
    """A Latin-1 archive's "café.txt" (byte 0xE9): the index stores paths as text, and the
    name's encoding error stopped the whole batch with a traceback; the good file was lost."""
    root = tmp_path / "latin"
    good = write(root / "a_good.txt", "Narwhals patrol the fjord. " + LOREM)
    with open(os.path.join(os.fsencode(root), b"b_caf\xe9.txt"), "wb") as f:
        f.write(b"Ocelots sing at the opera.")
    report = index.ingest([root])
    assert report.added == [str(good.resolve())]
    ((source, reason),) = report.skipped
    assert source.endswith("b_caf\ufffd.txt") and "not valid UTF-8" in reason
    source.encode("utf-8")  # printable as it is
    assert report.to_dict()["skipped"][0]["source"] == source
    _integrity(index)


def test_a_file_that_turns_bad_keeps_its_indexed_version(index, tmp_path) -> None:
    f = write(tmp_path / "d" / "x.txt", "Tortoises live long lives. " + LOREM)
    index.ingest([f])
    f.write_bytes(b"\x00\x01\x02" * 1000)
    report = index.ingest([f])
    assert report.skipped and "binary" in report.skipped[0][1]
    assert index.search("tortoises", 1, mode="keyword")[0].source == str(f.resolve())


def test_a_file_that_turns_bad_keeps_its_indexed_version_and_says_so(index, tmp_path) -> None:
    f = write(tmp_path / "d" / "x.txt", "Tortoises live long lives. " + LOREM)
    index.ingest([f])
    f.write_bytes(b"\x00\x01\x02" * 1000)
    report = index.ingest([f])
    assert "the version indexed before is kept" in report.skipped[0][1]


@pytest.mark.parametrize("now", ["", "  \n\n  "])
def test_an_emptied_file_leaves_no_stale_chunk(index, tmp_path, now) -> None:
    """A file emptied on purpose (or left with blanks) holds no text: its old chunks were kept,
    found and cited, even with --prune. Its document goes now, as a deleted file's does."""
    f = write(tmp_path / "d" / "beta.md", "# Beta\n\nBeta mentions the narwhalberry harvest.\n")
    other = write(tmp_path / "d" / "other.txt", "Otters hold hands while sleeping. " + LOREM)
    index.ingest([f.parent])
    write(f, now)
    report = index.ingest([f.parent])
    assert report.removed == [str(f.resolve())] and not report.skipped
    assert any("holds no text now" in n for _, n in report.notes)
    assert "1 removed" in report.summary()
    assert [d.source for d in index.documents()] == [str(other.resolve())]
    for mode in ("keyword", "dense", "hybrid"):
        assert all(
            "narwhalberry" not in h.text for h in index.search("narwhalberry", 10, mode=mode)
        )
    _integrity(index)
    # Written again, it is indexed again; emptied with uploads' rule, it stays.
    write(f, "# Beta\n\nBeta mentions the narwhalberry harvest.\n")
    assert index.ingest([f.parent]).added == [str(f.resolve())]
    write(f, "")
    report = index.ingest([f.parent], emptied_removes=False)
    assert report.skipped and not report.removed and len(index.documents()) == 2


def test_unreadable_file_is_skipped(index, tmp_path, monkeypatch) -> None:
    f = write(tmp_path / "d" / "locked.txt", "secret")
    ok = write(tmp_path / "d" / "ok.txt", "Otters hold hands while sleeping.")
    real = Path.read_bytes

    def deny(self: Path) -> bytes:
        if self.name == "locked.txt":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", deny)
    report = index.ingest([f.parent])
    assert report.skipped == [(str(f.resolve()), "cannot read: Permission denied")]
    assert report.added == [str(ok.resolve())]


def test_commits_in_batches_and_survives_reopen(settings, tmp_path) -> None:
    root = tmp_path / "many"
    for i in range(30):
        write(root / f"f{i:02}.txt", f"Document number {i} talks about topic{i}. " + LOREM)
    emb = FakeEmbedder()
    with RagIndex.open(settings, emb) as idx:
        idx.ingest([root])
        gen = idx.store.generation
        assert gen > 3, "commit_every=8 must split 30 documents into several commits"
    with RagIndex.open(settings, FakeEmbedder()) as idx:
        assert len(idx.documents()) == 30
        assert idx.search("topic17", 1, mode="keyword")[0].source.endswith("f17.txt")
        assert idx.search("topic17", 1, mode="dense")[0].source.endswith("f17.txt")


def test_settings_validation() -> None:
    with pytest.raises(ValueError, match="chunk_overlap"):
        Settings(chunk_tokens=32, chunk_overlap=32)


def test_a_renamed_moved_or_copied_file_is_not_embedded_again(index, fake_embedder, tmp_path):
    """Found by an exploratory run: reorganising a folder re-embedded every file moved ("4
    chunks embedded, 0 reused"), though the index held their vectors under the old names."""
    root = _corpus(tmp_path / "docs")
    index.ingest([root])
    n_a = len(index.splitter.split((root / "a.txt").read_text()))
    fake_embedder.embedded.clear()
    (root / "sub").mkdir()
    (root / "a.txt").rename(root / "sub" / "renamed.txt")
    (root / "copy.md").write_bytes((root / "notes" / "b.md").read_bytes())
    report = index.ingest([root], prune=True)
    assert fake_embedder.embedded == []
    assert report.chunks_embedded == 0 and report.chunks_reused >= n_a + 1
    assert sorted(Path(s).name for s in report.added) == ["copy.md", "renamed.txt"]
    assert [Path(s).name for s in report.removed] == ["a.txt"]
    _integrity(index)
    hit = index.search((root / "sub" / "renamed.txt").read_text()[:60], 1, mode="keyword")[0]
    assert hit.source.endswith("renamed.txt")


def test_ctrl_c_keeps_the_files_embedded_before_it(settings, tmp_path, monkeypatch) -> None:
    """Found by an exploratory run: Ctrl-C in the middle of a first ingest (161 of 511 chunks
    embedded, all in one commit) left an empty index. The files whose chunks were all embedded
    are committed, the report says which, and the next run embeds only the rest."""
    import rag.ingest.pipeline as pipeline

    class Interrupted(FakeEmbedder):
        calls = 0

        def embed(self, texts, progress=None):  # type: ignore[no-untyped-def]
            self.calls += 1
            if self.calls == 3:
                raise KeyboardInterrupt
            return super().embed(texts, progress)

    monkeypatch.setattr(pipeline, "_EMBED_PIECE", 1)
    root = tmp_path / "docs"
    for i in range(5):
        write(root / f"f{i}.txt", f"Fact number {i} is about otters and their dens.")
    settings = settings.model_copy(update={"commit_every": 100})  # one commit for all five
    emb = Interrupted()
    idx = RagIndex.open(settings, emb)
    try:
        with pytest.raises(pipeline.IngestInterrupted) as stop:
            idx.ingest([root])
        assert len(stop.value.report.added) == 2  # the two embedded before the third call
        assert idx.store.counts()["documents"] == 2
    finally:
        idx.close()
    fake = FakeEmbedder()
    idx = RagIndex.open(settings, fake)
    try:
        report = idx.ingest([root])
        assert len(report.unchanged) == 2 and len(report.added) == 3
        assert report.chunks_embedded == 3 and len(fake.embedded) == 3
    finally:
        idx.close()
    # the command line says what was kept, and exits as an interrupted program does
    from click.testing import CliRunner

    from rag.api import Components
    from rag.cli import cli

    write(root / "f9.txt", "Fact number 9 is about herons.")
    monkeypatch.setattr(Interrupted, "calls", 2)  # the next call is interrupted
    res = CliRunner().invoke(
        cli,
        ["--index", str(tmp_path / "cli-index"), "ingest", "-q", str(root)],
        obj=Components(embedder=lambda s: Interrupted()),
    )
    assert res.exit_code == 130, res.output
    assert "Interrupted: 0 new or changed files were committed" in res.output


def test_the_summary_counts_one_ignored_file_in_the_singular() -> None:
    from rag.ingest import IngestReport

    assert IngestReport(ignored=1).summary().endswith("; 1 file of another type ignored")
    assert IngestReport(ignored=3).summary().endswith("; 3 files of other types ignored")
