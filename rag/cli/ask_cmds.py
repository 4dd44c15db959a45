"""Asking: one question (ask) or a conversation (chat), printed as it is checked."""

from __future__ import annotations

import json
import textwrap
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # pydantic-settings takes 0.2 s to import: not for `rag --help`
    pass

from ..errors import RagError
from .base import _answer_settings, _open, _run, answer_options, cli, retrieval_options, shown


@cli.command()
@click.argument("question")
@retrieval_options
@answer_options
@click.pass_context
def ask(
    ctx: click.Context,
    question: str,
    k: int | None,
    mode: str | None,
    path_glob: str | None,
    file_types: tuple[str, ...],
    as_json: bool,
    backend: str | None,
    show_unsupported: bool | None,
) -> None:
    """Answer QUESTION from the documents, citing the exact passages, or say it is not there.
    With a language model (--backend local/openai) the answer streams in sentence by sentence,
    each one checked against the retrieved text before it is shown."""
    settings = _answer_settings(ctx, mode, backend, show_unsupported)

    def go() -> None:
        from ..answer import Answer
        from ..conversation import Conversation

        with _open(settings, create=False) as idx:
            events = Conversation(idx).stream(
                question, k, path=path_glob, file_types=file_types or None
            )
            if as_json:
                answer = next(e for e in events if isinstance(e, Answer))
                click.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
            else:
                _print_stream(events)

    _run(go)


@cli.command()
@click.option(
    "-k", "--top-k", "k", type=click.IntRange(1, 100), default=None, help="Passages (default 5)."
)
@answer_options
@click.pass_context
def chat(
    ctx: click.Context, k: int | None, backend: str | None, show_unsupported: bool | None
) -> None:
    """Ask questions one after another; follow-ups ("what did he say about Japan?") are
    rewritten into standalone questions, shown before each answer. Ctrl-D or 'exit' ends."""
    settings = _answer_settings(ctx, None, backend, show_unsupported)

    def go() -> None:
        from ..conversation import Conversation

        with _open(settings, create=False) as idx:
            conversation = Conversation(idx)
            while True:
                try:
                    question = click.prompt("you", prompt_suffix="> ").strip()
                except (EOFError, click.Abort):
                    break
                if question.lower() in {"exit", "quit"}:
                    break
                if not question:
                    continue
                try:
                    _print_stream(conversation.stream(question, k))
                except RagError as exc:
                    # One failed answer (a model server that is down) ends the question, not
                    # the conversation: the next one may work, and the history stays.
                    click.echo(f"Error: {exc}", err=True)
                click.echo()

    _run(go)


def _print_stream(events: Any) -> Any:
    """Prints the standalone question of a follow-up, each sentence once it has been checked
    against the sources, then the sources. Returns the Answer."""
    from ..answer import Answer, Checked
    from ..conversation import Rewritten

    n_shown = 0
    cited: dict[int, Any] = {}
    try:
        for event in events:
            if isinstance(event, Rewritten) and event.standalone != event.question:
                click.echo(f"(searching for: {event.standalone})")
            elif isinstance(event, Checked) and event.kept:
                click.echo(("" if n_shown == 0 else " ") + event.sentence.rendered(), nl=False)
                n_shown += 1
                cited.update((c.number, c) for c in event.citations)
            elif isinstance(event, Answer):
                if n_shown:
                    click.echo()
                _print_answer(event, printed=n_shown > 0 and event.fallback is None)
                return event
    except RagError:
        # The model failed half-way: what was shown keeps its sources, and the error its line.
        if n_shown:
            click.echo()
            _print_sources(list(cited.values()))
            click.echo()
        raise
    raise AssertionError("the answer stream ended without an Answer")


def _print_answer(answer: Any, printed: bool = False) -> None:
    if answer.fallback:
        click.echo(
            f"(Nothing the {answer.backend} model wrote is supported by your documents; "
            "here are the passages that answer it.)"
        )
    if not printed:
        click.echo(textwrap.fill(answer.render(), 100))
    if answer.refused:
        if answer.passages:
            click.echo("\nClosest passages:")
        for h in answer.passages[:3]:
            click.echo(f"  - {shown(h.source)} ({h.location()})")
            click.echo(textwrap.indent(textwrap.fill(_snippet(h.text), 94), "      "))
        return
    _print_sources(answer.citations)
    if note := answer.dropped_note():
        click.echo(f"\n({note} --show-unsupported shows them.)")


def _print_sources(citations: list[Any]) -> None:
    click.echo("\nSources:")
    for c in citations:
        low = f"; read by OCR, low confidence ({c.ocr_confidence:.0f}%)" if c.low_confidence else ""
        click.echo(f"  [{c.number}] {shown(c.source)} ({c.location()}{low})")
        click.echo(textwrap.indent(textwrap.fill(f"“{_snippet(c.quote)}”", 94), "      "))


def _snippet(text: str, limit: int = 400) -> str:
    return textwrap.shorten(" ".join(text.split()), limit)
