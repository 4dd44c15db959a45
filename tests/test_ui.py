"""The app over a real index on disk (fake embedder), served on 127.0.0.1."""

from __future__ import annotations

import json
import urllib.request

import pytest
from pydantic import SecretStr

from rag.answer import Delta
from rag.ui import build_app, ensure_sample_corpus, format_answer
from rag.uploads import distinct_names

from .conftest import write
from .test_generative import BIKES, KILN, ScriptedLLM, _answerer


@pytest.fixture
def kiln_index(index, tmp_path):
    write(tmp_path / "d" / "kiln.md", KILN)
    write(tmp_path / "d" / "bikes.txt", BIKES)
    index.ingest([tmp_path / "d"])
    return index


def test_empty_index_gets_the_user_guide(index) -> None:
    summary = ensure_sample_corpus(index)
    assert summary and "added" in summary
    assert any(d.source.endswith("ingesting.md") for d in index.documents())
    assert ensure_sample_corpus(index) is None  # only when empty
    hits = index.search("remove a document", 3, mode="keyword")
    assert hits and all("/docs/" in h.source for h in hits)


def test_answers_are_shown_with_markers_and_highlighted_sources(index, tmp_path) -> None:
    write(
        tmp_path / "d" / "guide.md",
        "# Setup\n\nRun <b>make</b> to build the kiln controller firmware version 4.2.",
    )
    index.ingest([tmp_path / "d"])
    reply, sources = format_answer(index.ask("Which firmware version does the kiln use?"))
    assert "4.2" in reply and "[1]" in reply
    assert "guide.md" in sources and "§ Setup" in sources and "<mark>" in sources
    assert "&lt;b&gt;make&lt;/b&gt;" in sources  # document text is escaped, never rendered
    reply, sources = format_answer(index.ask("Who painted the Mona Lisa?"))
    assert reply.startswith("I could not find this in your documents.")


def test_app_serves_on_loopback(index, tmp_path) -> None:
    write(tmp_path / "d" / "a.txt", "Lanterns glow in the festival.")
    index.ingest([tmp_path / "d"])
    app = build_app(index)
    app.queue()
    app.launch(server_name="127.0.0.1", prevent_thread_lock=True, share=False)
    try:
        assert app.local_url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(app.local_url, timeout=30) as resp:
            assert resp.status == 200
            assert "rag: ask your documents" in resp.read().decode()
    finally:
        app.close()


def test_the_app_refuses_an_address_others_can_reach_unless_told() -> None:
    """Exploratory run: `rag ui --host 0.0.0.0` put uploads and removals on the network with no
    key, where the docs said the app listens on this machine only."""
    from rag.errors import ConfigError
    from rag.ui.layout import check_host

    for host in ("127.0.0.1", "localhost", "::1"):
        check_host(host, allow_network=False)
    with pytest.raises(ConfigError, match="open to anyone who can reach this machine"):
        check_host("0.0.0.0", allow_network=False)
    check_host("0.0.0.0", allow_network=True)


def test_text_typed_while_an_answer_streams_is_kept(kiln_index) -> None:
    """Exploratory run: every update of a streaming answer emptied the question box, so a
    question typed meanwhile vanished (and one sent meanwhile, which Gradio ignores while the
    answer runs, with it). The box is emptied once, when the question is taken."""
    from rag.ui.chat import Session

    app = build_app(kiln_index)
    ask = next(f.fn for f in app.fns.values() if getattr(f.fn, "__name__", "") == "ask")
    updates = list(ask("When was the kiln built?", Session(), "extractive", "hybrid", 5))
    assert len(updates) > 2
    boxes = [u[2] for u in updates]
    assert boxes[0] == "" and all(b != "" for b in boxes[1:]), boxes


# ---------------------------------------------------------------- the chat as it streams


def _updates(index, answerers, question, session, backend="extractive", mode="hybrid", k=5):
    from rag.ui import stream_answer

    return list(stream_answer(index, answerers, question, session, backend, mode, k))


def test_a_pasted_text_is_not_a_question(kiln_index) -> None:
    """105,000 characters were embedded as a question and echoed whole in the sources panel."""
    from rag.ui import Answerers, Session

    answerers = Answerers(kiln_index, {})
    updates = _updates(kiln_index, answerers, "kiln " * 2001, Session())
    messages, panel, session = updates[-1]
    assert len(updates) == 1 and panel is None and not session.turns
    assert [m["role"] for m in messages] == ["assistant"]
    assert "10,004 characters" in messages[0]["content"]  # stripped of its last blank
    assert "Documents tab" in messages[0]["content"]


def test_the_answer_streams_raw_text_then_checked_sentences(kiln_index) -> None:
    from rag.ui import Answerers, Session

    reply = (
        "The kiln controller runs firmware version 4.2 [1]. "
        "The vendor was founded in Sweden by Astrid Lindgren in 1950 [1]."
    )
    answerers = Answerers(kiln_index, {"local": _answerer(kiln_index, ScriptedLLM(reply))})
    updates = _updates(
        kiln_index, answerers, "Which firmware does the kiln run?", Session(), "local"
    )
    bodies = [u[0][-1]["content"] for u in updates]
    # Raw text appears grey as the model writes it, a few characters at a time ...
    raw = [b for b in bodies if '<span class="rag-pending">The kiln' in b]
    assert len(raw) >= 3
    # ... is replaced by the checked sentence with a marker linked to its source card ...
    checked = next(b for b in bodies if 'href="#source-1-1"' in b)
    assert checked.startswith("The kiln controller runs firmware version 4.2.")
    # ... and the unsupported sentence, shown raw while written, is gone from the end result.
    assert any("Sweden" in b for b in bodies[:-1])
    messages, panel, session = updates[-1]
    final = messages[-1]["content"]
    assert "Sweden" not in final and "rag-pending" not in final
    assert "1 sentence the model wrote was dropped" in final and 'class="rag-meta"' in final
    assert 'id="source-1-1"' in panel and "<mark>" in panel and "kiln.md" in panel
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert len(session.turns) == 1


