"""What the app shows, as HTML: answers with clickable [n] markers, source cards with the cited
span highlighted, and the page's CSS and citation-click script."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..answer import Answer
from ..ingest.tables import find_tables, header_length, split_row
from ..text.markup import markup_html, source_of

CLOSEST = 3  # passages shown with a refusal

CSS = """
#rag-sources { max-height: 760px; overflow-y: auto !important; }
#rag-sources .rag-source { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 8px 10px; margin: 0 0 8px 0; transition: box-shadow .3s; }
#rag-sources .rag-source.rag-focus { box-shadow: 0 0 0 3px var(--color-accent); }
#rag-sources blockquote { margin: 6px 0 0 0; padding-left: 8px; font-size: .92em;
  border-left: 3px solid var(--border-color-primary); white-space: pre-wrap; }
#rag-sources mark { background: #fde68a; color: #111; padding: 0 1px; }
#rag-sources table.rag-table { border-collapse: collapse; margin: 4px 0; white-space: normal; }
#rag-sources table.rag-table th, #rag-sources table.rag-table td {
  border: 1px solid var(--border-color-primary); padding: 2px 6px; text-align: left; }
#rag-sources table.rag-table tr.rag-cited td { background: #fde68a; color: #111; }
#rag-sources details > summary { cursor: pointer; margin: 6px 0; }
#rag-sources .rag-ocr-low { color: var(--color-red-600, #b91c1c); font-weight: 600; }
#rag-sources .rag-path { color: var(--body-text-color-subdued); word-break: break-all; }
.rag-pending { color: var(--body-text-color-subdued); }
.rag-standalone, .rag-meta, .rag-note { color: var(--body-text-color-subdued); font-size: .88em; }
a.rag-cite { text-decoration: none; font-weight: 600; cursor: pointer; }
"""

# Clicking a citation marker brings its source card into view (and opens an earlier answer's
# group); capture phase, so the chat's own link handling never opens a new tab.
HEAD = """<script>
document.addEventListener("click", function (event) {
  var link = event.target && event.target.closest && event.target.closest("a.rag-cite");
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  var card = document.getElementById((link.getAttribute("href") || "").slice(1));
  if (!card) return;
  var group = card.closest("details");
  if (group) group.open = true;
  document.querySelectorAll(".rag-source.rag-focus").forEach(function (el) {
    el.classList.remove("rag-focus");
  });
  card.classList.add("rag-focus");
  card.scrollIntoView({behavior: "smooth", block: "center"});
}, true);
</script>"""


def md(text: str) -> str:
    """Document or model text, shown literally in the chat (which renders Markdown and HTML)."""
    text = html.escape(text, quote=False)
    return re.sub(r"([\\`*_\[\]#|~$])", r"\\\1", text)


def card_id(turn: int, number: int) -> str:
    return f"source-{turn}-{number}"


def _markers(numbers: Sequence[int], turn: int) -> str:
    return "".join(
        f'<a class="rag-cite" href="#{card_id(turn, n)}" title="show source {n}">[{n}]</a>'
        for n in numbers
    )


def sentence_html(sentence: Any, turn: int, quotes: Sequence[str] = ()) -> str:
    """A checked sentence with clickable [n] markers, or flagged when nothing supports it. A
    sentence taken from a source shows that source's emphasis and links (`quotes`)."""
    source = source_of(sentence.text, quotes)
    text = markup_html(source) if source is not None else md(sentence.text)
    if not sentence.supported:
        return f"{text} <em>[unsupported]</em>"
    marks = _markers(sentence.citations, turn)
    return f"{text} {marks}" if marks else text


def format_answer(answer: Answer, turn: int = 1) -> tuple[str, str]:
    """(chat reply, sources panel) for a finished answer: the sentences with [n] markers linked
    to their source cards, and each cited span highlighted in its passage; for a refusal, the
    closest passages."""
    if answer.refused:
        reply = md(answer.text)
        if answer.passages:
            reply += " The closest passages are shown under Sources; none of them answers it."
        cards = [
            _card(
                f"closest-{turn}-{h.rank}",
                f"~{h.rank}",
                h.source,
                h.location(),
                h.text,
                None,
                flag=ocr_flag(h.low_confidence, h.ocr_confidence),
            )
            for h in answer.passages[:CLOSEST]
        ]
        return reply, "\n".join(cards)
    quotes = {c.number: c.quote for c in answer.citations}
    parts = [sentence_html(s, turn, [quotes[n] for n in s.citations if n in quotes])
             for s in answer.sentences]  # fmt: skip
    reply = " ".join(parts)
    if (short := answer.short_answer) is not None:  # the name, date or number asked for
        mark = f"<mark>{html.escape(short.text)}</mark> {_markers([short.citation], turn)}"
        reply = f'<div class="rag-short">{mark}</div>\n\n{reply}'
    if answer.fallback:
        reply = (
            f'<div class="rag-note">Nothing the {html.escape(answer.backend)} model wrote is '
            "supported by your documents; these are the sentences that answer it.</div>\n\n" + reply
        )
    if note := answer.dropped_note():
        reply += f'\n\n<div class="rag-note">{html.escape(note)}</div>'
    return reply, citation_cards(answer.citations, answer.passages, turn)


