"""The `rag` command line: ingest, remove, documents, search, info, ui, serve, mcp."""

from __future__ import annotations

import json
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from .errors import RagError

if TYPE_CHECKING:  # pydantic-settings takes 0.2 s to import: not for `rag --help`
    from .config import Settings

F = TypeVar("F", bound=Callable[..., Any])


def _settings(ctx: click.Context, **overrides: Any) -> Settings:
    base: dict[str, Any] = dict(ctx.obj or {})
    base.update({k: v for k, v in overrides.items() if v is not None})
    from .config import Settings

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
    from .api import RagIndex  # imported late: `rag --help` should not load torch

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
    if ctx.obj is not None and not isinstance(ctx.obj, dict):
        ctx.meta[COMPONENTS] = ctx.obj  # collaborators passed in (see _components)
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
            msg = f"skipped {shown(source)}: {reason}"
            if bar is not None:
                bar.write(msg, file=sys.stderr)
            else:
                click.echo(msg, err=True)

        with _open(settings) as idx:
            report = idx.ingest(list(paths), prune=prune, progress=progress, on_skip=on_skip)
        if bar is not None:
            bar.close()
        for source, note in report.notes:
            click.echo(f"note {shown(source)}: {note}", err=True)
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
            )
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
            click.echo(f"{h.rank}. [{h.score:.4f}] {shown(h.source)}  ({h.location()}; {via})")
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
        from .conversation import Conversation

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
        from .conversation import Conversation

        with _open(settings, create=False) as idx:
            conversation = Conversation(idx)
            while True:
                try:
                    question = click.prompt("you", prompt_suffix="> ").strip()
                except (EOFError, click.Abort):
                    break
                if question.lower() in {"exit", "quit"}:
                    break
                if question:
                    _print_stream(conversation.stream(question, k))
                    click.echo()

    _run(go)


def _print_stream(events: Any) -> Any:
    """Prints the standalone question of a follow-up, each sentence once it has been checked
    against the sources, then the sources. Returns the Answer."""
    from .answer import Answer, Checked
    from .conversation import Rewritten

    n_shown = 0
    for event in events:
        if isinstance(event, Rewritten) and event.standalone != event.question:
            click.echo(f"(searching for: {event.standalone})")
        elif isinstance(event, Checked) and event.kept:
            click.echo(("" if n_shown == 0 else " ") + event.sentence.rendered(), nl=False)
            n_shown += 1
        elif isinstance(event, Answer):
            if n_shown:
                click.echo()
            _print_answer(event, printed=n_shown > 0 and event.fallback is None)
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
            click.echo(f"  - {shown(h.source)} ({h.location()})")
            click.echo(textwrap.indent(textwrap.fill(_snippet(h.text), 94), "      "))
        return
    click.echo("\nSources:")
    for c in answer.citations:
        click.echo(f"  [{c.number}] {shown(c.source)} ({c.location()})")
        click.echo(textwrap.indent(textwrap.fill(f"“{_snippet(c.quote)}”", 94), "      "))
    if note := answer.dropped_note():
        click.echo(f"\n({note} --show-unsupported shows them.)")


def _snippet(text: str, limit: int = 400) -> str:
    return textwrap.shorten(" ".join(text.split()), limit)


@cli.group(name="eval")
def eval_group() -> None:
    """Measure retrieval, answers, citations and refusals on real data; gate regressions."""


