"""rag eval: retrieval, answers, file formats and generated questions, with regression gates."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:  # pydantic-settings takes 0.2 s to import: not for `rag --help`
    from ..config import Settings

from .base import F, _embedder, _open, _run, _settings, cli


@cli.group(name="eval")
def eval_group() -> None:
    """Measure retrieval, answers, citations and refusals on real data; gate regressions."""


def eval_options(fn: F) -> F:
    for option in reversed(
        [
            click.option(
                "--limit",
                type=click.IntRange(min=1),
                default=None,
                help="Use N questions (a sample).",
            ),
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
    type=click.IntRange(min=1),
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
    if not chosen:
        raise click.UsageError("--modes names no mode; use dense, keyword, hybrid")

    def go() -> None:
        _check_paths(out, compare_to, save_baseline)
        from ..eval.retrieval import eval_retrieval

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
        _check_paths(out, compare_to, save_baseline)
        from ..eval.answers import eval_answers

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
        from ..eval.answers import curve_table

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
@click.option(
    "--articles",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Articles to sample.",
)
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
        _check_paths(out, compare_to, save_baseline)
        from ..eval.formats import eval_formats

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
@click.option(
    "-n", "count", type=click.IntRange(min=1), default=100, show_default=True, help="Questions."
)
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
        _check_paths(out_file.parent, None, None)
        from ..eval.generate import generate, write_jsonl

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
    from ..answer import make_llm
    from ..prompts import load_prompt

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


def _check_paths(out: Path, compare_to: Path | None, save_baseline: Path | None) -> None:
    """Fail before the evaluation, not after it: where the results go must be writable, and
    the baseline to compare with readable."""
    for folder in (out, *([save_baseline.parent] if save_baseline else [])):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            probe = folder / f".rag-write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise click.ClickException(
                f"cannot write results to {folder}: {exc.strerror or exc}; choose another "
                "--out (or --save-baseline)"
            ) from None
    if compare_to is not None:
        from ..eval.report import read_baseline

        try:
            read_baseline(compare_to)
        except ValueError as exc:
            raise click.ClickException(f"cannot compare with {compare_to}: {exc}") from None


def _finish_eval(
    result: dict[str, Any],
    out: Path,
    compare_to: Path | None,
    tolerance: float,
    save_baseline: Path | None = None,
) -> None:
    from ..eval.report import (
        baseline,
        changes_table,
        compare,
        machine,
        read_baseline,
        table,
        write,
    )

    result["command"] = "rag " + " ".join(sys.argv[1:])
    result["machine"] = machine()
    counted = result.get("questions", result.get("queries"))
    if counted == 0 or not result.get("metrics"):
        raise click.ClickException(
            "nothing was evaluated (no questions, documents or modes were selected): check "
            "--dataset, --limit, --split and --corpus, and that the set holds questions"
        )
    changes = None
    if compare_to is not None:
        try:
            changes = compare(read_baseline(compare_to), result, tolerance)
        except (ValueError, KeyError, TypeError) as exc:
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
