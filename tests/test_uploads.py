"""Uploaded files: one layout for the app and the server, and deletes that touch nothing else.

The slow test at the end reproduces the data loss this module was written to end: files uploaded
through the app (kept flat in `<index>/uploads/` by earlier versions), then `rag serve` on the
same index deleting one document deleted every uploaded file from disk.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rag.uploads import MAX_NAME_BYTES, Batch, Uploads, distinct_names, safe_name

from .conftest import rag_serve, write


def test_safe_names_stay_inside_and_fit_any_file_system() -> None:
    assert safe_name("../../etc/passwd") == "passwd"
    assert safe_name("C:\\Users\\me\\notes.txt") == "notes.txt"
    assert safe_name("..") == "upload" and safe_name("") == "upload"
    assert safe_name("a\nb;rm -rf.txt") == "a_b_rm -rf.txt"
    long = safe_name("é" * 300 + ".docx")
    assert long.endswith(".docx") and len(long.encode()) <= MAX_NAME_BYTES
    assert distinct_names(["notes.txt", "a/notes.txt", "r.pdf", "notes.txt", "README"]) == [
        "notes.txt",
        "notes (2).txt",
        "r.pdf",
        "notes (3).txt",
        "README",
    ]


def test_names_made_safe_alike_are_kept_apart(tmp_path) -> None:
    """`plan+A.txt` and `plan&A.txt` are both stored as `plan_A.txt`: the second upload used to
    replace the first, whose text was then gone from disk and index without a word. Each name
    keys its own folder now; the same name again still replaces its own copy."""
    uploads = Uploads(tmp_path / "uploads")
    plus = uploads.store("plan+A.txt", io.BytesIO(b"The Kestrel budget is 40,000 euros."))
    amp = uploads.store("plan&A.txt", io.BytesIO(b"The Osprey budget is 9,000 euros."))
    assert plus.name == amp.name == "plan_A.txt" and plus != amp
    assert plus.read_bytes() == b"The Kestrel budget is 40,000 euros."
    again = uploads.store("plan+A.txt", io.BytesIO(b"The Kestrel budget is 45,000 euros."))
    assert again == plus and amp.read_bytes() == b"The Osprey budget is 9,000 euros."
    # A name that is safe already keeps the folder it always had (uploads made before).
    assert uploads.path_for("notes.txt") == uploads.path_for("a/b/notes.txt")
    assert distinct_names(["plan+A.txt", "x/plan&A.txt", "y/plan&A.txt"]) == [
        "plan+A.txt",
        "plan&A (2).txt",
        "plan&A (3).txt",
    ]


def test_a_long_name_is_stored(tmp_path) -> None:
    uploads = Uploads(tmp_path / "uploads")
    path = uploads.store("x" * 250 + ".txt", io.BytesIO(b"words"))
    assert path.read_bytes() == b"words" and len(path.name.encode()) <= MAX_NAME_BYTES
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left


def test_delete_removes_only_that_upload(tmp_path) -> None:
    root = tmp_path / "uploads"
    uploads = Uploads(root)
    a = uploads.store("a.txt", io.BytesIO(b"alpha"))
    b = uploads.store("b.txt", io.BytesIO(b"beta"))
    flat = write(root / "legacy.txt", "kept flat by an old app")
    mine = write(tmp_path / "docs" / "mine.txt", "a user's own file, ingested in place")
    assert a.parent != b.parent and a.parent.parent == root

    assert uploads.delete(a) and not a.exists() and not a.parent.exists()
    assert b.read_bytes() == b"beta" and flat.exists()
    assert uploads.delete(str(flat)) and not flat.exists() and root.is_dir() and b.exists()
    assert not uploads.delete(mine) and mine.exists()  # never a file outside the upload folder
    assert not uploads.delete(root / ".." / "docs" / "mine.txt") and mine.exists()
    assert not uploads.delete(a)  # already gone: nothing else is touched instead
    assert b.exists()


def test_a_failed_upload_restores_what_it_replaced(tmp_path) -> None:
    uploads = Uploads(tmp_path / "uploads")
    old = uploads.store("notes.txt", io.BytesIO(b"version 1"))
    batch = Batch()
    uploads.store("notes.txt", io.BytesIO(b"version 2"), batch)
    new = uploads.store("new.txt", io.BytesIO(b"fresh"), batch)
    assert old.read_bytes() == b"version 2"
    batch.rollback()
    assert old.read_bytes() == b"version 1" and not new.exists() and not new.parent.exists()
    assert sorted(p.name for p in old.parent.iterdir()) == ["notes.txt"]

    batch = Batch()
    uploads.store("notes.txt", io.BytesIO(b"version 3"), batch)
    bad = uploads.store("bad.pdf", io.BytesIO(b"not a pdf"), batch)
    batch.rollback([str(bad)])  # the ingest skipped only this one
    batch.commit()
    assert old.read_bytes() == b"version 3" and not bad.exists() and batch.paths == [old]
    assert sorted(p.name for p in old.parent.iterdir()) == ["notes.txt"]


def test_flat_uploads_move_into_the_layout_with_their_documents(index, tmp_path) -> None:
    root = index.settings.index / "uploads"
    flat = [
        write(root / "kiln.md", "The kiln controller runs firmware version 4.2."),
        write(root / "bikes.txt", "Bicycles need their chains oiled every month."),
    ]
    index.ingest(flat)
    before = {d.source: d.n_chunks for d in index.documents()}
    uploads = Uploads(root)
    assert uploads.migrate(index.store) == 2
    moved = {d.source: d.n_chunks for d in index.documents()}
    assert sorted(moved.values()) == sorted(before.values())
    for source in moved:
        p = Path(source)
        assert p.exists() and p == uploads.path_for(p.name).resolve()
    assert not any(p.is_file() for p in root.iterdir())
    hit = index.search("kiln firmware", 1)[0]
    assert Path(hit.source).name == "kiln.md" and Path(hit.source).exists()
    assert uploads.migrate(index.store) == 0  # idempotent
    # re-ingesting the moved files finds them unchanged: nothing was re-embedded
    report = index.ingest([Path(s) for s in moved])
    assert len(report.unchanged) == 2, report.summary()


def test_a_migration_cut_short_is_finished_next_time(index) -> None:
    root = index.settings.index / "uploads"
    old = write(root / "notes.txt", "Notes about the harbour wall repairs.")
    index.ingest([old])
    uploads = Uploads(root)
    new = uploads.path_for("notes.txt")
    new.parent.mkdir(parents=True)
    os.link(old, new)  # as if the process died right after linking the new copy
    assert uploads.migrate(index.store) == 1
    assert [d.source for d in index.documents()] == [str(new.resolve())]
    assert not old.exists() and new.read_text().startswith("Notes")


@pytest.mark.slow
def test_deleting_through_the_server_never_deletes_other_uploads(tmp_path) -> None:
    """The reported data loss, through real processes: uploads kept by the app in the old flat
    layout, `rag serve` on the same index, DELETE of one document."""
    index = tmp_path / "index"
    mine = write(tmp_path / "docs" / "mine.txt", "My own file about sailing boats and their masts.")
    app_uploads = [
        write(index / "uploads" / "kiln.md", "The kiln controller runs firmware version 4.2."),
        write(index / "uploads" / "bikes.txt", "Bicycles need their chains oiled every month."),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env["RAG_INDEX"] = str(index)
    rag = [sys.executable, "-m", "rag"]
    subprocess.run([*rag, "ingest", *map(str, app_uploads), str(mine)], env=env, check=True)

    with rag_serve(env, tmp_path / "server.log") as url:
        files = [("files", ("harbour.txt", b"The harbour wall was repaired in May.", "text/plain"))]
        r = httpx.post(f"{url}/v1/documents", files=files, timeout=120)
        assert r.status_code == 201, r.text
        docs = {Path(d["source"]).name: d for d in httpx.get(f"{url}/v1/documents").json()["data"]}
        assert set(docs) == {"kiln.md", "bikes.txt", "mine.txt", "harbour.txt"}
        on_disk = {name: Path(d["source"]) for name, d in docs.items()}
        assert all(p.exists() for p in on_disk.values())

        # delete an app upload: only its own copy goes
        assert httpx.delete(f"{url}/v1/documents/{docs['kiln.md']['id']}").status_code == 200
        assert not on_disk["kiln.md"].exists()
        for name in ("bikes.txt", "harbour.txt", "mine.txt"):
            assert on_disk[name].read_bytes(), name
        # delete a server upload: the same
        assert httpx.delete(f"{url}/v1/documents/{docs['harbour.txt']['id']}").status_code == 200
        assert not on_disk["harbour.txt"].exists()
        assert on_disk["bikes.txt"].exists() and mine.exists()
        # delete the user's own file's document: the file itself is never touched
        assert httpx.delete(f"{url}/v1/documents/{docs['mine.txt']['id']}").status_code == 200
        assert mine.read_text().startswith("My own file")

        left = httpx.get(f"{url}/v1/documents").json()["data"]
        assert [Path(d["source"]).name for d in left] == ["bikes.txt"]
        hits = httpx.post(f"{url}/v1/search", json={"query": "bicycle chains"}).json()["hits"]
        assert hits and Path(hits[0]["source"]).name == "bikes.txt"
