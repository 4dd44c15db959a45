"""Hostile input (issue 14): decompression bombs, symlink loops, blank keys, odd names and
encodings. Loader and ingest cases run in-process on real files; server cases are in
test_hardening_server.py."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import docx
import pytest
from docx.enum.text import WD_BREAK
from docx.table import Table

from rag.config import Settings
from rag.errors import LoadError
from rag.ingest.loaders import Limits, _docx, load_file
from rag.ingest.tables import is_data_table, markdown_table

from .conftest import ROOT, write
from .hostile_files import (
    LARGE_BOMB_PARAGRAPHS,
    SMALL_BOMB_PARAGRAPHS,
    docx_bomb,
    docx_bytes,
    pdf_bomb,
)

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"


def _refusal(path: Path, **kwargs: object) -> tuple[str, float]:
    t0 = time.perf_counter()
    with pytest.raises(LoadError) as info:
        load_file(path, **kwargs)  # type: ignore[arg-type]
    return info.value.reason, time.perf_counter() - t0


# --- decompression bombs -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def large_bomb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The 1.2 MB DOCX that expands to ~300 MB of XML (built once: it takes a few seconds)."""
    path = tmp_path_factory.mktemp("bombs") / "large-bomb.docx"
    path.write_bytes(docx_bomb(LARGE_BOMB_PARAGRAPHS))
    return path


def test_small_docx_bomb_is_refused_on_its_expansion(tmp_path: Path) -> None:
    path = tmp_path / "small-bomb.docx"
    path.write_bytes(docx_bomb(SMALL_BOMB_PARAGRAPHS))
    assert path.stat().st_size < 64 * 1024  # 41 KB that become ~9.2 M characters
    reason, seconds = _refusal(path)
    assert "decompression bomb" in reason and "RAG_MAX_EXPANSION_RATIO" in reason
    assert seconds < 3.0  # 0.2 s measured; bounds leave room for a loaded machine


def test_small_docx_bomb_is_stopped_by_the_character_limit_while_streaming(tmp_path: Path) -> None:
    path = tmp_path / "small-bomb.docx"
    path.write_bytes(docx_bomb(SMALL_BOMB_PARAGRAPHS))
    limits = Limits(max_expansion_ratio=1e9)  # only the running character count can stop it
    reason, seconds = _refusal(path, limits=limits)
    assert "over the 5,000,000-character limit" in reason and "RAG_MAX_DOC_CHARS" in reason
    assert seconds < 10.0


def test_large_docx_bomb_is_refused_before_decompressing(large_bomb: Path) -> None:
    assert 1_000_000 < large_bomb.stat().st_size < 1_300_000
    with zipfile.ZipFile(large_bomb) as z:
        assert z.getinfo("word/document.xml").file_size > 290_000_000
    reason, seconds = _refusal(large_bomb)
    assert "decompression bomb" in reason and "RAG_MAX_EXPANDED_MB" in reason
    assert seconds < 3.0


@pytest.mark.slow  # a real process
def test_large_docx_bomb_streams_in_bounded_memory(large_bomb: Path) -> None:
    """With the declared-size checks off, the bomb is read as a stream: the character limit stops
    it, and the process never holds the 300 MB document (measured in a fresh process)."""
    code = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from rag.errors import LoadError\n"
        "from rag.ingest.loaders import Limits, load_file\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    load_file(Path(sys.argv[1]), limits=Limits(max_expanded_bytes=10**12, "
        "max_expansion_ratio=1e9))\n"
        "except LoadError as e:\n"
        "    print(e.reason)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(large_bomb)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=True,
    ).stdout.splitlines()
    assert "RAG_MAX_DOC_CHARS" in out[0]
    assert int(out[1]) < 150, f"loading grew the process by {out[1]} MB"


def test_markup_only_docx_bomb_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "markup.docx"
    path.write_bytes(docx_bomb(300_000, markup_only=True))  # ~56 MB of empty runs, no text
    assert "decompression bomb" in _refusal(path)[0]
    capped = Limits(max_expanded_bytes=1 << 20, max_expansion_ratio=1e9)
    reason, _ = _refusal(path, limits=capped)
    assert "declares 54 MB of XML, over the 1 MB limit; raise RAG_MAX_EXPANDED_MB" in reason
    # A zip whose headers lie is still stopped by the bytes counted while decompressing.
    monkeypatch.setattr(_docx, "_check_declared", lambda *args: None)
    reason, seconds = _refusal(path, limits=capped)
    assert "expands to over 1 MB" in reason and "RAG_MAX_EXPANDED_MB" in reason
    assert seconds < 20.0  # reading all 54 MB takes minutes on a loaded 2-core machine


