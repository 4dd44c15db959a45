"""Plain text and Markdown. Markdown keeps its source as the text, so offsets point into it."""

from __future__ import annotations

import re

from ._common import Headings, Limits, Parsed, decode_text_noting


def load_txt(raw: bytes, limits: Limits | None = None) -> Parsed:
    text, notes = decode_text_noting(raw)
    return Parsed(text, notes=notes)


_FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*))?")
_ATX_CLOSE = re.compile(r"(?:^|[ \t]+)#+[ \t]*$")  # the optional closing '##' of '## Title ##'
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*")
_NOT_PARAGRAPH = re.compile(r"\s*$| {4}|\t| {0,3}(>|[-*+][ \t]|\d{1,9}[.)][ \t])")


def load_md(raw: bytes, limits: Limits | None = None) -> Parsed:
    """Sections from ATX (# Title) and setext (Title / ===) headings outside code fences."""
    text, notes = decode_text_noting(raw)
    heads = Headings()
    fence = ""  # the fence that opened the code block we are in, if any
    para: tuple[int, str] | None = None  # the previous line, if it can be a setext title
    lines, offset = text.split("\n"), 0
    if lines[0].rstrip() == "---":  # YAML front matter: its closing '---' is no underline
        ends = [i for i, ln in enumerate(lines[1:], 1) if ln.rstrip() in ("---", "...")]
        if ends:
            offset = sum(len(ln) + 1 for ln in lines[: ends[0] + 1])
            lines = lines[ends[0] + 1 :]
    for line in lines:
        start, offset = offset, offset + len(line) + 1
        fence_match = _FENCE.match(line)
        if fence:
            if (
                fence_match
                and fence_match.group(1).startswith(fence)
                and not line[fence_match.end() :].strip()
            ):
                fence = ""
            continue
        if fence_match:
            fence, para = fence_match.group(1), None
        elif m := _ATX.fullmatch(line):
            if title := _ATX_CLOSE.sub("", m.group(2) or "").strip():
                heads.add(start, len(m.group(1)), title)
            para = None
        elif (m := _SETEXT.fullmatch(line)) and para is not None:
            heads.add(para[0], 1 if m.group(1)[0] == "=" else 2, para[1])
            para = None
        else:
            para = None if _NOT_PARAGRAPH.match(line) else (start, line.strip())
    return Parsed(text, title=heads.title, sections=heads.sections, notes=notes)
