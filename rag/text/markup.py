"""A cited sentence as a reader sees it: its source span (with line breaks, a PDF's hyphenated
line ends, Markdown bullets, emphasis and links) as plain text for the CLI and API, and as
formatted HTML for the app. The citation's `quote` keeps the source text."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

from .lines import rejoin_words

_LINE_BREAK = re.compile(r"[ \t]*\n[ \t]*(>[ \t]?)?")
_LEAD = re.compile(
    r"^[ \t]*(#{1,6}[ \t]+|>[ \t]?|([-*+•▪◦‣●○■□–]|\(?\d{1,3}[.)]|\(?[a-z]\)|\([ivx]+\))[ \t]+)"
)
# Inline Markdown: image, link, autolink, code, strong, emphasis, strike-through. Emphasis with
# "_" needs a non-word character outside it, so snake_case_names stay as they are.
_INLINE = re.compile(
    r"!\[(?P<alt>[^\]]*)\]\([^)\s]*(?:\s+\"[^\"]*\")?\)"
    r"|\[(?P<link>[^\]]+)\]\((?P<url>[^)\s]*)(?:\s+\"[^\"]*\")?\)"
    r"|<(?P<auto>https?://[^>\s]+)>"
    r"|`(?P<code>[^`]+)`"
    r"|\*\*(?P<strong>\S(?:.*?\S)?)\*\*|(?<!\w)__(?P<strong2>\S(?:.*?\S)?)__(?!\w)"
    r"|\*(?P<em>[^\s*](?:[^*]*?[^\s*])?)\*|(?<!\w)_(?P<em2>[^\s_](?:[^_]*?[^\s_])?)_(?!\w)"
    r"|~~(?P<strike>\S(?:.*?\S)?)~~",
    re.DOTALL,
)
_MD_SPECIAL = re.compile(r"([\\`*_\[\]#|~$])")


def join_lines(source: str) -> str:
    """One line: line breaks inside a sentence become spaces, hyphenated line ends are joined."""
    text = rejoin_words(source.replace("\r", ""))
    return " ".join(_LINE_BREAK.sub(" ", text).replace("\u00ad", "").split())


def reading_text(chunk: str) -> str:
    """A chunk as the embedding model and the keyword index read it: every line without its
    Markdown lead (heading marks, list bullets, quote marks), inline markup removed, lines joined
    and words hyphenated at a line end whole again. So "# Pharmacy" reads as "Pharmacy" and a
    PDF's "re-\npaired" as "repaired": a file is found as its one-paragraph-a-line copy is."""
    text = "\n".join(_LEAD.sub("", line, count=1) for line in chunk.replace("\r", "").split("\n"))
    return _INLINE.sub(_plain, join_lines(text))


def typed_text(question: str) -> str:
    """A question as typed, without the markup a chat box invites or a paste brings: HTML tags
    ("<b>What</b>"), Markdown emphasis and code marks ("**default port**"); the words stay."""
    text = _TAG.sub(" ", question)
    return " ".join(_INLINE.sub(_plain, text).split())


_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]{0,20}(?:\s[^<>]{0,200})?/?>")


def plain_text(source: str) -> str:
    """The sentence as text: lines joined, list bullets, heading and quote marks, emphasis,
    code and link syntax removed (a link keeps its words)."""
    text = _LEAD.sub("", join_lines(source), count=1)
    return _INLINE.sub(_plain, text)


def _plain(m: re.Match[str]) -> str:
    g = m.groupdict()
    for key in ("alt", "auto", "code"):
        if g[key] is not None:
            return g[key]
    for key in ("link", "strong", "strong2", "em", "em2", "strike"):
        if g[key] is not None:
            return _INLINE.sub(_plain, g[key])  # [**a**](x): both go
    return m.group()


def markup_html(source: str) -> str:
    """The sentence for the app's chat (which renders Markdown and HTML): emphasis, code and
    links as HTML, everything else escaped so that it shows literally."""
    text = _LEAD.sub("", join_lines(source), count=1)
    return _html(text)


def _html(text: str) -> str:
    out: list[str] = []
    pos = 0
    for m in _INLINE.finditer(text):
        out.append(_escape(text[pos : m.start()]))
        out.append(_html_of(m))
        pos = m.end()
    out.append(_escape(text[pos:]))
    return "".join(out)


def _html_of(m: re.Match[str]) -> str:
    g = m.groupdict()
    if g["alt"] is not None:
        return _escape(g["alt"])
    if g["link"] is not None:
        url = g["url"] or ""
        if re.match(r"https?://", url):  # never javascript: or a relative path into the app
            href = html.escape(url, quote=True)
            return f'<a href="{href}" target="_blank" rel="noopener">{_html(g["link"])}</a>'
        return f"<u>{_html(g['link'])}</u>"
    if g["auto"] is not None:
        href = html.escape(g["auto"], quote=True)
        return f'<a href="{href}" target="_blank" rel="noopener">{_escape(g["auto"])}</a>'
    if g["code"] is not None:
        return f"<code>{_escape(g['code'])}</code>"
    for key, tag in (("strong", "strong"), ("strong2", "strong"), ("em", "em"), ("em2", "em"),
                     ("strike", "s")):  # fmt: skip
        if g[key] is not None:
            return f"<{tag}>{_html(g[key])}</{tag}>"
    return _escape(m.group())


def _escape(text: str) -> str:
    """Shown literally by a Markdown renderer that also renders HTML."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def source_of(text: str, quotes: Sequence[str]) -> str | None:
    """The quote that `text` is the plain text of (an extracted sentence), if any."""
    for quote in quotes:
        if quote != text and plain_text(quote) == text:
            return quote
    return None