def test_pdf_bombs_are_refused(tmp_path: Path) -> None:
    one = write_bytes(tmp_path / "stream.pdf", pdf_bomb(3, 10))  # 31 KB -> 30 MB of contents
    reason, seconds = _refusal(one)
    assert "decompression bomb" in reason and "RAG_MAX_EXPANSION_RATIO" in reason
    assert seconds < 5.0
    many = write_bytes(tmp_path / "pages.pdf", pdf_bomb(60, 0.9))  # each stream under 1 MB
    reason, _ = _refusal(many)
    assert "times the file's size" in reason and "RAG_MAX_EXPANSION_RATIO" in reason
    capped = Limits(max_expanded_bytes=2 << 20, max_expansion_ratio=1e9)
    assert "RAG_MAX_EXPANDED_MB" in _refusal(many, limits=capped)[0]


def test_character_limit_applies_to_every_format(tmp_path: Path) -> None:
    small = Limits(max_chars=50)
    long_text = "Sixty characters of plain text, repeated to pass the limit. " * 2
    for name, data in [
        ("a.txt", long_text.encode()),
        ("a.md", long_text.encode()),
        ("a.html", f"<p>{long_text}</p>".encode()),
        ("a.docx", docx_bomb(2)),
        ("a.pdf", pdf_bomb(3, 0.001, text="A page of text that is long enough")),
    ]:
        reason, _ = _refusal(write_bytes(tmp_path / name, data), limits=small)
        assert "over the 50-character limit" in reason and "RAG_MAX_DOC_CHARS" in reason, name


def test_docx_with_a_dtd_is_refused(tmp_path: Path) -> None:
    """XXE and entity expansion: Word never writes a DTD, so one is refused outright."""
    secret = write(tmp_path / "secret.txt", "TOP-SECRET-VALUE")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>'
        f'<w:document xmlns:w="{_W}"><w:body><w:p><w:r><w:t>a &x; b</w:t></w:r></w:p>'
        "</w:body></w:document>"
    )
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
        f'<w:document xmlns:w="{_W}"><w:body><w:p><w:r><w:t>&c;</w:t></w:r></w:p>'
        "</w:body></w:document>"
    )
    for name, xml in [("xxe.docx", xxe), ("laughs.docx", laughs)]:
        reason, _ = _refusal(write_bytes(tmp_path / name, docx_bytes(xml.encode())))
        assert "has a DTD" in reason, name


def test_limits_are_settings() -> None:
    s = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (s.max_doc_chars, s.max_expanded_mb, s.max_expansion_ratio) == (5_000_000, 200.0, 100.0)
    for name in ("max_doc_chars", "max_expanded_mb", "max_expansion_ratio"):
        assert Settings.model_fields[name].description


def write_bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# --- the streamed DOCX reader reads what python-docx read ------------------------------------


def _python_docx_text(path: Path) -> str:
    """The former loader's text (python-docx, whole tree in memory): the reference."""
    d = docx.Document(str(path))
    blocks = []
    for item in d.iter_inner_content():
        if isinstance(item, Table):
            # A data table is a Markdown table: a cell merged across columns fills each of
            # them in the header row and the first of them below it.
            rows = []
            for i, row in enumerate(item.rows):
                cells, previous = [], None
                for cell in row.cells:
                    same = cell._tc is previous
                    previous = cell._tc
                    cells.append("" if same and i > 0 else " ".join(cell.text.split()))
                rows.append(cells)
            block = markdown_table(rows) if is_data_table(rows) else ""
        else:
            block = item.text.strip()
        if block:
            blocks.append(block)
    return "\n\n".join(blocks)


