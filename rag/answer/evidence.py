"""Evidence: the sentences of the retrieved chunks, scored for how well they answer a question."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ..documents import SearchHit, low_ocr_confidence
from ..embeddings import Embedder
from ..ingest.tables import TableSpan, find_tables, header_length, labelled_row, table_at
from ..store.keyword import IGNORED
from ..text.markup import join_lines, plain_text
from ..text.sentences import Span, split_sentences
from .features import (
    SENTENCE_FEATURES,
    QuestionTerms,
    absent_number,
    gate_vector,
    sentence_matrix,
    stem_word,
)
from .instructions import looks_like_instruction
from .model import AnswerModel, load_model
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
SPEECH = re.compile(
    r"[\"“”]|\s[—–]\s|\b(said|says|say|told|tells|stated|states|announced|announces|wrote|"
    r"writes|tweeted|added|noted|warned|assured|promised|pledged|claimed|declared|spoke|"
    r"underscored|emphasi[sz]ed|stressed|according to)\b",
    re.IGNORECASE,
)
ASKS_SPEECH = re.compile(
    r"\b(say|says|said|tell|tells|told|promise|promised|announce|announced|claim|claimed|"
    r"state|stated|warn|warned|write|wrote|tweet|tweeted|pledge|pledged|assure|assured)\b",
    re.IGNORECASE,
)
CAPITALISED = re.compile(r"\b[A-Z][\w'-]+")
# Capitalised words that are titles or institutions, not names.
TITLES = frozenset(
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
    """The keyword index's stem of a word (Porter, via PyStemmer): one stemmer for search,
    evidence, alignment and the answer model's features."""
    return stem_word(word.lower())


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
    score: float = 0.0  # the model's probability that this sentence answers the question
    vec: np.ndarray | None = None  # the sentence's embedding, kept for citation alignment
    pos: int = 0  # its place among the kept sentences of its chunk
    features: np.ndarray | None = None  # SENTENCE_FEATURES, kept for training and inspection
    # A table row is read with its header (and the table's title), not as a run of cells:
    # `row` is "Year: 2019; Population: 331,449", `read` the title and that row. Empty: prose.
    row: str = ""
    read: str = ""

    @property
    def reading(self) -> str:
        """What the model reads and the answer shows: a table row with its header, else text."""
        return self.read or self.text


def citation(c: Candidate, number: int) -> Citation:
    """The citation of one candidate sentence: its exact span in its document."""
    page = c.hit.page_at(c.start)  # the sentence's own page: a chunk can span two
    ocr = c.hit.ocr_by_page.get(page) if page is not None else None
    return Citation(
        number=number,
        chunk_id=c.hit.chunk_id,
        doc_id=c.hit.doc_id,
        source=c.hit.source,
        start=c.start,
        end=c.end,
        quote=c.text,
        page=page,
        section=c.hit.section_at(c.start),  # the sentence's own heading: a chunk can span two
        ocr_confidence=ocr,
        low_confidence=low_ocr_confidence(ocr),
    )


# The attribution that ends a post embedded in an article, as news sites print a tweet:
# "... is ironclad. pic.twitter.com/x — Secretary of Defense Lloyd J. Austin III (@SecDef)
# February 9, 2022".
ATTRIBUTION = re.compile(
    r"(?:(?:pic\.twitter\.com/|https?://)\S*\s*)?\s[—–]\s*[^()\n]{2,100}\(@\w{1,30}\)"
    r"(?:\s*[A-Z][a-z]{2,8}\.? \d{1,2}, \d{4})?\s*$"
)
_POST_CHARS = 600  # a post longer than this is not one