def eval_options(fn: F) -> F:
    for option in reversed(
        [
            click.option("--limit", type=int, default=None, help="Use N questions (a sample)."),
            click.option(
                "--sample-seed", type=int, default=0, show_default=True, help="Seed of the sample."
            ),
            click.option(
                "--out",
                type=click.Path(file_okay=False, path_type=Path),
                default=Path("eval-results"),
                show_default=True,
                help="Folder for the JSON, Markdown and PNG results.",
            ),
            click.option(
                "--compare",
                "compare_to",
                type=click.Path(exists=True, dir_okay=False, path_type=Path),
                default=None,
                help="An earlier result JSON: show the differences; exit 1 on a regression.",
            ),
            click.option(
                "--tolerance",
                type=float,
                default=0.01,
                show_default=True,
                help="Largest drop of a quality metric that --compare accepts.",
            ),
            click.option(
                "--work",
                type=click.Path(file_okay=False, path_type=Path),
                default=None,
                help="Folder for the data set's files and index (default: under RAG_CACHE_DIR); "
                "reused, so a second run only checks hashes.",
            ),
            click.option(
                "--save-baseline",
                type=click.Path(dir_okay=False, path_type=Path),
                default=None,
                help="Also write the metrics alone (no per-question rows or data set text) "
                "as a baseline for --compare.",
            ),
        ]
    ):
        fn = option(fn)
    return fn


@eval_group.command(name="retrieval")
@click.option(
    "--dataset",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A BEIR folder: corpus.jsonl, queries.jsonl, qrels/test.tsv.",
)
@click.option("--modes", default="dense,keyword,hybrid", show_default=True, help="Retrieval modes.")
@click.option(
    "--corpus-limit",
    type=int,
    default=None,
    help="Index only the judged documents of the questions plus random others, N in all.",
)
@click.option(
    "--whole-documents",
    is_flag=True,
    help="Also score the published MTEB protocol (whole documents, no chunking).",
)
@eval_options
@click.pass_context
def eval_retrieval_cmd(
    ctx: click.Context,
    dataset: Path,
    modes: str,
    corpus_limit: int | None,
    whole_documents: bool,
    limit: int | None,
    sample_seed: int,
    out: Path,
    compare_to: Path | None,
    tolerance: float,
    work: Path | None,
    save_baseline: Path | None,
) -> None:
    """nDCG@10, MRR@10 and recall@1/5/10/100 of each retrieval mode on a BEIR data set."""
    settings = _settings(ctx)
    chosen = tuple(m.strip() for m in modes.split(",") if m.strip())
    bad = [m for m in chosen if m not in ("dense", "keyword", "hybrid")]
    if bad:
        raise click.UsageError(f"unknown mode {bad[0]!r}; use dense, keyword, hybrid")

    def go() -> None:
        from .eval.retrieval import eval_retrieval

        with _Bars() as bars:
            result = eval_retrieval(
                dataset,
                settings,
                modes=chosen,
                limit=limit,
                corpus_limit=corpus_limit,
                sample_seed=sample_seed,
                whole_documents=whole_documents,
                work=work,
                embedder=_embedder(settings),
                progress=bars,
            )
        _finish_eval(result, out, compare_to, tolerance, save_baseline)

    _run(go)


@eval_group.command(name="answers")
@click.option(
    "--dataset",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Questions: seed JSON lines, SQuAD 2.0 JSON, or NQ-open oracle JSON lines.",
)
@click.option(
    "--format", "fmt", type=click.Choice(["seed", "squad", "nq"]), default=None,
    help="The set's format (default: detected).",
)  # fmt: skip
@click.option(
    "--backend",
    "backends",
    multiple=True,
    type=click.Choice(["extractive", "local", "openai"]),
    help="Answer backend; repeat to compare several (default: the configured one).",
)
@click.option(
    "--corpus",
    type=click.Path(exists=True, path_type=Path),
    default=None,
    help="For sets without documents: a folder to index, in a scratch index kept for it under "
    "RAG_CACHE_DIR (default: ask the index in --index, read only).",
)
@click.option(
    "--split", type=click.Choice(["all", "train", "heldout"]), default="all", show_default=True,
    help="SQuAD/NQ: only the articles the answer model was not trained on (heldout), or the rest.",
)  # fmt: skip
@eval_options
@click.pass_context
def eval_answers_cmd(
    ctx: click.Context,
    dataset: Path,
    fmt: str | None,
    backends: tuple[str, ...],
    corpus: Path | None,
    split: str,
    limit: int | None,
    sample_seed: int,
    out: Path,
    compare_to: Path | None,
    tolerance: float,
    work: Path | None,
    save_baseline: Path | None,
) -> None:
    """Answer accuracy (SQuAD EM/F1 or must-mention, contains-gold), citation precision and
    recall, refusal precision and recall, and latency, per answer backend."""
    settings = _settings(ctx)

    def go() -> None:
        from .eval.answers import eval_answers

        with _Bars() as bars:
            result = eval_answers(
                dataset,
                settings,
                backends=backends or (settings.backend,),
                fmt=fmt,  # type: ignore[arg-type]
                limit=limit,
                sample_seed=sample_seed,
                corpus=corpus,
                work=work,
                embedder=_embedder(settings),
                progress=bars,
                split=split,  # type: ignore[arg-type]
            )
        from .eval.answers import curve_table

        for backend, curve in result.get("gate_curve", {}).items():
            if curve:
                click.echo(f"Refusal gate, {backend} (confidence below the threshold: refuse):")
                click.echo(curve_table(curve) + "\n")
        _finish_eval(result, out, compare_to, tolerance, save_baseline)

    _run(go)