def citation_cards(citations: Sequence[Any], passages: Sequence[Any], turn: int) -> str:
    cards = []
    for c in citations:
        hit = next((h for h in passages if h.chunk_id == c.chunk_id), None)
        if hit is not None and hit.start <= c.start and c.end <= hit.end:
            # A chunk that starts inside a table has the table's header put before its span.
            passage, offset = (
                hit.text,
                c.start - hit.start + header_length(hit.text, hit.start, hit.end),
            )
        else:
            passage, offset = c.quote, 0
        mark = (offset, offset + len(c.quote))
        cards.append(
            _card(
                card_id(turn, c.number),
                str(c.number),
                c.source,
                c.location(),
                passage,
                mark,
                flag=ocr_flag(c.low_confidence, c.ocr_confidence),
            )
        )
    return "\n".join(cards)


def _card(
    elem_id: str,
    label: str,
    source: str,
    location: str,
    passage: str,
    mark: tuple[int, int] | None,
    *,
    flag: str = "",
) -> str:
    body = passage_html(passage, mark)
    return (
        f'<div class="rag-source" id="{elem_id}"><b>[{html.escape(label)}] '
        f"{html.escape(Path(source).name)}</b> <small>{html.escape(location)}</small>"
        + (f' <small class="rag-ocr-low">{html.escape(flag)}</small>' if flag else "")
        + "<br>"
        f'<small class="rag-path">{html.escape(source)}</small><blockquote>{body}</blockquote>'
        "</div>"
    )


def passage_html(passage: str, mark: tuple[int, int] | None) -> str:
    """A passage as HTML, the span `mark` highlighted; its Markdown tables shown as tables,
    with a cited row highlighted whole."""
    out, pos = [], 0
    for t in find_tables(passage):
        out.append(_text_html(passage, pos, t.start, mark))
        head = "".join(
            f"<th>{html.escape(c)}</th>" for c in split_row(t.header(passage).split("\n", 1)[0])
        )
        rows = []
        for a, b in t.rows(passage):
            cited = mark is not None and a < mark[1] and mark[0] < b
            cells = "".join(f"<td>{html.escape(c)}</td>" for c in split_row(passage[a:b]))
            rows.append(f'<tr class="rag-cited">{cells}</tr>' if cited else f"<tr>{cells}</tr>")
        out.append(
            f'<table class="rag-table"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>"
        )
        pos = t.end + 1 if passage[t.end : t.end + 1] == "\n" else t.end
    out.append(_text_html(passage, pos, len(passage), mark))
    return "".join(out)


def _text_html(passage: str, start: int, end: int, mark: tuple[int, int] | None) -> str:
    if mark is None or mark[1] <= start or end <= mark[0]:
        return html.escape(passage[start:end])
    a, b = max(start, mark[0]), min(end, mark[1])
    return (
        html.escape(passage[start:a])
        + f"<mark>{html.escape(passage[a:b])}</mark>"
        + html.escape(passage[b:end])
    )


def ocr_flag(low: bool, confidence: float | None) -> str:
    """What a card says when its page was read by OCR with low confidence."""
    if not low or confidence is None:
        return ""
    return f"read by OCR, low confidence ({confidence:.0f}%): check the page itself"


def sources_panel(current: str, earlier: Sequence[tuple[str, str]], refused: bool) -> str:
    """The current answer's cards, then earlier answers' cards folded away (their markers still
    point at them)."""
    if not current and not earlier:
        return '<p class="rag-note">Sources of the answer appear here.</p>'
    head = "Closest passages (none answers the question)" if refused else "Sources"
    out = [f"<h4>{head}</h4>", current or '<p class="rag-note">(checking…)</p>']
    for question, cards in earlier:
        out.append(f"<details><summary>Earlier: {html.escape(question)}</summary>{cards}</details>")
    return "\n".join(out)


def backend_error(backend: str, exc: Exception) -> str:
    return (
        f'<div class="rag-error"><b>The {html.escape(backend)} answer backend is not '
        f"available.</b> {html.escape(str(exc))}<br>Choose another answer backend under "
        "Settings, or fix its configuration (see docs/asking.md).</div>"
    )


def launch_kwargs() -> dict[str, Any]:
    """What every launch of the app passes: its CSS and the citation-click script."""
    return {"css": CSS, "head": HEAD}
