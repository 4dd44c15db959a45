"""Loaders: every supported format read into a Document, and every bad file a one-line LoadError.

All fixtures are generated in tmp_path: no binary files are committed.
"""

from __future__ import annotations

import codecs
import io
import logging
import os
import time
from pathlib import Path

import docx
import pytest
from pypdf import PdfReader, PdfWriter

from rag.documents import content_hash
from rag.errors import LoadError, UnsupportedFileError
from rag.ingest import loaders
from rag.ingest.loaders import SUPPORTED_SUFFIXES, file_type_of, load_file

from .hostile_files import pdf_bytes

# --- fixture builders ------------------------------------------------------------------------


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal valid PDF: one Helvetica text line per page, with a correct xref table."""
    objs: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    kids = []
    for i, text in enumerate(pages):
        page_id = 4 + 2 * i
        kids.append(f"{page_id} 0 R")
        stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
        objs[page_id] = (
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>"
        ).encode()
        objs[page_id + 1] = b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream)
    objs[2] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(pages)} >>".encode()
    info = ""
    if title:
        info_id = max(objs) + 1
        objs[info_id] = f"<< /Title ({title}) >>".encode()
        info = f" /Info {info_id} 0 R"
    return pdf_bytes(objs, info)


TWO_PAGES = ["Hello from the first page.", "The second page is about zebras."]


def encrypted_pdf(user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf(TWO_PAGES))))
    writer.encrypt(user_password=user_password, owner_password="owner-secret")
    buf = io.BytesIO()
    writer.write(buf)
    return buf.getvalue()


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8", newline="")
    else:
        path.write_bytes(data)
    return path


def load_error(path: Path, **kwargs: object) -> LoadError:
    with pytest.raises(LoadError) as info:
        load_file(path, **kwargs)  # type: ignore[arg-type]
    err = info.value
    assert "\n" not in err.reason and "\n" not in str(err)
    assert err.path == str(path)
    return err


# --- file types ------------------------------------------------------------------------------


def test_file_type_of_is_by_suffix_case_insensitive() -> None:
    assert file_type_of(Path("a/B.MD")) == "md"
    assert file_type_of(Path("x.Markdown")) == "md"
    assert file_type_of(Path("x.htm")) == "html"
    assert file_type_of(Path("x.text")) == "txt"
    assert file_type_of(Path("x.docx")) == "docx"
    assert file_type_of(Path("x.doc")) is None
    assert file_type_of(Path("README")) is None
    assert file_type_of(Path("scan.TIF")) == "image"
    assert set(SUPPORTED_SUFFIXES.values()) == {"txt", "md", "html", "pdf", "docx", "image"}


def test_unsupported_suffix(tmp_path: Path) -> None:
    path = write(tmp_path, "data.xyz", "hello")
    with pytest.raises(UnsupportedFileError) as info:
        load_file(path)
    assert info.value.reason == (
        "unsupported file type '.xyz' (supported: .txt, .text, .md, .markdown, .html, .htm, "
        ".pdf, .docx, .png, .jpg, .jpeg, .tif, .tiff)"
    )
    no_suffix = write(tmp_path, "Makefile", "all:")
    with pytest.raises(UnsupportedFileError, match="no extension"):
        load_file(no_suffix)
    with pytest.raises(UnsupportedFileError):  # decided by name alone, before any I/O
        load_file(tmp_path / "missing.zip")


# --- plain text and decoding ----------------------------------------------------------------


def test_txt_document_fields(tmp_path: Path) -> None:
    raw = b"Hello, world.\nSecond line.\n"
    path = write(tmp_path, "a.txt", raw)
    doc = load_file(path)
    assert doc.text == "Hello, world.\nSecond line.\n"
    assert doc.file_type == "txt"
    assert doc.source == str(path.resolve())
    assert doc.content_hash == content_hash(raw)
    assert doc.title is None and doc.page_starts == [] and doc.sections == []
    assert doc.page_at(3) is None and doc.section_at(3) is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("naïve café ✓".encode(), "naïve café ✓"),
        (codecs.BOM_UTF8 + "naïve café".encode(), "naïve café"),
        ("naïve café".encode("utf-16"), "naïve café"),  # with BOM
        (codecs.BOM_UTF16_BE + "naïve café".encode("utf-16-be"), "naïve café"),
        (codecs.BOM_UTF32_LE + "naïve café".encode("utf-32-le"), "naïve café"),
        (
            "plain ASCII in UTF-16 LE, no BOM".encode("utf-16-le"),
            "plain ASCII in UTF-16 LE, no BOM",
        ),
        (
            "plain ASCII in UTF-16 BE, no BOM".encode("utf-16-be"),
            "plain ASCII in UTF-16 BE, no BOM",
        ),
        ("café naïve".encode("latin-1"), "café naïve"),
        ("“smart quotes” – cp1252".encode("cp1252"), "“smart quotes” – cp1252"),
        (b"\x81\x8d latin-1 only bytes", "\x81\x8d latin-1 only bytes"),
        (b"one\r\ntwo\rthree\n", "one\ntwo\nthree\n"),
        ("a\r\nb".encode("utf-16"), "a\nb"),
    ],
    ids=[
        "utf8",
        "utf8-bom",
        "utf16-bom",
        "utf16be-bom",
        "utf32-bom",
        "utf16le-nobom",
        "utf16be-nobom",
        "latin1",
        "cp1252",
        "latin1-fallback",
        "newlines",
        "utf16-crlf",
    ],
)
def test_txt_decoding(tmp_path: Path, raw: bytes, expected: str) -> None:
    assert load_file(write(tmp_path, "t.txt", raw)).text == expected


@pytest.mark.parametrize("name", ["blob.txt", "blob.md", "blob.html", "blob.htm"])
@pytest.mark.parametrize(
    "raw",
    [
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
        b"\x7fELF\x02\x01\x01\x00" + os.urandom(2048) + b"\x00\x00",
        bytes(b for b in os.urandom(4096) if b),  # random bytes without a single NUL
    ],
    ids=["png", "elf", "no-nul"],
)
def test_binary_is_rejected(tmp_path: Path, name: str, raw: bytes) -> None:
    err = load_error(write(tmp_path, name, raw))
    assert err.reason == "binary file, not text (is the extension wrong?)"


def test_data_argument_is_used_instead_of_reading(tmp_path: Path) -> None:
    path = write(tmp_path, "a.txt", "on disk")
    doc = load_file(path, data=b"given bytes")
    assert doc.text == "given bytes" and doc.content_hash == content_hash(b"given bytes")
    err = load_error(path, data=b"x" * 100, max_bytes=10)
    assert "RAG_MAX_FILE_MB" in err.reason


# --- errors before parsing ------------------------------------------------------------------


def test_missing_file(tmp_path: Path) -> None:
    assert load_error(tmp_path / "nope.txt").reason == "file not found"


def test_directory(tmp_path: Path) -> None:
    (tmp_path / "dir.md").mkdir()
    assert "directory" in load_error(tmp_path / "dir.md").reason


def test_unreadable_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "secret.txt", "hidden")

    def deny(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", deny)
    assert "permission denied" in load_error(path).reason


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs named pipes")
def test_named_pipe_is_not_read(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.txt"
    os.mkfifo(fifo)
    assert load_error(fifo).reason == "not a regular file (device, pipe or socket)"


def test_size_limit_checked_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as f:
        f.truncate(200 * 1024 * 1024)  # sparse: instant, takes no disk

    def must_not_read(self: Path) -> bytes:
        raise AssertionError("the file was read")

    monkeypatch.setattr(Path, "read_bytes", must_not_read)
    began = time.perf_counter()
    err = load_error(path)
    assert time.perf_counter() - began < 1.0
    assert err.reason == (
        "file is 200.0 MB, over the 64 MB limit; raise RAG_MAX_FILE_MB to index it"
    )
    assert "over the 1.5 MB limit" in load_error(path, max_bytes=3 * 512 * 1024).reason


@pytest.mark.parametrize("name", ["e.txt", "e.md", "e.html", "e.pdf", "e.docx"])
def test_empty_file(tmp_path: Path, name: str) -> None:
    assert load_error(write(tmp_path, name, b"")).reason == "empty file"


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("w.txt", b"  \n\t\r\n  "),
        ("w.md", b"\n\n   \n"),
        ("w.txt", codecs.BOM_UTF8),
        ("w.html", b"<html><head><title>T</title></head><body> <script>x()</script> </body>"),
    ],
)
def test_no_text(tmp_path: Path, name: str, raw: bytes) -> None:
    assert load_error(write(tmp_path, name, raw)).reason == "no text found"


def test_unexpected_parser_error_is_wrapped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(raw: bytes, limits: object = None) -> object:
        raise ValueError("boom\nsecond line")

    monkeypatch.setitem(loaders._LOADERS, "md", explode)
    err = load_error(write(tmp_path, "x.md", "# hi"))
    assert err.reason == "could not read md file (ValueError: boom second line)"
    assert isinstance(err.__cause__, ValueError)


# --- markdown --------------------------------------------------------------------------------

MARKDOWN = """\
---
title: front matter
---
Intro before any heading.

