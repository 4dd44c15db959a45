"""Evaluation reports: JSON, Markdown and PNG plots, a printed table, and comparison with an
earlier run (for gating CI on quality)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Metrics where lower is better; everything else is better higher. Latencies are reported but
# not gated: they measure the machine as much as the code.
LOWER_IS_BETTER = ("latency", "first_token", "fallback_rate")
NOT_GATED = ("latency", "first_token", "questions", "fallback_rate")


@dataclass(frozen=True)
class Change:
    metric: str
    old: float
    new: float | None  # None: the new run lacks the metric (or its whole mode or backend)
    regression: bool

    @property
    def delta(self) -> float | None:
        return None if self.new is None else self.new - self.old


def compare(old: dict[str, Any], new: dict[str, Any], tolerance: float) -> list[Change]:
    """Every metric of the earlier run beside the new value. A regression is a drop by more
    than `tolerance` (absolute) in a gated, higher-is-better metric, or a gated metric the new
    run no longer reports: a mode or backend that vanished must not pass by having nothing
    left to compare."""
    if old.get("kind") != new.get("kind") or old.get("dataset") != new.get("dataset"):
        raise ValueError(
            f"cannot compare a {old.get('kind')} run on {old.get('dataset')} with a "
            f"{new.get('kind')} run on {new.get('dataset')}"
        )
    # Runs of another scope (other questions, another sample, another corpus) give other
    # figures whatever the code does: their difference says nothing, pass or fail.
    for key in SCOPE:
        if key in old and key in new and old[key] != new[key]:
            raise ValueError(
                f"the baseline was run with {key}={_short(old[key])} and this run with "
                f"{key}={_short(new[key])}: run again with the baseline's settings (its "
                "'command' field shows them), or save a new baseline"
            )
    changes = []
    for key, value in old["metrics"].items():
        old_value = float(value)
        gated = not any(tag in key for tag in NOT_GATED)
        if key not in new["metrics"]:
            changes.append(Change(key, old_value, None, gated))
            continue
        new_value = float(new["metrics"][key])
        worse = (
            new_value > old_value
            if any(tag in key for tag in LOWER_IS_BETTER)
            else new_value < old_value
        )
        regression = gated and worse and abs(new_value - old_value) > tolerance
        changes.append(Change(key, old_value, new_value, regression))
    return changes


def read_baseline(path: Path) -> dict[str, Any]:
    """An earlier result or baseline for --compare, checked before any work is done."""
    try:
        old = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"not readable as JSON ({exc})") from None
    metrics = old.get("metrics") if isinstance(old, dict) else None
    if not isinstance(metrics, dict) or not metrics:
        raise ValueError("it holds no metrics: pass a result JSON or a --save-baseline file")
    bad = [k for k, v in metrics.items() if not isinstance(v, int | float) or isinstance(v, bool)]
    if bad:
        raise ValueError(f"its metric {bad[0]!r} is not a number")
    return old


# What a run measured on: two runs compare only when these agree (a key one of them lacks, as
# baselines saved before it was recorded do, is not checked).
SCOPE = ("queries", "questions", "documents", "limit", "corpus_limit", "sample_seed", "split",
         "articles")  # fmt: skip


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:79] + "…"


def baseline(result: dict[str, Any]) -> dict[str, Any]:
    """What --compare needs, and nothing from the data set itself (safe to commit)."""
    keep = ("kind", "dataset", "queries", "questions", "documents", "limit", "corpus_limit",
            "sample_seed", "split", "articles", "formats", "backends", "command", "machine",
            "metrics", "results")  # fmt: skip
    return {k: result[k] for k in keep if k in result}


def table(result: dict[str, Any]) -> str:
    """The result as a Markdown table: one row per mode or backend."""
    rows: dict[str, dict[str, float]] = result["results"]
    metrics: list[str] = []
    for row in rows.values():
        metrics += [m for m in row if m not in metrics]
    head = "| | " + " | ".join(metrics) + " |"
    lines = [head, "|---" * (len(metrics) + 1) + "|"]
    for name, row in rows.items():
        cells = [_fmt(row.get(m)) for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def changes_table(changes: list[Change], tolerance: float) -> str:
    lines = ["| metric | before | now | change | |", "|---|---|---|---|---|"]
    for c in changes:
        flag = f"REGRESSION (> {tolerance:g})" if c.regression else ""
        if c.new is None:
            flag = "REGRESSION (missing)" if c.regression else "missing"
        delta = "-" if c.delta is None else f"{c.delta:+.4f}"
        lines.append(f"| {c.metric} | {_fmt(c.old)} | {_fmt(c.new)} | {delta} | {flag} |")
    return "\n".join(lines)


def markdown(result: dict[str, Any], changes: list[Change] | None, tolerance: float) -> str:
    title = f"# {result['kind'].capitalize()} evaluation: {result['dataset']}"
    facts = [
        f"- questions: {result.get('queries', result.get('questions'))}",
        f"- documents: {result.get('documents')}",
        f"- sample: limit {result.get('limit')}, seed {result.get('sample_seed')}",
        f"- command: `{result.get('command', '')}`",
        f"- machine: {result.get('machine', {}).get('cpu', '?')}, "
        f"{result.get('machine', {}).get('cores', '?')} cores; commit "
        f"{result.get('machine', {}).get('commit', '?')}; {result.get('machine', {}).get('date', '')}",
    ]
    parts = [title, "", *facts, "", table(result)]
    if result.get("published_ndcg@10"):
        pub = ", ".join(f"{k} {v}" for k, v in result["published_ndcg@10"].items())
        parts += ["", f"Published nDCG@10: {pub}."]
    if changes is not None:
        parts += ["", "## Compared with the earlier run", "", changes_table(changes, tolerance)]
    return "\n".join(parts) + "\n"


def plots(result: dict[str, Any], folder: Path, stem: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = []
    rows: dict[str, dict[str, float]] = result["results"]
    quality = [
        m
        for m in next(iter(rows.values()), {})
        if not any(t in m for t in ("latency", "first_token", "questions"))
    ]
    if quality:
        fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(quality) * len(rows) / 2), 4))
        width = 0.8 / max(len(rows), 1)
        for i, (name, row) in enumerate(rows.items()):
            xs = [j + i * width for j in range(len(quality))]
            ax.bar(xs, [row.get(m, 0) for m in quality], width, label=name)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(quality))])
        ax.set_xticklabels(quality, rotation=30, ha="right")
        ax.set_ylim(0, 1)
        ax.set_title(f"{result['dataset']}: {result['kind']}")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = folder / f"{stem}-metrics.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        out.append(path)
    latencies = _latencies(result)
    if latencies:
        fig, ax = plt.subplots(figsize=(6, 4))
        for name, values in latencies.items():
            ax.hist(values, bins=30, alpha=0.6, label=name)
        ax.set_xlabel("milliseconds per question")
        ax.set_ylabel("questions")
        ax.set_title(f"{result['dataset']}: latency")
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = folder / f"{stem}-latency.png"
        fig.savefig(path, dpi=100)
        plt.close(fig)
        out.append(path)
    return out


def _latencies(result: dict[str, Any]) -> dict[str, list[float]]:
    if result["kind"] == "answers":
        return {b: [r["latency_ms"] for r in rows] for b, rows in result.get("rows", {}).items()}
    return {m: v for m, v in result.get("latency_samples_ms", {}).items()}


def write(
    result: dict[str, Any], folder: Path, changes: list[Change] | None, tolerance: float
) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{result['kind']}-{result['dataset']}"
    json_path = folder / f"{stem}.json"
    json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False), encoding="utf-8")
    md_path = folder / f"{stem}.md"
    md_path.write_text(markdown(result, changes, tolerance), encoding="utf-8")
    return [json_path, md_path, *plots(result, folder, stem)]


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100 or (abs(value) >= 1.5 and float(value).is_integer()):
        return f"{value:.0f}"  # counts (questions: 10), and large values
    return f"{value:.4f}" if abs(value) < 1.5 else f"{value:.1f}"


def machine() -> dict[str, Any]:
    """CPU, cores, Python, git commit and date: where and when a run was made."""
    import os
    import platform
    import subprocess

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(
            ["git", "-C", str(Path(__file__).resolve().parents[2]), "rev-parse", "--short",
             "HEAD"], capture_output=True, text=True, timeout=5,
        ).stdout.strip() or "unknown"  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "commit": commit,
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
