"""What every command shares: the `rag` group, settings, collaborators, and the options of
the search and answer commands."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from ..errors import RagError

if TYPE_CHECKING:  # pydantic-settings takes 0.2 s to import: not for `rag --help`
    from ..config import Settings

F = TypeVar("F", bound=Callable[..., Any])


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    base: dict[str, Any] = dict(ctx.obj or {})
    base.update({k: v for k, v in overrides.items() if v is not None})
    from ..config import Settings

    try:
        return Settings(**base)
    except Exception as exc:  # pydantic's ValidationError: show it as a usage error
        raise click.UsageError(f"invalid settings: {exc}") from exc


COMPONENTS = "rag.components"


def _components() -> Any:
    """The collaborators passed to the command line (`cli.main(obj=Components(...))`, as tests
    do with fakes), or None for the real ones."""
    ctx = click.get_current_context(silent=True)
    return ctx.meta.get(COMPONENTS) if ctx is not None else None


def _embedder(settings: Settings) -> Any:
    components = _components()
    return components.embedder(settings) if components is not None else None


def _open(settings: Settings, create: bool = True) -> Any:
    from ..api import RagIndex  # imported late: `rag --help` should not load torch

    return RagIndex.open(settings, components=_components(), create=create)


def shown(path: str) -> str:
    """A path as one line of a listing: with a newline or another control character in it,
    quoted and escaped (as `ls` does), so that one entry never reads as two."""
    return path if path.isprintable() else repr(path)


def _run(fn: Callable[[], None]) -> None:
    try:
        fn()
    except RagError as exc:
        raise click.ClickException(str(exc)) from exc


def _index_after_command(ctx: click.Context, _: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(dict)["index"] = value


class _Group(click.Group):
    """Every command also takes --index after its name (`rag ask "..." --index I`, as users
    type it), not only before it (`rag --index I ask "..."`)."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not isinstance(cmd, click.Group) and not any(p.name == "index" for p in cmd.params):
            cmd.params.append(
                click.Option(
                    ["--index"],
                    type=click.Path(file_okay=False, path_type=Path),
                    expose_value=False,
                    is_eager=True,
                    callback=_index_after_command,
                    help="Index folder (default: ./index, or RAG_INDEX).",
                )
            )
        super().add_command(cmd, name)

    def group(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("cls", _Group)
        return super().group(*args, **kwargs)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
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
    if ctx.obj is not None and not isinstance(ctx.obj, dict):
        ctx.meta[COMPONENTS] = ctx.obj  # collaborators passed in (see _components)
    ctx.obj = {"index": index} if index is not None else {}


def retrieval_options(fn: F) -> F:
    """The options `search` and `ask` share: how many passages, which mode, which documents."""
    for option in reversed(
        [
            click.option(
                "-k",
                "--top-k",
                "k",
                type=click.IntRange(1, 100),
                default=None,
                help="Passages (default 5).",
            ),
            click.option("--mode", type=click.Choice(["dense", "keyword", "hybrid"]), default=None),
            click.option(
                "--path",
                "path_glob",
                default=None,
                callback=_here,
                help="Only documents whose path matches: a glob ('*/handbook/*', 'notes/*.md'), "
                "a name or folder found anywhere in the path, or a path from here ('./notes').",
            ),
            click.option(
                "--type", "file_types", multiple=True, help="Only these file types (pdf, md, ...)."
            ),
            click.option("--json", "as_json", is_flag=True, help="Print JSON."),
        ]
    ):
        fn = option(fn)
    return fn


def _here(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """`--path .`, `./notes/*`, `../x`: a path from the working directory, made absolute (the
    index stores absolute paths; "." would otherwise match every path with a dot in it)."""
    if value is None:
        return None
    if value in (".", "..") or value.startswith(("./", "../")):
        tail = "/" if value.endswith("/") or value in (".", "..") else ""
        return os.path.abspath(value) + tail
    return value


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
