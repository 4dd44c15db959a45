"""Hostile files for the hardening tests and benchmarks/reliability.py: decompression bombs and
the like, built on the fly (no binary fixture is committed)."""

from __future__ import annotations

import io
import zipfile
import zlib
from pathlib import Path

_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.wordprocessingml.document.main+xml"/></Types>'
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="word/document.xml"/></Relationships>'
)
_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
# ~210 characters, as in the bomb issue 14 describes.
_SENTENCE = (
    "The committee reviewed the quarterly figures and agreed that the harbour project should "
    "continue, subject to a further review of costs, schedules and the environmental report "
    "due in the spring of next year."
)


def docx_bytes(document_xml: bytes) -> bytes:
    """A minimal Word file around `document_xml`, deflated at level 9."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        z.writestr("word/document.xml", document_xml)
    return buf.getvalue()


def docx_bomb(paragraphs: int, *, markup_only: bool = False) -> bytes:
    """word/document.xml of `paragraphs` paragraphs of ~210 characters each (or, with
    `markup_only`, of empty runs: XML without text), compressed as tightly as deflate can.
    Written to the zip in blocks, so the expanded XML is never in memory at once."""
    para = (
        b"<w:p>" + b"<w:r><w:t></w:t></w:r>" * 8 + b"</w:p>"
        if markup_only
        else f"<w:p><w:r><w:t>{_SENTENCE}</w:t></w:r></w:p>".encode()
    )
    head = f'<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="{_W}"><w:body>'.encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", _CONTENT_TYPES)
        z.writestr("_rels/.rels", _RELS)
        with z.open("word/document.xml", "w", force_zip64=True) as f:
            f.write(head)
            block, left = para * 1000, paragraphs
            while left >= 1000:
                f.write(block)
                left -= 1000
            f.write(para * left + b"</w:body></w:document>")
    return buf.getvalue()


def write_docx_bomb(path: Path, paragraphs: int, **kwargs: bool) -> Path:
    path.write_bytes(docx_bomb(paragraphs, **kwargs))
    return path


# The two bombs of issue 14: ~9.1 M characters, and ~300 MB of XML.
SMALL_BOMB_PARAGRAPHS = 44_000
LARGE_BOMB_PARAGRAPHS = 1_250_000


def pdf_bomb(pages: int, filler_mb: float, text: str | None = "Hello from a page") -> bytes:
    """A PDF whose every page has its own Flate content stream: one line of `text` (none when
    None), then `filler_mb` MB of spaces, which deflate shrinks about a thousandfold."""
    objs: dict[int, bytes] = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        3: b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    }
    kids = []
    filler = b" " * int(filler_mb * 1024 * 1024)
    for i in range(pages):
        page_id = 4 + 2 * i
        kids.append(f"{page_id} 0 R")
        shown = f"BT /F1 12 Tf 72 720 Td ({text} {i}) Tj ET" if text is not None else ""
        content = shown.encode() + filler
        stream = zlib.compress(content, 9)
        objs[page_id] = (
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
            f"/Resources << /Font << /F1 3 0 R >> >> /Contents {page_id + 1} 0 R >>"
        ).encode()
        objs[page_id + 1] = b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (
            len(stream),
            stream,
        )
    objs[2] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {pages} >>".encode()
    return pdf_bytes(objs)


def pdf_bytes(objs: dict[int, bytes], trailer: str = "") -> bytes:
    """Numbered PDF objects written as a file with a correct xref table (object 1 the catalog);
    `trailer` adds entries to the trailer (" /Info 9 0 R")."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = {}
    for num in sorted(objs):
        offsets[num] = len(out)
        out += b"%d 0 obj\n%s\nendobj\n" % (num, objs[num])
    xref, size = len(out), max(objs) + 1
    out += b"xref\n0 %d\n0000000000 65535 f \n" % size
    out += b"".join(b"%010d 00000 n \n" % offsets[n] for n in range(1, size))
    out += f"trailer\n<< /Size {size} /Root 1 0 R{trailer} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def png_pixel_bomb(width: int, height: int) -> bytes:
    """A PNG that declares width x height pixels and holds a few bytes of them."""
    import struct

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def pdf_image_bomb(side: int = 40_000) -> bytes:
    """A one-page PDF with no text that draws an image declaring side x side grey pixels, held
    in 4 KB: rendering it for OCR would decode all of them."""
    stream = zlib.compress(b"\xff" * 4096)
    content = b"q 595 0 0 842 0 0 cm /Im0 Do Q"
    objs = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        3: b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /XObject << /Im0 5 0 R >> >> >>",
        4: b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        5: b"<< /Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray"
        b" /BitsPerComponent 8 /Filter /FlateDecode /Length %d >>\nstream\n%s\nendstream"
        % (side, side, len(stream), stream),
    }
    return pdf_bytes(objs)