@eval_group.command(name="formats")
@click.option(
    "--dataset",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A SQuAD 2.0 JSON file: its articles are written in each format.",
)
@click.option(
    "--formats", default="txt,md,html,docx,pdf", show_default=True,
    help="File formats to write each article as, compared side by side.",
)  # fmt: skip
@click.option("--articles", type=int, default=3, show_default=True, help="Articles to sample.")
@click.option(
    "--split", type=click.Choice(["heldout", "train", "all"]), default="heldout",
    show_default=True, help="Sample the articles no answer model is trained on, or others.",
)  # fmt: skip
@click.option(
    "--backend",
    type=click.Choice(["extractive", "local", "openai"]),
    default=None,
    help="Answer backend (default: the configured one).",
)
@eval_options
@click.pass_context
def eval_formats_cmd(
    ctx: click.Context,
    dataset: Path,
    formats: str,
    articles: int,
    split: str,
    backend: str | None,
    limit: int | None,
    sample_seed: int,
    out: Path,
    compare_to: Path | None,
    tolerance: float,
    work: Path | None,
    save_baseline: Path | None,
) -> None:
    """The same questions asked of the same articles as .txt, .md, .html, .docx and .pdf:
    answer metrics per format side by side, and whether citations still map back exactly."""
    settings = _settings(ctx)

    def go() -> None:
        from .eval.formats import eval_formats

        with _Bars() as bars:
            result = eval_formats(
                dataset,
                settings,
                formats=tuple(f.strip().lstrip(".") for f in formats.split(",") if f.strip()),
                articles=articles,
                split=split,
                limit=limit,
                sample_seed=sample_seed,
                backend=backend,
                work=work,
                progress=bars,
            )
        _finish_eval(result, out, compare_to, tolerance, save_baseline)

    _run(go)


@eval_group.command(name="generate")
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("generated-questions.jsonl"),
    show_default=True,
)
@click.option("-n", "count", type=int, default=100, show_default=True, help="Questions.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--with-model",
    is_flag=True,
    help="Let the configured language model (RAG_BACKEND=local/openai) word the questions.",
)
@click.pass_context
def eval_generate_cmd(
    ctx: click.Context, out_file: Path, count: int, seed: int, with_model: bool
) -> None:
    """Questions with known answers from your own index, to measure it with `rag eval answers`."""
    settings = _settings(ctx)

    def go() -> None:
        from .eval.generate import generate, write_jsonl

        writer = None
        if with_model:
            if settings.backend == "extractive":
                raise click.UsageError("--with-model needs RAG_BACKEND=local or openai")
            writer = _question_writer(settings)
        with _open(settings, create=False) as idx:
            items = generate(idx.store, count, seed=seed, writer=writer)
        if not items:
            raise click.ClickException(
                "no sentence with a number or a name to ask about; ingest more documents"
            )
        write_jsonl(items, out_file)
        by_model = sum(i["generated_by"] == "model" for i in items)
        click.echo(
            f"{len(items)} questions ({by_model} worded by the model) -> {out_file}\n"
            f"measure them: rag eval answers --dataset {out_file}"
        )

    _run(go)