def test_streamed_docx_matches_python_docx(tmp_path: Path) -> None:
    d = docx.Document()
    d.add_heading("Field Notes", level=0)
    p = d.add_paragraph("Tabs\tand ")
    p.add_run("a line").add_break(WD_BREAK.LINE)
    p.add_run("break, then a page").add_break(WD_BREAK.PAGE)
    p.add_run("break.")
    d.add_heading("Merged cells", level=1)
    t = d.add_table(rows=3, cols=3)
    for r in range(3):
        for c in range(3):
            t.cell(r, c).text = f"r{r}c{c}"
    t.cell(0, 0).merge(t.cell(0, 1))  # across
    t.cell(1, 2).merge(t.cell(2, 2))  # down
    inner = t.cell(2, 0).add_table(rows=1, cols=1)  # a nested table: python-docx skips it
    inner.cell(0, 0).text = "nested"
    t.cell(2, 1).add_paragraph("second paragraph")
    d.add_paragraph("   ")
    d.add_heading("Deep", level=3)
    d.add_paragraph("Ünïcode — “quotes” and emoji 🙂.")
    path = tmp_path / "notes.docx"
    d.save(str(path))
    doc = load_file(path)
    assert doc.text == _python_docx_text(path)
    assert [s.path for s in doc.sections] == [
        "Field Notes",
        "Field Notes > Merged cells",
        "Field Notes > Merged cells > Deep",
    ]
    assert doc.title == "Field Notes"


def test_docx_text_boxes_and_deletions_are_not_body_text(tmp_path: Path) -> None:
    xml = (
        f'<w:document xmlns:w="{_W}"><w:body>'
        "<w:p><w:r><w:t>Kept</w:t></w:r><w:del><w:r><w:delText>gone</w:delText></w:r></w:del>"
        "<w:ins><w:r><w:t xml:space='preserve'> and inserted</w:t></w:r></w:ins></w:p>"
        "<w:p><w:pPr><w:pStyle w:val='Heading2'/><w:tabs><w:tab w:val='left'/></w:tabs></w:pPr>"
        "<w:r><w:t>Heading by id</w:t></w:r></w:p>"
        "</w:body></w:document>"
    )
    doc = load_file(write_bytes(tmp_path / "t.docx", docx_bytes(xml.encode())))
    assert doc.text == "Kept and inserted\n\nHeading by id"
    assert [s.path for s in doc.sections] == ["Heading by id"]


# --- discovery: symlink loops ------------------------------------------------------------------


def test_a_symlink_loop_is_skipped_and_the_batch_goes_on(index, tmp_path: Path) -> None:
    d = tmp_path / "d"
    good = write(d / "good.txt", "Ospreys dive for fish in the estuary at dawn.")
    os.symlink("l2.txt", d / "l1.txt")
    os.symlink("l1.txt", d / "l2.txt")
    os.symlink("missing.txt", d / "dangling.txt")
    report = index.ingest([d, d / "l1.txt"])
    assert report.added == [str(good.resolve())]
    reasons = {Path(s).name: r for s, r in report.skipped}
    assert set(reasons) == {"l1.txt", "l2.txt", "dangling.txt"}
    assert reasons["l1.txt"].startswith("symbolic link loop")
    assert reasons["dangling.txt"] == "path does not exist"
    assert len(report.skipped) == 4  # l1 named twice: once in the folder, once by itself


def test_linked_folders_are_followed_and_links_outside_are_said(index, tmp_path: Path) -> None:
    """Exploratory run: a linked folder in a notes folder was passed over without a word, a
    folder loop too, and a linked file was indexed under its target's path silently (so that
    pruning the folder never saw it)."""
    notes, ext = tmp_path / "notes", tmp_path / "ext"
    write(notes / "main.txt", "Main note about the Dunmore lighthouse keeper.")
    shared = write(ext / "shared.txt", "External note about the Wexcombe quarry permit.")
    plan = write(ext / "proj" / "plan.txt", "Project note about the Ulverstone bypass.")
    os.symlink(ext / "shared.txt", notes / "shared-link.txt")
    os.symlink(ext / "proj", notes / "proj")
    (notes / "loopdir").mkdir()
    os.symlink("../loopdir", notes / "loopdir" / "self")
    report = index.ingest([notes])
    assert sorted(report.added) == sorted(
        [str((notes / "main.txt").resolve()), str(shared.resolve()), str(plan.resolve())]
    )
    said = {Path(s).name: n for s, n in report.notes}
    assert said["shared-link.txt"].startswith(f"a link to {shared.resolve()}, outside this folder")
    assert said["proj"].startswith(f"a link to {(ext / 'proj').resolve()}, outside")
    reasons = {Path(s).name: r for s, r in report.skipped}
    assert reasons == {"self": reasons["self"]} and reasons["self"].startswith("symbolic link loop")
    assert report.summary().endswith("; 2 notes")
    report.notes = report.notes[:1]
    assert report.summary().endswith("; 1 note")  # it said "1 notes"


