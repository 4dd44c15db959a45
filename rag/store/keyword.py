"""Keyword retrieval: BM25 with Lucene's IDF over SQLite FTS5 postings (Porter stemmed)."""

from __future__ import annotations

import math
import re
import sqlite3

# Words too common to help a keyword search; as query terms they would match nearly everything.
_STOPWORDS = """
a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers herself him himself his how i if in into is it its itself just
me more most my myself no nor not now of off on once only or other our ours ourselves out over own
same she should so some such than that the their theirs them themselves then there these they
this those through to too under until up very was we were what when where which while who whom
why will with would you your yours yourself yourselves
"""
# Words that frame a question rather than name its topic ("What did Austin say?"): as keywords
# they match every article that reports speech, and outrank the name the person asked about.
_QUESTION_WORDS = """
say says said saying tell tells told mention mentions mentioned according describe describes
explain explains document documents please
"""
IGNORED = frozenset(_STOPWORDS.split()) | frozenset(_QUESTION_WORDS.split())
_WORD = re.compile(r"\w+", re.UNICODE)


def query_terms(text: str) -> list[str]:
    """The question's content words, once each; each is quoted for FTS5, so no syntax leaks in."""
    terms: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word not in IGNORED and word not in terms:
            terms.append(word)
    return terms


def bm25_scores(conn: sqlite3.Connection, terms: list[str]) -> dict[int, float]:
    """BM25 (k1=1.2, b=0.75) of every chunk that holds a term, with Lucene's IDF.

    FTS5's own bm25() uses log((N-n+0.5)/(n+0.5)), which is zero or below for a term in half the
    chunks or more: in a small collection the name a person asks about ("Austin") then counts for
    nothing. Each term is queried alone, FTS5's IDF is divided out of its score and Lucene's
    always-positive log(1 + (N-n+0.5)/(n+0.5)) put in its place.
    """
    total = conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
    scores: dict[int, float] = {}
    for term in terms:
        rows = conn.execute(
            "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ?",
            (f'"{term}"',),
        ).fetchall()
        n = len(rows)
        if n == 0:
            continue
        fts_idf = math.log((total - n + 0.5) / (n + 0.5))
        if fts_idf <= 0:
            fts_idf = 1e-6  # what FTS5 puts in its place
        factor = -math.log(1 + (total - n + 0.5) / (n + 0.5)) / fts_idf  # FTS5 scores are negated
        for rowid, raw in rows:
            scores[rowid] = scores.get(rowid, 0.0) + raw * factor
    return scores
