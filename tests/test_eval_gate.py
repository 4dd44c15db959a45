"""The quality gate CI runs: a fixed slice of SciFact and SQuAD 2.0, scored by `rag eval` with the
real model, compared with the committed baselines in tests/baselines/. A metric that drops by
more than the tolerance fails this test, and so CI.

After a change that moves a metric on purpose, refresh a baseline with the command the test
prints (the same command with --save-baseline) and say why in the commit.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT, shared

pytestmark = pytest.mark.slow
BASELINES = ROOT / "tests" / "baselines"

SLICES = {
    "retrieval-scifact": [
        "retrieval",
        "--dataset", "{datasets}/scifact",
        "--limit", "50", "--corpus-limit", "1000", "--sample-seed", "0",
        "--tolerance", "0.02",
    ],
    "answers-dev-v2.0-part1": [
        "answers",
        "--dataset", "{datasets}/squad2-dev/dev-v2.0-part1.json", "--split", "heldout",
        "--limit", "100", "--sample-seed", "0",
        "--tolerance", "0.03",
    ],
    # Issue 15: one held-out article printed as a PDF (wrapped lines, hyphenation, two columns).
    "answers-dev-v2.0-part1-formats-pdf": [
        "formats",
        "--dataset", "{datasets}/squad2-dev/dev-v2.0-part1.json", "--formats", "pdf",
        "--articles", "1", "--limit", "30", "--sample-seed", "0",
        "--tolerance", "0.05",
    ],
}  # fmt: skip


@pytest.mark.parametrize("name", list(SLICES))
def test_quality_does_not_drop_below_the_committed_baseline(name: str, tmp_path: Path) -> None:
    datasets = shared("datasets")
    args = [a.format(datasets=datasets) for a in SLICES[name]]
    baseline = BASELINES / f"{name}.json"
    cmd = [sys.executable, "-m", "rag", "eval", *args, "--out", str(tmp_path / "out")]
    assert baseline.is_file(), (
        f"no baseline; make one with: {' '.join(cmd)} --save-baseline {baseline}"
    )
    env = {
        **os.environ,
        "RAG_CACHE_DIR": os.environ.get("RAG_CACHE_DIR", str(Path.home() / ".cache" / "rag")),
    }
    proc = subprocess.run(
        [*cmd, "--compare", str(baseline)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=1500,
    )
    assert proc.returncode == 0, (
        f"quality gate failed ({' '.join(cmd)}):\n{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}"
    )
    assert "no metric dropped" in proc.stdout
    result = json.loads((tmp_path / "out" / f"{name}.json").read_text())
    committed = json.loads(baseline.read_text())
    # A mode or metric that vanished has nothing to drop: the gate must see it missing.
    assert set(result["results"]) >= set(committed["results"]), "a mode or backend is missing"
    assert set(result["metrics"]) >= set(committed["metrics"]), "a metric is missing"
    assert (tmp_path / "out" / f"{name}.md").is_file()
    assert (tmp_path / "out" / f"{name}-metrics.png").stat().st_size > 1000