def test_a_hidden_file_indexed_by_name_is_kept_up_to_date(index, tmp_path: Path) -> None:
    """Exploratory run: a walk skips hidden entries, so a hidden file indexed by naming it was
    never updated by ingesting its folder again: its old text stayed searchable."""
    d = tmp_path / "odd"
    write(d / "seen.txt", "Ospreys dive for fish in the estuary.")
    hidden = write(d / ".hidden" / "s.md", "Herons nest in the reeds.")
    (d / "~$report.docx").write_bytes(b"\x05Ana")  # Word's lock file while report.docx is open
    report = index.ingest([d])
    assert report.added == [str((d / "seen.txt").resolve())] and not report.skipped
    index.ingest([hidden])
    write(hidden, "Cormorants dry their wings on the pier.")
    report = index.ingest([d])
    assert report.updated == [str(hidden.resolve())]
    assert index.search("cormorants", 5, mode="keyword")
    assert index.search("herons", 5, mode="keyword") == []


@pytest.mark.slow  # a real process
def test_cli_ingest_of_a_folder_with_a_symlink_loop(tmp_path: Path) -> None:
    """The issue's reproduction, as a real process with the fake embedder."""
    d = tmp_path / "d"
    write(d / "good.txt", "ok, a good file about herons")
    os.symlink("l2.txt", d / "l1.txt")
    os.symlink("l1.txt", d / "l2.txt")
    proc = _cli(tmp_path, "ingest", "-q", str(d))
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert len(re.findall(r"^skipped .*l[12]\.txt: symbolic link loop", proc.stderr, re.M)) == 2
    assert proc.stdout.startswith("1 added")