def _posts(text: str, offset: int, spans: list[Span]) -> list[Span]:
    """The sentences of an embedded post, and its attribution, as one span: who wrote it, when,
    and what it says are one piece of evidence ("What did Austin say?"), where the sentences
    alone do not name him and the attribution alone says nothing. `spans` are sentences of
    `text`, their offsets shifted by `offset`."""
    out: list[Span] = []
    for span in spans:
        if out and ATTRIBUTION.search(span.text):
            first = len(out)  # the post's first sentence: earlier ones on the same line
            while (
                first > 0
                and "\n" not in text[out[first - 1].end - offset : span.start - offset]
                and span.end - out[first - 1].start <= _POST_CHARS
            ):
                first -= 1
            if first < len(out):
                start = out[first].start
                out[first:] = [Span(start, span.end, text[start - offset : span.end - offset])]
                continue
        out.append(span)
    return out


def candidates(hits: Sequence[SearchHit]) -> list[Candidate]:
    """Sentences of the hits, each once (overlapping chunks share sentences; an embedded post
    with its attribution is one); a chunk that holds an instruction to the assistant
    (instructions.py) gives none."""
    seen: set[tuple[str, int, int]] = set()
    out: list[Candidate] = []
    for hit in hits:
        skip = header_length(hit.text, hit.start, hit.end)  # a table header put before it
        spans = split_sentences(hit.text[skip:], offset=hit.start)
        if any(looks_like_instruction(span.text) for span in spans):
            continue  # text addressed to the assistant: none of its chunk is evidence
        spans = _posts(hit.text[skip:], hit.start, spans)
        pos = 0
        tables = find_tables(hit.text)
        for span in spans:
            local = span.start - hit.start + skip
            table = table_at(tables, local)
            if table is not None and local < table.body:
                continue  # a header row names the columns: each row is read with it
            row = read = ""
            if table is not None:
                row = labelled_row(table.header(hit.text), span.text)
                read = ". ".join(t for t in (_table_title(hit, table), row) if t)
            if len(_WORD.findall(read or span.text)) < 3 or _NOT_PROSE.match(span.text):
                continue  # headings, table rules, captions, stray markers: not answers
            key = (hit.doc_id, span.start, span.end)
            if key not in seen:
                seen.add(key)
                out.append(
                    Candidate(hit, span.start, span.end, span.text, pos=pos, row=row, read=read)
                )
            pos += 1
    return out


def _table_title(hit: SearchHit, table: TableSpan) -> str:
    """What a table is about: the heading it is under and the line above it in the chunk (its
    caption)."""
    above = hit.text[: table.start].rstrip().rsplit("\n", 1)[-1].strip()
    above = "" if above.startswith("|") or len(above) > 200 else above
    section = (hit.section or "").rsplit(" > ", 1)[-1]
    return ", ".join(dict.fromkeys(t for t in (section, above) if t))


def expected_type(question: str) -> str | None:
    q = question.lower().strip()
    if re.match(r"(how (many|much|long|old|far|big|large|often))|what (number|percent)", q):
        return "number"
    # "On what date", "In which year", "By when": the preposition asks the same thing.
    lead = r"((in|on|at|by|from|since|until|till|during|for|to|with) )?"
    if re.match(lead + r"(when|(what|which) (year|date|day|time|month|decade|century))\b", q):
        return "time"
    if re.match(lead + r"(who|whom|whose)\b", q):
        return "name"
    if re.match(r"where\b", q):
        return "name"
    if ASKS_SPEECH.search(q):  # "What did Austin say?": what someone said, not what they did
        return "speech"
    return None


def type_matches(kind: str | None, sentence: str, question: str) -> bool:
    if kind == "number":
        return bool(_NUMBER.search(sentence))
    if kind == "time":
        return bool(_TIME.search(sentence))
    if kind == "speech":
        return bool(SPEECH.search(sentence))
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
    for m in CAPITALISED.finditer(sentence):
        word = m.group()
        fresh = word.lower() not in asked and word.lower() not in TITLES and not word.isupper()
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


