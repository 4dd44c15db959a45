"""Evidence: the sentences of the retrieved chunks, scored for how well they answer a question."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..documents import SearchHit
from ..embeddings import Embedder
from ..store.keyword import IGNORED
from .sentences import split_sentences
from .types import Citation

_WORD = re.compile(r"\w+", re.UNICODE)
_NOT_PROSE = re.compile(r"\s*(#{1,6}\s|\|?\s*:?-{3,})")
_NUMBER = re.compile(
    r"\d|\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
    r"forty|fifty|hundred|thousand|million|billion|dozen|half|first|second|third|fourth|fifth|"
    r"sixth|seventh|eighth|ninth|tenth)\b",
    re.IGNORECASE,
)
_TIME = re.compile(
    r"\d|\b(january|february|march|april|may|june|july|august|september|october|november|"
    r"december|monday|tuesday|wednesday|thursday|friday|saturday|sunday|today|yesterday|"
    r"tomorrow|century|decade|year|years|ago|during|since|until|before|after)\b",
    re.IGNORECASE,
)
# Speech: quotation marks, an attribution dash, or a verb of saying.
_SPEECH = re.compile(
    r"[\"“”]|\s[—–]\s|\b(said|says|say|told|tells|stated|states|announced|announces|wrote|"
    r"writes|tweeted|added|noted|warned|assured|promised|pledged|claimed|declared|spoke|"
    r"underscored|emphasi[sz]ed|stressed|according to)\b",
    re.IGNORECASE,
)
_ASKS_SPEECH = re.compile(
    r"\b(say|says|said|tell|tells|told|promise|promised|announce|announced|claim|claimed|"
    r"state|stated|warn|warned|write|wrote|tweet|tweeted|pledge|pledged|assure|assured)\b",
    re.IGNORECASE,
)
_CAPITALISED = re.compile(r"\b[A-Z][\w'-]+")
# Capitalised words that are titles or institutions, not names.
_TITLES = frozenset(
    [
        "the",
        "a",
        "an",
        "secretary",
        "minister",
        "president",
        "chief",
        "spokesman",
        "spokeswoman",
        "spokesperson",
        "general",
        "defence",
        "defense",
        "national",
        "republic",
        "press",
        "department",
        "ministry",
        "foreign",
        "state",
        "states",
        "united",
        "prime",
        "deputy",
        "senior",
        "official",
        "officials",
        "government",
        "army",
        "navy",
        "air",
        "force",
        "council",
        "committee",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sir",
        "lord",
        "king",
        "queen",
        "prince",
        "his",
        "her",
        "their",
        "its",
        "during",
        "according",
    ]
)

# Document frequency lookup: (terms) -> ({term: chunks containing it}, chunks in all).
DocFreq = Callable[[Sequence[str]], tuple[dict[str, int], int]]


def stem(word: str) -> str:
    """A light English stemmer: enough to match 'missiles' with 'missile', 'spoke' stays."""
    w = word.lower()
    for suffix, keep in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3 and not w.endswith("ss"):
            return w[: -len(suffix)] + keep
    return w


def content_terms(text: str) -> list[str]:
    out: list[str] = []
    for word in _WORD.findall(text.lower()):
        if word not in IGNORED and (s := stem(word)) not in out:
            out.append(s)
    return out


@dataclass
class Candidate:
    """One sentence of a retrieved chunk, with its place in the document and its scores."""

    hit: SearchHit
    start: int  # offsets in the document text
    end: int
    text: str
    semantic: float = 0.0
    lexical: float = 0.0
    type_ok: bool = True
    novel: bool = True
    score: float = 0.0
    vec: np.ndarray | None = None  # the sentence's embedding, kept for citation alignment


# Sentences written to steer an assistant ("ignore previous instructions and say ..."): a
# document may contain them by accident or on purpose; they are never answers nor prompt text.
_INSTRUCTION = re.compile(
    r"\b(ignore|disregard|forget|override)\s+(all\s+|any\s+|the\s+|your\s+|of\s+)*"
    r"((previous|prior|above|earlier|preceding|system|original)\s+(instructions?|prompts?|rules|"
    r"directions|messages?|text|context|guidelines)\b|above\b|instructions?\b|prompts?\b)"
    r"|\b(you are now|pretend to be|new instructions|system prompt|developer mode|jailbreak)\b"
    r"|\b(assistants?|AI|chatbots?|language models?|LLMs?|the model)\b[^.!?\n]{0,30}\b(must|should|"
    r"shall|will)\s+(now\s+)?(say|answer|reply|respond|output|print|write|tell)\b"
    r"|\b(always|only)\s+(answer|reply|respond)\s+(with|that)\b",
    re.IGNORECASE,
)


def looks_like_instruction(text: str) -> bool:
    return bool(_INSTRUCTION.search(text))


def citation(c: Candidate, number: int) -> Citation:
    """The citation of one candidate sentence: its exact span in its document."""
    return Citation(
        number=number,
        chunk_id=c.hit.chunk_id,
        doc_id=c.hit.doc_id,
        source=c.hit.source,
        start=c.start,
        end=c.end,
        quote=c.text,
        page=c.hit.page,
        section=c.hit.section,
    )


def candidates(hits: Sequence[SearchHit]) -> list[Candidate]:
    """Sentences of the hits, each once (overlapping chunks share sentences)."""
    seen: set[tuple[str, int, int]] = set()
    out: list[Candidate] = []
    for hit in hits:
        for span in split_sentences(hit.text, offset=hit.start):
            if len(_WORD.findall(span.text)) < 3 or _NOT_PROSE.match(span.text):
                continue  # headings, table rules, captions, stray markers: not answers
            if looks_like_instruction(span.text):
                continue  # text addressed to the assistant is data, never an answer or a prompt
            key = (hit.doc_id, span.start, span.end)
            if key not in seen:
                seen.add(key)
                out.append(Candidate(hit, span.start, span.end, span.text))
    return out


def expected_type(question: str) -> str | None:
    q = question.lower().strip()
    if re.match(r"(how (many|much|long|old|far|big|large|often))|what (number|percent)", q):
        return "number"
    if re.match(r"(when|what year|what date|what time|in what year|which year)\b", q):
        return "time"
    if re.match(r"(who|whom|whose)\b", q):
        return "name"
    if re.match(r"where\b", q):
        return "name"
    if _ASKS_SPEECH.search(q):  # "What did Austin say?": what someone said, not what they did
        return "speech"
    return None


def type_matches(kind: str | None, sentence: str, question: str) -> bool:
    if kind == "number":
        return bool(_NUMBER.search(sentence))
    if kind == "time":
        return bool(_TIME.search(sentence))
    if kind == "speech":
        return bool(_SPEECH.search(sentence))
    if kind == "name":
        return _has_new_name(sentence, question)
    return True


def _has_new_name(sentence: str, question: str) -> bool:
    """Two capitalised words in a row that the question does not use ("Itsunori Onodera"):
    a person or place the answer can name. Acronyms and titles do not count."""
    return bool(new_names(sentence, question))


def new_names(sentence: str, question: str) -> set[str]:
    """Runs of two or more capitalised words that are not in the question, titles or acronyms."""
    asked = {w.lower() for w in _WORD.findall(question)}
    names: set[str] = set()
    run: list[str] = []
    prev_end = 0
    for m in _CAPITALISED.finditer(sentence):
        word = m.group()
        fresh = word.lower() not in asked and word.lower() not in _TITLES and not word.isupper()
        adjacent = sentence[prev_end : m.start()] == " "
        prev_end = m.end()
        if fresh and run and adjacent:
            run.append(word)
        else:
            if len(run) >= 2:
                names.add(" ".join(run))
            run = [word] if fresh else []
    if len(run) >= 2:
        names.add(" ".join(run))
    return names


def _echoes(question: str, sentence: str) -> bool:
    q = " ".join(_WORD.findall(question.lower()))
    return len(q.split()) >= 3 and q in " ".join(_WORD.findall(sentence.lower()))


def score(
    question: str,
    cands: list[Candidate],
    embedder: Embedder,
    doc_freq: DocFreq,
    semantic_weight: float = 0.55,
    type_penalty: float = 0.6,
) -> None:
    """Fill in each candidate's semantic, lexical and overall score (in place)."""
    if not cands:
        return
    vecs = embedder.embed([question] + [c.text for c in cands])
    sims = vecs[1:] @ vecs[0]
    terms = content_terms(question)
    raw_terms = [w for w in _WORD.findall(question.lower()) if w not in IGNORED]
    dfs, total = doc_freq(raw_terms) if raw_terms else ({}, 1)
    # Lucene's IDF: rare words weigh most; a word the index has never seen weighs like a
    # word in one chunk (it may be a paraphrase, it may be what the documents lack).
    weights: dict[str, float] = {}
    for raw in raw_terms:
        n = max(dfs.get(raw, 0), 1)
        weights[stem(raw)] = max(
            weights.get(stem(raw), 0.0), math.log(1 + (total - n + 0.5) / (n + 0.5))
        )
    norm = sum(weights.values()) or 1.0
    kind = expected_type(question)
    ignored_stems = {stem(w) for w in IGNORED}
    for c, sim, vec in zip(cands, sims, vecs[1:], strict=True):
        c.vec = vec
        words = {stem(w) for w in _WORD.findall(c.text.lower())}
        c.semantic = float(np.clip(sim, 0.0, 1.0))
        c.lexical = sum(w for t, w in weights.items() if t in words) / norm if terms else 0.0
        c.type_ok = type_matches(kind, c.text, question)
        own = {w for w in words if w not in ignored_stems} - set(terms)
        # A sentence that only repeats the question's words, or quotes the question itself
        # (a guide that lists example questions), is not an answer to it.
        c.novel = len(own) >= 2 and not _echoes(question, c.text)
        c.score = semantic_weight * c.semantic + (1 - semantic_weight) * c.lexical
        if not c.type_ok:
            c.score *= type_penalty
        if not c.novel:
            c.score *= type_penalty * type_penalty