def _cli(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`rag` in a fresh process, with the fake embedder in place of the model."""
    code = (
        "import sys, rag.api\n"
        "from tests.conftest import FakeEmbedder\n"
        "rag.api.make_embedder = lambda settings: FakeEmbedder()\n"
        "from rag.cli import cli\n"
        "cli(sys.argv[1:])\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    return subprocess.run(
        [sys.executable, "-c", code, "--index", str(tmp_path / "index"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={**base, **(env or {})},
    )


# --- keys, names, encodings ----------------------------------------------------------------------


@pytest.mark.parametrize("keys", ['[""]', '[" "]', '["good", "\\t"]'])
def test_blank_api_keys_are_refused(keys: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_API_KEYS", keys)
    with pytest.raises(ValueError, match="empty or blank key"):
        Settings()


@pytest.mark.slow  # a real process
def test_rag_serve_with_a_blank_key_does_not_start(tmp_path: Path) -> None:
    proc = _cli(tmp_path, "serve", "--host", "0.0.0.0", env={"RAG_API_KEYS": '[""]'})
    assert proc.returncode == 2
    assert "empty or blank key" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.slow  # a real process
def test_a_file_name_with_a_newline_stays_on_one_line(tmp_path: Path) -> None:
    d = tmp_path / "d"
    write(d / "two\nlines.txt", "Kingfishers nest in riverbanks.")
    proc = _cli(tmp_path, "ingest", "-q", str(d))
    assert proc.returncode == 0, proc.stderr
    listing = _cli(tmp_path, "documents")
    lines = listing.stdout.splitlines()
    assert lines[-1] == "1 documents" and len(lines) == 2
    assert "two\\nlines.txt" in lines[0]


def test_cp1252_text_gets_a_note(index, tmp_path: Path) -> None:
    f = tmp_path / "d" / "menu.txt"
    f.parent.mkdir()
    f.write_bytes("Café crème – 3 €".encode("cp1252"))
    utf8 = write(tmp_path / "d" / "utf8.txt", "Café crème – 3 €")
    report = index.ingest([f.parent])
    assert sorted(report.added) == sorted([str(f.resolve()), str(utf8.resolve())])
    assert report.notes == [(str(f.resolve()), report.notes[0][1])]
    assert "not valid UTF-8" in report.notes[0][1] and "cp1252" in report.notes[0][1]
    assert report.summary().endswith("; 1 note")
    assert load_file(f).text == "Café crème – 3 €"


@pytest.mark.slow  # a real process
def test_xhtml_gives_no_parser_warning(tmp_path: Path) -> None:
    page = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<!DOCTYPE html>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>X</title></head>'
        "<body><p>Wrens sing loudly.</p></body></html>"
    )
    path = write(tmp_path / "x.html", page)
    code = (
        "import sys, warnings\nwarnings.simplefilter('always')\n"
        "from pathlib import Path\nfrom rag.ingest.loaders import load_file\n"
        "print(load_file(Path(sys.argv[1])).text)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert proc.stdout.strip() == "Wrens sing loudly."
    assert proc.stderr == ""


def test_docx_bytes_is_a_word_file() -> None:
    """The fixture builder itself: python-docx opens what it makes."""
    d = docx.Document(io.BytesIO(docx_bomb(3)))
    assert len(d.paragraphs) == 3


# --- a full disk -------------------------------------------------------------------------------


def test_a_full_disk_is_one_clear_error_and_the_committed_files_stay(
    index, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """benchmarks/reliability.py disk-full does this with a real 3 MB tmpfs (it needs root)."""
    from rag.errors import RagError

    d = tmp_path / "d"
    for i in range(12):
        write(d / f"f{i:02}.txt", f"Document {i} is about marsh bird number {i}. " * 6)
    real, calls = index.store.write, []

    def write_until_full(writes: list) -> None:
        calls.append(len(writes))
        if len(calls) > 1:
            raise OSError(28, "No space left on device")
        real(writes)

    monkeypatch.setattr(index.store, "write", write_until_full)
    with pytest.raises(RagError) as info:
        index.ingest([d])
    message = str(info.value)
    assert "is full: free some space and run the ingest again" in message
    committed = len(index.documents())
    assert committed == calls[0] > 0 and f"the {committed} files committed" in message


@pytest.mark.slow  # a real process
def test_cli_refuses_the_large_bomb_fast_in_bounded_memory(
    large_bomb: Path, tmp_path: Path
) -> None:
    """`rag ingest` of the 1.2 MB bomb beside a good file, as a real process (fake embedder).
    Peak RSS is the process's own VmHWM (wait4's ru_maxrss would count the forking pytest
    process). Measured with the real model: benchmarks/reliability.py bomb."""
    d = tmp_path / "in"
    d.mkdir()
    (d / "bomb.docx").symlink_to(large_bomb)
    write(d / "good.txt", "Spoonbills sweep their bills through the water.")
    hwm = tmp_path / "hwm"
    code = (
        "import sys, rag.api\n"
        "from tests.conftest import FakeEmbedder\n"
        "rag.api.make_embedder = lambda settings: FakeEmbedder()\n"
        "from rag.cli import cli\n"
        "try:\n"
        "    cli(sys.argv[1:])\n"
        "finally:\n"
        "    status = open('/proc/self/status').read()\n"
        f"    open({str(hwm)!r}, 'w').write(status.split('VmHWM:')[1].split()[0])\n"
    )
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code, "--index", str(tmp_path / "index"), "ingest", "-q", str(d)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
        env={k: v for k, v in os.environ.items() if not k.startswith("RAG_")},
    )
    seconds = time.perf_counter() - t0
    assert proc.returncode == 0, proc.stderr
    assert "decompression bomb" in proc.stderr and "RAG_MAX_EXPANDED_MB" in proc.stderr
    assert proc.stdout.startswith("1 added")
    peak_mb = int(hwm.read_text()) / 1024
    print(f"rag ingest with the bomb: {seconds:.1f} s, peak RSS {peak_mb:.0f} MB")
    assert peak_mb < 500 and seconds < 20  # 3.3 s and 74 MB measured (start-up included)