def test_follow_ups_show_the_searched_question_and_keep_earlier_sources(kiln_index) -> None:
    from rag.ui import Answerers, Session

    answerers = Answerers(kiln_index)
    first = _updates(
        kiln_index, answerers, "Which firmware does the Kiln controller run?", Session()
    )
    messages, panel, session = first[-1]
    assert "rag-standalone" not in messages[-1]["content"]
    second = _updates(kiln_index, answerers, "How hot does it get when firing stoneware?", session)
    messages, panel, session = second[-1]
    assert len(messages) == 4 and len(session.turns) == 2
    shown = messages[-1]["content"]
    assert 'class="rag-standalone">Searched for: “How hot does Kiln' in shown
    assert session.turns[-1].standalone.startswith("How hot does Kiln")
    # Markers of the second answer point at its own cards; the first answer's stay, folded.
    assert "#source-2-1" in shown and 'id="source-2-1"' in panel
    assert "<details><summary>Earlier: Which firmware" in panel and 'id="source-1-1"' in panel


def test_refusals_show_the_closest_passages(kiln_index) -> None:
    from rag.ui import Answerers, Session

    updates = _updates(kiln_index, Answerers(kiln_index), "Who painted the Mona Lisa?", Session())
    messages, panel, _ = updates[-1]
    assert messages[-1]["content"].startswith("I could not find this in your documents.")
    assert "closest passages" in messages[-1]["content"]
    assert "Closest passages (none answers the question)" in panel and "rag-source" in panel


def test_a_failing_backend_is_a_message_in_the_chat(kiln_index) -> None:
    from rag.errors import GenerationError
    from rag.ui import Answerers, Session

    class Down:
        name = "openai"

        def stream(self, question, hits):
            yield Delta("The")
            raise GenerationError("could not reach the server at http://127.0.0.1:9/v1")

    answerers = Answerers(kiln_index, {"openai": Down()})  # type: ignore[dict-item]
    messages, _, session = _updates(kiln_index, answerers, "Which firmware?", Session(), "openai")[
        -1
    ]
    text = messages[-1]["content"]
    assert 'class="rag-error"' in text and "openai answer backend is not available" in text
    assert "could not reach the server" in text and "Traceback" not in text
    assert session.turns == []  # nothing recorded: the next question is not a follow-up of it


def test_effective_config_shows_the_tab_choices_and_never_the_key(index) -> None:
    from rag.ui import effective_config

    index.settings = index.settings.model_copy(
        update={"openai_api_key": SecretStr("sk-very-secret")}
    )
    shown = effective_config(index, "openai", "keyword", 7)
    text = json.dumps(shown)
    assert "sk-very-secret" not in text and shown["answering"]["openai_api_key"] == "set"
    assert shown["answering"]["backend"] == "openai" and shown["answering"]["top_k"] == 7
    assert shown["answering"]["mode"] == "keyword" and "documents" in shown["index"]
    assert "openai_model" not in effective_config(index, "extractive", "hybrid", 5)["answering"]


def test_document_and_model_text_is_shown_literally() -> None:
    from rag.ui import md as _md

    shown = _md("<img src=x onerror=alert(1)> *not bold* [1](http://x) $x$")
    assert "<img" not in shown and "&lt;img" in shown
    assert "\\*not bold\\*" in shown and "\\[1\\]" in shown and "\\$x\\$" in shown


def test_a_new_index_is_prepared_in_the_background_with_progress(index, tmp_path) -> None:
    from rag.ui import Preparing

    write(tmp_path / "guide" / "a.md", "# Start\n\nInstall rag with pip and run rag ui.")
    write(tmp_path / "guide" / "b.md", "# Remove\n\nRemove a document with rag remove.")
    preparing = Preparing(index, tmp_path / "guide")
    assert preparing.indexing and "Indexing the user guide" in preparing.banner()
    seen: list[str] = []
    original = preparing._progress

    def spy(done: int, total: int, path: str) -> None:
        original(done, total, path)
        seen.append(preparing.banner())

    preparing._progress = spy  # type: ignore[method-assign]
    preparing.start().join(60)
    assert preparing.finished.is_set() and preparing.error is None
    assert "**1/2** files read (a.md)" in seen[0]
    assert "all **2** files read, computing their embeddings" in seen[-1]
    assert "The user guide is indexed (2 added" in preparing.banner()
    assert len(index.documents()) == 2
    assert not Preparing(index, tmp_path / "guide").indexing  # only an empty index gets it


def test_same_named_files_of_one_upload_are_both_kept() -> None:
    names = distinct_names(["notes.txt", "notes.txt", "report.pdf", "notes.txt", "README"])
    assert names == ["notes.txt", "notes (2).txt", "report.pdf", "notes (3).txt", "README"]
    assert distinct_names(["README", "README"]) == ["README", "README (2)"]
