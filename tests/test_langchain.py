from __future__ import annotations

import numpy as np

from rag.langchain import RagEmbeddings, RagRetriever

from .conftest import write


def test_retriever_returns_documents_with_citations(index, tmp_path) -> None:
    write(tmp_path / "d" / "a.md", "# Tides\n\nThe moon pulls the oceans into tides.")
    write(tmp_path / "d" / "b.txt", "Volcanoes erupt lava and ash.")
    index.ingest([tmp_path / "d"])
    retriever = RagRetriever(index=index, k=2, mode="keyword")
    docs = retriever.invoke("moon tides")
    assert docs[0].page_content.startswith("# Tides")
    meta = docs[0].metadata
    assert meta["source"].endswith("a.md") and meta["section"] == "Tides"
    assert meta["start"] == 0 and meta["end"] == len(docs[0].page_content)
    assert meta["rank"] == 1 and "score" in meta
    filtered = RagRetriever(index=index, k=5, file_types=["txt"]).invoke("moon tides volcanoes")
    assert [d.metadata["file_type"] for d in filtered] == ["txt"]


def test_embeddings_match_the_index_embedder(fake_embedder) -> None:
    emb = RagEmbeddings(fake_embedder)
    docs = emb.embed_documents(["alpha beta", "gamma"])
    assert np.allclose(docs[0], fake_embedder.embed(["alpha beta"])[0])
    assert np.isclose(np.linalg.norm(emb.embed_query("gamma")), 1.0)
