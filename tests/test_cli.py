"""The command line, in-process with the fake embedder: what a person reads."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from rag.cli import cli

from .conftest import ROOT, fakes, write


@pytest.fixture
def run(tmp_path):
    runner = CliRunner()
    index = tmp_path / "idx"

    def invoke(*args: str, ok: bool = True):
        result = runner.invoke(
            cli, ["--index", str(index), *args], catch_exceptions=False, obj=fakes()
        )
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def test_help_lists_every_command_and_the_readme_tours_them() -> None:
    out = CliRunner().invoke(cli, ["--help"]).output
    commands = set(re.findall(r"^  (\w+)\s", out.split("Commands:")[1], re.M))
    assert commands >= {
        "ingest",
        "remove",
        "documents",
        "search",
        "ask",
        "chat",
        "info",
        "ui",
        "eval",
    }
    readme = (ROOT / "README.md").read_text()
    for name in commands:
        assert f"rag {name}" in readme, f"README does not show `rag {name}`"


def test_ingest_search_documents_remove(run, tmp_path) -> None:
    d = tmp_path / "docs"
    write(d / "a.md", "# Ferns\n\nFerns reproduce with spores, not seeds.")
    write(d / "b.txt", "Mosses grow on the north side of trees.")
    (d / "broken.pdf").write_bytes(b"nope")
    res = run("ingest", "-q", str(d))
    assert "2 added, 0 updated, 0 unchanged, 1 skipped" in res.output
    assert re.search(r"skipped .*broken\.pdf: corrupt or unreadable PDF", res.output)

    out = run("search", "ferns spores", "-k", "1", "--mode", "keyword").output
    assert out.startswith("1. [") and "a.md" in out and "§ Ferns" in out and "keyword #1" in out
    hits = json.loads(run("search", "mosses", "--json", "--type", "txt").output)
    assert [Path(h["source"]).name for h in hits] == ["b.txt"]
    assert {"start", "end", "page", "section", "score", "text"} <= set(hits[0])

    listing = run("documents").output
    assert "2 documents" in listing and "a.md" in listing
    docs = json.loads(run("documents", "--json").output)
    doc_id = next(x["id"] for x in docs if x["source"].endswith("b.txt"))
    assert f"removed {doc_id}" in run("remove", doc_id).output
    assert "1 documents" in run("documents").output

    info = json.loads(run("info").output)
    assert info["documents"] == 1 and info["embedding"]["fingerprint"] == "fake-64-v1"


def test_ask_prints_answer_sources_and_json(run, tmp_path) -> None:
    write(tmp_path / "d" / "a.txt", "The lighthouse was built in 1874 by the harbour board.")
    run("ingest", "-q", str(tmp_path / "d"))
    out = run("ask", "When was the lighthouse built?").output
    assert "1874" in out and "[1]" in out and "Sources:" in out and "a.txt" in out
    data = json.loads(run("ask", "When was the lighthouse built?", "--json").output)
    assert data["refused"] is False and data["citations"][0]["quote"].startswith("The lighthouse")
    out = run("ask", "Who painted the Mona Lisa?").output
    assert out.startswith("I could not find this in your documents.")


def test_errors_are_messages_not_tracebacks(run, tmp_path) -> None:
    res = run("search", "anything", ok=False)
    assert res.exit_code == 1 and "no index at" in res.output and "rag ingest" in res.output
    res = run("remove", "nothing-here", ok=False)
    assert res.exit_code == 1 and "Traceback" not in res.output
    run("ingest", "-q", str(write(tmp_path / "x.txt", "hello world")))
    res = run("remove", "nothing-here", ok=False)
    assert res.exit_code == 1 and "rag documents" in res.output
    res = CliRunner().invoke(cli, ["search", "x", "--mode", "fuzzy"])
    assert res.exit_code == 2 and "fuzzy" in res.output


def test_path_from_the_working_directory(tmp_path, monkeypatch) -> None:
    """Exploratory run: `--path ./notes/a.txt` matched nothing, and `--path .` matched every
    path with a dot in it, files outside the working directory too."""
    write(tmp_path / "here" / "notes" / "a.txt", "Herons nest in tall trees near the lake.")
    write(tmp_path / "elsewhere" / "b.txt", "Herons fish in the shallows of the lake.")
    index = str(tmp_path / "idx")
    runner = CliRunner()
    ingest = ["--index", index, "ingest", "-q", str(tmp_path / "here"), str(tmp_path / "elsewhere")]
    assert runner.invoke(cli, ingest, obj=fakes()).exit_code == 0
    monkeypatch.chdir(tmp_path / "here")
    for path in (".", "./notes/a.txt", "./notes/*", "notes"):
        res = runner.invoke(
            cli, ["--index", index, "search", "herons", "--path", path], obj=fakes()
        )
        assert res.exit_code == 0 and "a.txt" in res.output, (path, res.output)
        assert "b.txt" not in res.output, (path, res.output)


def test_index_may_follow_the_command(tmp_path) -> None:
    """Found by an exploratory run: `rag ask "..." --index I` said "No such option: --index";
    only `rag --index I ask "..."` worked. Both do now, for every command."""
    write(tmp_path / "d" / "a.txt", "Herons nest in tall trees near the lake.")
    index = str(tmp_path / "idx")
    runner = CliRunner()
    res = runner.invoke(cli, ["ingest", "-q", str(tmp_path / "d"), "--index", index], obj=fakes())
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["documents", "--index", index], obj=fakes())
    assert res.exit_code == 0 and "a.txt" in res.output, res.output
    res = runner.invoke(cli, ["search", "herons", "--index", index], obj=fakes())
    assert res.exit_code == 0 and "a.txt" in res.output, res.output
    res = runner.invoke(cli, ["eval", "generate", "--help"])
    assert "--index" in res.output
    assert not (tmp_path / "index").exists()  # never the default folder