# Guide

Some intro text.

## Installation ##

### Linux

Run apt install.

```sh
# not a heading
echo hi
```

~~~
## also not a heading
```
still code
~~~

Usage
-----

Run it.

---

- a list item
---

Appendix
========

#hashtag is not a heading
"""


def test_markdown_sections(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path, "guide.md", MARKDOWN.replace("\n", "\r\n")))
    assert doc.text == MARKDOWN  # the source itself, newlines normalised
    assert doc.title == "Guide"
    paths = [s.path for s in doc.sections]
    assert paths == [
        "Guide",
        "Guide > Installation",
        "Guide > Installation > Linux",
        "Guide > Usage",
        "Appendix",
    ]
    heading_lines = ["# Guide", "## Installation", "### Linux", "Usage\n---", "Appendix\n==="]
    for section, line in zip(doc.sections, heading_lines, strict=True):
        assert doc.text[section.start :].startswith(line)
    at = doc.text.index
    assert doc.section_at(at("Intro before")) is None
    assert doc.section_at(at("Run apt")) == "Guide > Installation > Linux"
    assert doc.section_at(at("# not a heading")) == "Guide > Installation > Linux"
    assert doc.section_at(at("also not a heading")) == "Guide > Installation > Linux"
    assert doc.section_at(at("Run it.")) == "Guide > Usage"
    assert doc.section_at(at("#hashtag")) == "Appendix"


def test_markdown_title_falls_back_to_first_heading(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path, "a.md", "text\n\n## Sub\n\n### Deeper\n"))
    assert doc.title == "Sub"
    assert [s.path for s in doc.sections] == ["Sub", "Sub > Deeper"]
    assert load_file(write(tmp_path, "b.md", "no headings here")).title is None


# --- html ------------------------------------------------------------------------------------

HTML = """<!DOCTYPE html>
<html><head><title>  My   Page </title>
<style>body { color: red }</style><script>var secret = 1;</script></head>
<body>
<!-- a comment -->
<nav><a href="/">Home</a></nav>
<h1>Main <em>Title</em></h1>
<p>First   paragraph
with <b>bold</b> text.</p>
<script>alert("nope")</script>
<h2>Lists</h2>
<ul><li>one</li><li>two<ul><li>nested</li></ul></li></ul>
<h3>Deep</h3>
<div>line a<br>line b</div>
<h2>Code</h2>
<pre>def f():
    return  1</pre>
<table><tr><th>A</th><th>B</th></tr><tr><td>1</td><td>2</td></tr></table>
<noscript>enable js</noscript><template><p>hidden</p></template>
<svg><text>vector</text></svg>
</body></html>
"""


def test_html_text_and_sections(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path, "page.html", HTML))
    assert doc.title == "My Page"
    assert doc.text == (
        "Home\n\n"
        "Main Title\n\n"
        "First paragraph with bold text.\n\n"
        "Lists\n\n"
        "one\ntwo\nnested\n\n"
        "Deep\n\n"
        "line a\nline b\n\n"
        "Code\n\n"
        "def f():\n    return  1\n\n"
        "| A | B |\n| --- | --- |\n| 1 | 2 |"
    )
    for hidden in ("secret", "nope", "color", "enable js", "hidden", "vector", "comment"):
        assert hidden not in doc.text
    assert [s.path for s in doc.sections] == [
        "Main Title",
        "Main Title > Lists",
        "Main Title > Lists > Deep",
        "Main Title > Code",
    ]
    for section in doc.sections:
        assert doc.text[section.start :].startswith(section.path.split(" > ")[-1])
    assert doc.section_at(doc.text.index("nested")) == "Main Title > Lists"
    assert doc.section_at(doc.text.index("line b")) == "Main Title > Lists > Deep"
    assert doc.section_at(doc.text.index("1 | 2")) == "Main Title > Code"
    assert doc.section_at(0) is None


def test_html_deep_nesting(tmp_path: Path) -> None:
    raw = b"<html><body><h1>Top</h1>" + b"<b>" * 3000 + b"deep text</body></html>"
    doc = load_file(write(tmp_path, "deep.html", raw))
    assert doc.text == "Top\n\ndeep text"
    assert doc.section_at(doc.text.index("deep")) == "Top"


def test_html_declared_charset_and_utf16(tmp_path: Path) -> None:
    body = "<html><head><meta charset='iso-8859-1'></head><body><p>café naïve</p></body></html>"
    assert load_file(write(tmp_path, "l.html", body.encode("latin-1"))).text == "café naïve"
    page = "<html><body><h1>Über</h1><p>naïve</p></body></html>"
    doc = load_file(write(tmp_path, "u.htm", page.encode("utf-16")))
    assert doc.text == "Über\n\nnaïve" and doc.title == "Über"


# --- pdf -------------------------------------------------------------------------------------


def test_pdf_text_pages_and_title(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path, "doc.pdf", make_pdf(TWO_PAGES, title="A Test Doc")))
    assert doc.file_type == "pdf"
    assert doc.text == "Hello from the first page.\n\nThe second page is about zebras."
    assert doc.title == "A Test Doc"
    assert doc.page_starts == [0, len(TWO_PAGES[0]) + 2]
    assert doc.page_at(doc.text.index("first")) == 1
    assert doc.page_at(doc.text.index("zebras")) == 2
    assert doc.text[doc.page_starts[1] :].startswith("The second page")
    assert load_file(write(tmp_path, "untitled.pdf", make_pdf(TWO_PAGES))).title is None


def test_pdf_with_user_password_is_rejected(tmp_path: Path) -> None:
    err = load_error(write(tmp_path, "locked.pdf", encrypted_pdf("s3cret")))
    assert err.reason == (
        "encrypted PDF: remove the password (e.g. qpdf --decrypt) and ingest again"
    )


def test_pdf_with_empty_user_password_is_read(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path, "owner-only.pdf", encrypted_pdf("")))
    assert "zebras" in doc.text and doc.page_at(doc.text.index("zebras")) == 2


def test_pdf_needing_missing_crypto_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pypdf.errors import DependencyError

    def needs_crypto(self: PdfReader, password: str) -> object:
        raise DependencyError("cryptography>=3.1 is required for AES algorithm")

    monkeypatch.setattr(PdfReader, "decrypt", needs_crypto)
    err = load_error(write(tmp_path, "aes.pdf", encrypted_pdf("")))
    assert "pip install cryptography" in err.reason


def test_pdf_without_text_layer(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    writer.add_blank_page(width=612, height=792)
    buf = io.BytesIO()
    writer.write(buf)
    err = load_error(write(tmp_path, "scan.pdf", buf.getvalue()))
    # Blank pages hold no image either: nothing to read by OCR (tests/test_ocr.py reads scans).
    assert err.reason == "no text layer, and no page image to read by OCR (blank pages?)"


@pytest.mark.parametrize(
    "raw",
    [
        os.urandom(3000),
        b"%PDF-1.4\n" + bytes(range(256)) * 3,
        make_pdf(TWO_PAGES)[:200],
        make_pdf(TWO_PAGES)[: len(make_pdf(TWO_PAGES)) // 2],
    ],
    ids=["random", "garbage-after-header", "truncated-200", "truncated-half"],
)
def test_corrupt_pdf(tmp_path: Path, raw: bytes, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    err = load_error(write(tmp_path, "bad.pdf", raw))
    assert err.reason.startswith("corrupt or unreadable PDF (")
    assert not [r for r in caplog.records if r.name.startswith("pypdf")]


# --- docx ------------------------------------------------------------------------------------


def make_docx(path: Path, core_title: str | None = None) -> Path:
    d = docx.Document()
    d.add_heading("Quarterly Report", level=0)  # style "Title"
    d.add_paragraph("Opening words.")
    d.add_heading("Results", level=1)
    d.add_paragraph("Revenue grew.")
    d.add_heading("By Region", level=2)
    table = d.add_table(rows=2, cols=2)
    for r, row in enumerate([["Region", "Sales"], ["North", "42"]]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    d.add_paragraph("")  # empty paragraphs are dropped
    d.add_paragraph("After the table.")
    d.add_heading("Outlook", level=1)
    d.add_paragraph("Bright.")
    if core_title:
        d.core_properties.title = core_title
    d.save(str(path))
    return path


def test_docx_text_sections_and_title(tmp_path: Path) -> None:
    doc = load_file(make_docx(tmp_path / "report.docx"))
    assert doc.file_type == "docx"
    assert doc.text == (
        "Quarterly Report\n\nOpening words.\n\nResults\n\nRevenue grew.\n\nBy Region\n\n"
        "| Region | Sales |\n| --- | --- |\n| North | 42 |\n\nAfter the table.\n\nOutlook\n\n"
        "Bright."
    )
    assert doc.title == "Quarterly Report"
    assert [s.path for s in doc.sections] == [
        "Quarterly Report",
        "Quarterly Report > Results",
        "Quarterly Report > Results > By Region",
        "Quarterly Report > Outlook",
    ]
    for section in doc.sections:
        assert doc.text[section.start :].startswith(section.path.split(" > ")[-1])
    assert doc.section_at(doc.text.index("Opening")) == "Quarterly Report"
    assert doc.section_at(doc.text.index("North | 42")) == "Quarterly Report > Results > By Region"
    assert doc.section_at(doc.text.index("Bright")) == "Quarterly Report > Outlook"


def test_docx_title_prefers_core_properties(tmp_path: Path) -> None:
    doc = load_file(make_docx(tmp_path / "r.docx", core_title="Official Title"))
    assert doc.title == "Official Title"


@pytest.mark.parametrize(
    "raw", [b"just some text, not a zip", b"PK\x03\x04" + b"\x00" * 100], ids=["text", "bad-zip"]
)
def test_corrupt_docx(tmp_path: Path, raw: bytes) -> None:
    err = load_error(write(tmp_path, "bad.docx", raw))
    assert err.reason.startswith("corrupt or unreadable DOCX (")