@dataclass
class Evidence:
    """What the model reads for one question: a feature row per candidate, and what the gate
    needs besides the candidates' probabilities."""

    rows: np.ndarray
    terms: QuestionTerms
    kind: str | None
    context: str  # the retrieved chunks' text, each once
    chunks: list[str]  # each candidate's chunk text

    def gate_x(self, probs: np.ndarray) -> np.ndarray:
        return gate_vector(self.terms, probs, self.rows, self.context, self.kind, self.chunks)


def featurize(
    question: str,
    cands: list[Candidate],
    embedder: Embedder,
    doc_freq: DocFreq,
    encoder: Embedder | None = None,
) -> Evidence:
    """Embed the question and the candidates and compute each candidate's features (in place:
    semantic, lexical, type_ok, novel, vec, features). Every feature reads a sentence's text
    as one line (join_lines: a PDF's or wrapped Markdown's line breaks as spaces, "manage-\nment"
    as "management"), so a wrapped file scores as its one-line text does; offsets and quotes
    stay the source's. The similarities come from `encoder` (the answer model's own, tuned to
    find answers: encoder.py) when there is one, else from the retrieval `embedder`; `vec` is
    kept only in the second case (citation alignment compares the embedder's vectors)."""
    texts = [plain_text(c.reading) for c in cands]
    vecs = (encoder or embedder).embed([question, *texts])
    sims = vecs[1:] @ vecs[0]
    terms = QuestionTerms.of(question, doc_freq)
    kind = expected_type(question)
    type_ok = [type_matches(kind, t, question) for t in texts]
    names = [len(new_names(t, question)) for t in texts]
    positions = [(c.pos, c.hit.chunk_id, c.start == 0) for c in cands]
    joined = {t: join_lines(t) for t in dict.fromkeys(c.hit.text for c in cands)}
    chunks = [joined[c.hit.text] for c in cands]
    rows, _ = sentence_matrix(
        question, terms, texts, sims, [c.hit.rank for c in cands],
        positions, kind, type_ok, names, chunks,
    )  # fmt: skip
    col = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    for i, (c, vec) in enumerate(zip(cands, vecs[1:], strict=True)):
        c.vec = vec if encoder is None else None
        c.semantic = float(np.clip(sims[i], 0.0, 1.0))
        c.lexical = float(rows[i, col["lex"]])
        c.type_ok = type_ok[i]
        # Echoing the question never answers it: a hard rule, whatever the model says. A
        # sentence that adds one word of its own may be the answer ("What is the goat named?"
        # "The goat is named Bramble."): only one that adds none, or restates, is an echo.
        c.novel = not (rows[i, col["new_terms"]] == 0 or rows[i, col["restates"]])
        c.features = rows[i]
    context = " ".join(joined.values())
    return Evidence(rows, terms, kind, context, chunks)


def apply_model(cands: list[Candidate], evidence: Evidence, probs: np.ndarray) -> np.ndarray:
    """Each candidate's score is its probability, 0 for one that echoes the question; returns
    the scores."""
    for c, p in zip(cands, probs, strict=True):
        c.score = float(p) if c.novel else 0.0
    return np.array([c.score for c in cands])


def score(
    question: str,
    cands: list[Candidate],
    embedder: Embedder,
    doc_freq: DocFreq,
    model: AnswerModel | None = None,
    encoder: Embedder | None = None,
) -> float:
    """Fill in each candidate's probability of answering the question (`score`, in place) and
    return the probability that the best of them answers it (the gate: refuse below the
    model's threshold). A candidate that restates the question, or adds no word of its own,
    scores 0 whatever the model says."""
    if not cands:
        return 0.0
    model = model or load_model()
    evidence = featurize(question, cands, embedder, doc_freq, encoder)
    scores = apply_model(cands, evidence, model.sentence.prob(evidence.rows))
    if absent_number(question, evidence.context) is not None:
        return 0.0
    return float(model.gate.prob(evidence.gate_x(scores))[0])
