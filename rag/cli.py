"""The `rag` command line: ingest, remove, documents, search, info, ui."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from .config import Settings
from .errors import RagError

F = TypeVar("F", bound=Callable[..., Any])


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    base: dict[str, Any] = dict(ctx.obj or {})
    base.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return Settings(**base)
    except Exception as exc:  # pydantic's ValidationError: show it as a usage error
        raise click.UsageError(f"invalid settings: {exc}") from exc


def _open(settings: Settings, create: bool = True) -> Any:
    from .api import RagIndex  # imported late: `rag --help` should not load torch

    return RagIndex.open(settings, create=create)


def _run(fn: Callable[[], None]) -> None:
    try:
        fn()
    except RagError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--index",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Index folder (default: ./index, or RAG_INDEX).",
)
@click.version_option(package_name="rag")
@click.pass_context
def cli(ctx: click.Context, index: Path | None) -> None:
    """Ask questions of your own documents: ingest files, then search them."""
    ctx.obj = {"index": index} if index is not None else {}


@cli.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="Remove indexed documents whose files are gone.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[Path, ...], prune: bool, as_json: bool, quiet: bool):
    """Index files and folders (.txt .md .html .pdf .docx); unchanged files are not re-embedded."""
    settings = _settings(ctx)

    def go() -> None:
        from tqdm import tqdm

        started = time.perf_counter()
        bar = None

        def progress(done: int, total: int, path: str) -> None:
            nonlocal bar
            if quiet:
                return
            if bar is None:
                bar = tqdm(total=total, unit="file", desc="ingest", file=sys.stderr, leave=False)
            bar.update(1)

        def on_skip(source: str, reason: str) -> None:
            msg = f"skipped {source}: {reason}"
            if bar is not None:
                bar.write(msg, file=sys.stderr)
            else:
                click.echo(msg, err=True)

        with _open(settings) as idx:
            report = idx.ingest(list(paths), prune=prune, progress=progress, on_skip=on_skip)
        if bar is not None:
            bar.close()
        if as_json:
            click.echo(json.dumps(report.to_dict(), indent=2))
        else:
            click.echo(f"{report.summary()} ({time.perf_counter() - started:.1f} s)")

    _run(go)


@cli.command()
@click.argument("targets", nargs=-1, required=True)
@click.pass_context
def remove(ctx: click.Context, targets: tuple[str, ...]) -> None:
    """Remove documents (by id, file path or folder) from every part of the index."""
    settings = _settings(ctx)

    def go() -> None:
        with _open(settings, create=False) as idx:
            removed = idx.remove(list(targets))
        for d in removed:
            click.echo(f"removed {d.id} {d.source}")

    _run(go)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def documents(ctx: click.Context, as_json: bool) -> None:
    """List indexed documents with their chunk counts and dates."""
    settings = _settings(ctx)

    def go() -> None:
        with _open(settings, create=False) as idx:
            docs = idx.documents()
        if as_json:
            click.echo(json.dumps([d.to_dict() for d in docs], indent=2))
            return
        for d in docs:
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(d.updated_at))
            click.echo(f"{d.id}  {d.file_type:<4} {d.n_chunks:>5} chunks  {when}  {d.source}")
        click.echo(f"{len(docs)} documents")

    _run(go)


def retrieval_options(fn: F) -> F:
    """The options `search` and `ask` share: how many passages, which mode, which documents."""
    for option in reversed(
        [
            click.option(
                "-k", "--top-k", "k", type=int, default=None, help="Passages (default 5)."
            ),
            click.option("--mode", type=click.Choice(["dense", "keyword", "hybrid"]), default=None),
            click.option(
                "--path", "path_glob", default=None, help="Only documents whose path matches."
            ),
            click.option(
                "--type", "file_types", multiple=True, help="Only these file types (pdf, md, ...)."
            ),
            click.option("--json", "as_json", is_flag=True, help="Print JSON."),
        ]
    ):
        fn = option(fn)
    return fn


@cli.command()
@click.argument("query")
@retrieval_options
@click.pass_context
def search(
    ctx: click.Context,
    query: str,
    k: int | None,
    mode: str | None,
    path_glob: str | None,
    file_types: tuple[str, ...],
    as_json: bool,
) -> None:
    """Print the chunks that best match QUERY, with score, document and location."""
    settings = _settings(ctx, mode=mode)

    def go() -> None:
        with _open(settings, create=False) as idx:
            hits = idx.search(query, k, path=path_glob, file_types=file_types or None)
        if as_json:
            click.echo(json.dumps([h.to_dict() for h in hits], indent=2, ensure_ascii=False))
            return
        if not hits:
            click.echo("no matching passages")
        for h in hits:
            via = ", ".join(f"{n} #{r}" for n, r in sorted(h.ranks.items()))
            click.echo(f"{h.rank}. [{h.score:.4f}] {h.source}  ({h.location()}; {via})")
            body = " ".join(h.text.split())
            click.echo(textwrap.indent(textwrap.fill(textwrap.shorten(body, 400), 96), "   "))

    _run(go)


def answer_options(fn: F) -> F:
    """Options shared by ask and chat: who writes the answer, and what to do with sentences
    that nothing retrieved supports."""
    for option in reversed(
        [
            click.option(
                "--backend",
                type=click.Choice(["extractive", "local", "openai"]),
                default=None,
                help="Who writes the answer (default: extractive, or RAG_BACKEND).",
            ),
            click.option(
                "--show-unsupported",
                is_flag=True,
                default=None,
                help="Show sentences no retrieved passage supports, flagged, instead of dropping them.",
            ),
        ]
    ):
        fn = option(fn)
    return fn


def _answer_settings(
    ctx: click.Context, mode: str | None, backend: str | None, show: bool | None
) -> Settings:
    return _settings(ctx, mode=mode, backend=backend, unsupported="show" if show else None)


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
        from .answer import Answer

        with _open(settings, create=False) as idx:
            events = idx.ask_stream(question, k, path=path_glob, file_types=file_types or None)
            if as_json:
                answer = next(e for e in events if isinstance(e, Answer))
                click.echo(json.dumps(answer.to_dict(), indent=2, ensure_ascii=False))
            else:
                _print_stream(events)

    _run(go)


@cli.command()
@click.option("-k", "--top-k", "k", type=int, default=None, help="Passages (default 5).")
@answer_options
@click.pass_context
def chat(
    ctx: click.Context, k: int | None, backend: str | None, show_unsupported: bool | None
) -> None:
    """Ask questions one after another; follow-ups ("what did he say about Japan?") are
    rewritten into standalone questions, shown before each answer. Ctrl-D or 'exit' ends."""
    settings = _answer_settings(ctx, None, backend, show_unsupported)

    def go() -> None:
        from .chat import Conversation, LLMRewriter, rule_rewriter

        with _open(settings, create=False) as idx:
            conversation = Conversation(lambda q: idx.ask(q, k))
            llm = getattr(idx.answerer, "llm", None)
            if llm is not None:  # the answering model also rewrites follow-ups
                from .prompts import load_prompt

                conversation.rewriter = LLMRewriter(
                    llm, load_prompt("rewrite", settings.prompts_dir)
                )
            else:
                conversation.rewriter = rule_rewriter
            while True:
                try:
                    question = click.prompt("you", prompt_suffix="> ").strip()
                except (EOFError, click.Abort):
                    break
                if question.lower() in {"exit", "quit"}:
                    break
                if not question:
                    continue
                standalone = conversation.standalone(question)
                if standalone != question:
                    click.echo(f"(searching for: {standalone})")
                answer = _print_stream(idx.ask_stream(standalone, k))
                conversation.record(question, standalone, answer)
                click.echo()

    _run(go)


def _print_stream(events: Any) -> Any:
    """Prints each sentence once it has been checked against the sources, then the sources.
    Returns the Answer."""
    from .answer import Answer, Checked

    shown = 0
    for event in events:
        if isinstance(event, Checked) and event.kept:
            click.echo(("" if shown == 0 else " ") + event.sentence.rendered(), nl=False)
            shown += 1
        elif isinstance(event, Answer):
            if shown:
                click.echo()
            _print_answer(event, printed=shown > 0 and event.fallback is None)
            return event
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
            click.echo(f"  - {h.source} ({h.location()})")
            click.echo(textwrap.indent(textwrap.fill(_snippet(h.text), 94), "      "))
        return
    click.echo("\nSources:")
    for c in answer.citations:
        click.echo(f"  [{c.number}] {c.source} ({c.location()})")
        click.echo(textwrap.indent(textwrap.fill(f"“{_snippet(c.quote)}”", 94), "      "))
    dropped = [d for d in answer.dropped if not d.supported]
    if dropped:
        n = len(dropped)
        click.echo(
            f"\n({n} sentence{'s' if n > 1 else ''} the model wrote {'were' if n > 1 else 'was'} "
            "dropped: no retrieved passage supports "
            f"{'them' if n > 1 else 'it'}. --show-unsupported shows them.)"
        )


def _snippet(text: str, limit: int = 400) -> str:
    return textwrap.shorten(" ".join(text.split()), limit)


@cli.command()
@click.pass_context
def info(ctx: click.Context) -> None:
    """Show the index manifest (model, fingerprint, chunking) and counts."""
    settings = _settings(ctx)

    def go() -> None:
        with _open(settings, create=False) as idx:
            click.echo(json.dumps(idx.info(), indent=2))

    _run(go)


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7860, show_default=True, type=int)
@click.pass_context
def ui(ctx: click.Context, host: str, port: int) -> None:
    """Open the chat app (indexes the user guide first when the index is empty)."""
    settings = _settings(ctx)
    from .ui import launch

    _run(lambda: launch(settings, host=host, port=port))


def main() -> None:
    cli(prog_name="rag")


if __name__ == "__main__":
    main()
