"""The app over a real index on disk (fake embedder), served on 127.0.0.1."""

from __future__ import annotations

import urllib.request

from rag.ui import build_app, ensure_sample_corpus, format_answer

from .conftest import write


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