def _question_writer(settings: Settings) -> Any:
    from .answer import make_llm
    from .prompts import load_prompt

    llm = make_llm(settings)
    prompt = load_prompt("question", settings.prompts_dir)

    def write(sentence: str, answer: str) -> str | None:
        rendered = prompt.render(llm.format, sentence=sentence, answer=answer)
        text = "".join(llm.stream(rendered, max_tokens=48)).strip()
        return text.splitlines()[0].strip() if text else None

    return write


class _Bars:
    """One progress bar per phase (mode or backend), on stderr."""

    def __enter__(self) -> _Bars:
        self.bars: dict[str, Any] = {}
        return self

    def __call__(self, phase: str, done: int, total: int) -> None:
        from tqdm import tqdm

        bar = self.bars.get(phase)
        if bar is None:
            bar = self.bars[phase] = tqdm(total=total, desc=phase, unit="q", leave=False)
        bar.n = done
        bar.refresh()

    def __exit__(self, *exc: object) -> None:
        for bar in self.bars.values():
            bar.close()


def _finish_eval(
    result: dict[str, Any],
    out: Path,
    compare_to: Path | None,
    tolerance: float,
    save_baseline: Path | None = None,
) -> None:
    from .eval.report import baseline, changes_table, compare, machine, table, write

    result["command"] = "rag " + " ".join(sys.argv[1:])
    result["machine"] = machine()
    changes = None
    if compare_to is not None:
        try:
            old = json.loads(compare_to.read_text(encoding="utf-8"))
            changes = compare(old, result, tolerance)
        except (ValueError, KeyError) as exc:
            raise click.ClickException(f"cannot compare with {compare_to}: {exc}") from exc
    files = write(result, out, changes, tolerance)
    if save_baseline is not None:
        save_baseline.parent.mkdir(parents=True, exist_ok=True)
        save_baseline.write_text(json.dumps(baseline(result), indent=2) + "\n", encoding="utf-8")
        files.append(save_baseline)
    click.echo(table(result))
    click.echo("\n" + "\n".join(f"wrote {p}" for p in files))
    if changes is not None:
        click.echo("\n" + changes_table(changes, tolerance))
        bad = [c for c in changes if c.regression]
        if bad:
            click.echo(
                f"\n{len(bad)} metric(s) dropped by more than {tolerance:g}: "
                + ", ".join(c.metric for c in bad),
                err=True,
            )
            sys.exit(1)
        click.echo(f"\nno metric dropped by more than {tolerance:g}")


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


@cli.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1, or RAG_HOST).")
@click.option("--port", type=int, default=None, help="TCP port (default 8000, or RAG_PORT).")
@click.option("--no-access-log", is_flag=True, help="Do not log each request.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, no_access_log: bool) -> None:
    """Serve the HTTP API: OpenAI-compatible embeddings and chat, search, ask, documents."""
    settings = _settings(ctx, host=host, port=port)
    from .server import serve as run_server  # imported late: fastapi and torch are slow to load

    _run(lambda: run_server(settings, access_log=not no_access_log))


@cli.command(name="mcp")
@answer_options
@click.pass_context
def mcp_cmd(ctx: click.Context, backend: str | None, show_unsupported: bool | None) -> None:
    """Serve the index to an assistant over MCP on stdin/stdout: tools search, ask and
    list_documents, each document as a resource (docs/mcp.md). rag serve has them at /mcp."""
    settings = _answer_settings(ctx, None, backend, show_unsupported)

    def go() -> None:
        import contextlib

        from .mcp import run_stdio  # imported late: the MCP SDK takes a second to load

        # stdout carries the protocol: whatever loading the index prints goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            idx = _open(settings, create=False)
        with idx:
            run_stdio(idx)

    _run(go)


def main() -> None:
    cli(prog_name="rag")


if __name__ == "__main__":
    main()
