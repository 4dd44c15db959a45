"""Building and reading the index: ingest, remove, documents, search, info."""

from __future__ import annotations

import json
import re
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # pydantic-settings takes 0.2 s to import: not for `rag --help`
    pass

from .base import _open, _run, _settings, cli, retrieval_options, shown


@cli.command()
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--prune", is_flag=True, help="Remove indexed documents whose files are gone.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option(
    "--ray",
    "ray",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[ADDRESS]",
    help="Load, split and embed on Ray (pip install -e '.[scale]'): at a cluster's ADDRESS "
    "(host:6379, ray://host:10001, auto), else RAG_RAY_ADDRESS, else a Ray started on this "
    "machine (local).",
)
@click.option(
    "--ray-workers",
    type=click.IntRange(min=1),
    default=None,
    help="Ray worker actors, one model each (default: one per CPU of the cluster).",
)
@click.pass_context
def ingest(
    ctx: click.Context,
    paths: tuple[Path, ...],
    prune: bool,
    as_json: bool,
    quiet: bool,
    ray: str | None,
    ray_workers: int | None,
):
    """Index files and folders (.txt .text .md .markdown .html .htm .pdf .docx; .png .jpg .jpeg
    .tif .tiff and scanned PDF pages by OCR); unchanged files are not re-embedded."""
    if ray and not _ray_address_like(ray):  # `--ray docs/`: a path, not an address
        paths, ray = (Path(ray), *paths), ""
    if not paths:
        raise click.UsageError("Missing argument 'PATHS...'.")
    settings = _settings(ctx)
    # --ray ADDRESS, else RAG_RAY_ADDRESS; --ray alone with neither: a Ray on this machine.
    address = ray or settings.ray_address or ("local" if ray == "" else None)
    if ray_workers is not None and address is None:
        raise click.UsageError("--ray-workers needs --ray (or RAG_RAY_ADDRESS)")

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

        def say(msg: str) -> None:
            if bar is not None:
                bar.write(msg, file=sys.stderr)
            else:
                click.echo(msg, err=True)

        def on_skip(source: str, reason: str) -> None:
            say(f"skipped {shown(source)}: {reason}")

        def on_note(source: str, note: str) -> None:  # as each file is read: OCR says its time
            say(f"note {shown(source)}: {note}")

        chunks = None

        def on_embed(done: int, total: int) -> None:
            # A second bar for a commit's chunks: one large file is minutes of embedding, where
            # the file bar stands still. Small commits (seconds) show none.
            nonlocal chunks
            if quiet or total < 256:
                return
            if chunks is None:
                chunks = tqdm(
                    total=total, unit="chunk", desc="embedding", file=sys.stderr, leave=False
                )
            chunks.update(done - chunks.n)
            if done >= total:
                chunks.close()
                chunks = None

        from ..ingest.pipeline import IngestInterrupted

        try:
            with _open(settings) as idx:
                report = idx.ingest(
                    list(paths),
                    prune=prune,
                    progress=progress,
                    on_skip=on_skip,
                    on_note=on_note,
                    ray=address,
                    ray_workers=ray_workers or settings.ray_workers,
                    on_embed=on_embed,
                )
        except IngestInterrupted as stop:
            if bar is not None:
                bar.close()
            kept = len(stop.report.added) + len(stop.report.updated)
            click.echo(
                f"\nInterrupted: {kept} new or changed files were committed before it and are "
                "in the index; run the same command again to finish (what is indexed is not "
                "embedded again).",
                err=True,
            )
            raise SystemExit(130) from None
        if bar is not None:
            bar.close()
        # The first question would otherwise wait for the answer encoder's one-time export.
        # The index is written either way: a problem here is the first question's to report.
        from ..answer.encoder import prepare_encoder
        from ..errors import RagError

        try:
            prepare_encoder(settings.answer_model, settings.cache_dir)
        except RagError as exc:
            click.echo(f"warning: the answer model is not ready: {exc}", err=True)
        if as_json:
            click.echo(json.dumps(report.to_dict(), indent=2))
        else:
            click.echo(f"{report.summary()} ({time.perf_counter() - started:.1f} s)")

    _run(go)


def _ray_address_like(value: str) -> bool:
    """local, auto, a URL (ray://host:10001) or host:port; anything else given to --ray is
    taken for a path that followed it."""
    return value in ("local", "auto") or "://" in value or bool(re.fullmatch(r"\S+:\d+", value))


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
            click.echo(f"removed {d.id} {shown(d.source)}")

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
            click.echo(
                f"{d.id}  {d.file_type:<4} {d.n_chunks:>5} chunks  {when}  {shown(d.source)}"
                + (f"  [{d.ocr_summary()}]" if d.ocr_pages else "")
            )
        click.echo(f"{len(docs)} documents")

    _run(go)


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
            click.echo(f"{h.rank}. [{h.score:.4f}] {shown(h.source)}  ({h.location()}; {via})")
            body = " ".join(h.text.split())
            click.echo(textwrap.indent(textwrap.fill(textwrap.shorten(body, 400), 96), "   "))

    _run(go)


@cli.command()
@click.pass_context
def info(ctx: click.Context) -> None:
    """Show the index manifest (model, fingerprint, chunking) and counts."""
    settings = _settings(ctx)

    def go() -> None:
        with _open(settings, create=False) as idx:
            click.echo(json.dumps(idx.info(), indent=2))

    _run(go)
