"""The extractive answerer: the answer is made of retrieved sentences, so it is faithful by
construction; each sentence cites its own span. Deterministic and fast, needs no language model."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from ..documents import SearchHit
from ..embeddings import Embedder
from ..text.markup import plain_text
from .encoder import encoder_of
from .evidence import (
    CAPITALISED,
    SPEECH,
    TITLES,
    Candidate,
    DocFreq,
    candidates,
    citation,
    content_terms,
    new_names,
    score,
)
from .model import AnswerModel, load_model
from .short import short_answer
from .speakers import (
    another_namesake,
    asked_speakers,
    asks_their_words,
    names_outside_quotes,
    on_topic,
    quoted_speakers,
    speech_topic,
    spoken_by,
    spoken_by_another,
    unquoted,
)
from .types import REFUSAL, Answer, AnswerSentence, Checked, Citation, Delta, StreamEvent


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(
        self,
        embedder: Embedder,
        doc_freq: DocFreq,
        *,
        threshold: float | None = None,
        max_sentences: int = 3,
        keep_ratio: float | None = None,
        model: AnswerModel | None = None,
        encoder: Embedder | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.embedder = embedder
        self.doc_freq = doc_freq
        self.model = model or load_model()
        # The model's own similarity encoder (encoder.py), loaded on the first question.
        self.encoder = encoder or encoder_of(self.model, cache_dir)
        # Both default to what the model file records, measured when it was trained (EVAL.md).
        self.threshold = self.model.threshold if threshold is None else threshold
        self.max_sentences = max_sentences
        self.keep_ratio = self.model.keep_ratio if keep_ratio is None else keep_ratio

    def answer(self, question: str, hits: Sequence[SearchHit]) -> Answer:
        t0 = time.perf_counter()
        cands = candidates(hits)
        best = score(question, cands, self.embedder, self.doc_freq, self.model, self.encoder)
        chosen = self.select(question, cands, best)
        ms = {"answer": round((time.perf_counter() - t0) * 1000, 1)}
        if not chosen:
            return Answer(
                question,
                REFUSAL,
                [],
                [],
                True,
                self.name,
                passages=list(hits),
                confidence=best,
                timings_ms=ms,
            )
        citations: list[Citation] = []
        sentences: list[AnswerSentence] = []
        for c in chosen:
            cit = citation(c, len(citations) + 1)
            citations.append(cit)
            sentences.append(
                AnswerSentence(c.row or plain_text(c.text), [cit.number], True, round(c.score, 4))
            )
        by_score = sorted(zip(chosen, citations, strict=True), key=lambda p: -p[0].score)
        return Answer(
            question,
            " ".join(s.text for s in sentences),
            sentences,
            citations,
            False,
            self.name,
            passages=list(hits),
            confidence=best,
            timings_ms=ms,
            short_answer=short_answer(question, [cit for _, cit in by_score]),
        )

    def stream(self, question: str, hits: Sequence[SearchHit]) -> Iterator[StreamEvent]:
        """The same events as the generative backends: each sentence as Delta and Checked (its
        citations known from the start), then the Answer."""
        answer = self.answer(question, hits)
        if answer.refused:
            yield Delta(answer.text)
        by_number = {c.number: c for c in answer.citations}
        for s in answer.sentences:
            yield Delta(s.text + " ")
            yield Checked(s, [by_number[n] for n in s.citations], True)
        yield answer

    def select(self, question: str, cands: list[Candidate], gate: float) -> list[Candidate]:
        """The best sentence if the gate says the evidence answers the question, plus close
        runners-up from its document that cover a question word not yet covered. A question in
        several parts ("which ..., and which ...", "each") may take one sentence more, and one
        that adds a new name or document."""
        ranked = sorted(cands, key=lambda c: -c.score)
        speakers = asked_speakers(question)
        if speakers:
            # "What did Smits say?": a sentence giving somebody else's words is no answer.
            ranked = [c for c in ranked if not _words_of_another(cands, c, speakers)]
            # "What did Lindgren say about cold storage?": her words on the harvest are no
            # answer. A sentence speaks of the topic, or the one before it in its passage
            # does ("On storage, Lindgren was blunt. 'It will ruin us,' she said."), unless
            # that one gives somebody else's words.
            topic = speech_topic(question, speakers)
            # And it is theirs: it names them, or goes on from a sentence that does ("...,"
            # she said.): Okafor's plan is no answer to what Vasquez said about the rail line.
            if topic:
                ranked = [
                    c
                    for c in ranked
                    if _speaks_of(cands, c, topic, speakers) and _theirs(cands, c, speakers)
                ]
            # Their own words, where the passages give any ("'I did my job,' Mackay said."),
            # answer before sentences that only name them ("Fiona Mackay, 44, worked ..."),
            # however much closer to the question those read.
            if asks_their_words(question):
                own = [c for c in ranked if c.score > 0 and _own_words(c, speakers)]
                ranked = own + [c for c in ranked if c not in own]
        if not ranked or gate < self.threshold or ranked[0].score <= 0.0:
            return []
        multi = bool(_MULTI_PART.search(question))
        limit = self.max_sentences + (1 if multi else 0)
        # The threshold decides whether to answer at all; runners-up are judged against the best.
        floor = self.keep_ratio * ranked[0].score
        best = ranked[0]
        chosen = [best]
        covered = set(content_terms(best.reading))
        names = new_names(best.reading, question)
        docs = {best.hit.doc_id}
        wanted = set(content_terms(question))
        # "What did Austin say?": the runners-up that give his own words (a post he signed,
        # "Austin said ...") come before those that only mention him, from any document.
        said = [
            c
            for c in ranked[1:]
            if speakers and c.score >= floor and spoken_by(plain_text(c.reading), speakers)
        ]
        for c in said + [c for c in ranked[1:] if c not in said]:
            if len(chosen) >= limit or c.score < floor:
                break
            terms = set(content_terms(c.reading))
            found = new_names(c.reading, question)
            adds = bool((terms & wanted) - covered) or c in said
            if multi:  # each part may be answered by another name, in another document
                adds = adds or bool(found - names) or c.hit.doc_id not in docs
            elif c.hit.doc_id != best.hit.doc_id and c not in said:
                continue  # a one-part question is answered in one place
            if adds or len(wanted) <= 1:
                chosen.append(c)
                covered |= terms
                names |= found
                docs.add(c.hit.doc_id)
        if said or any(spoken_by(plain_text(c.reading), speakers) for c in chosen[:1]):
            # Their own words are found: a sentence that only mentions them ("... defeating
            # challenger Ruben Smits.") is not what they said; one about them stays ("Mayor Ana
            # Ruiz on Monday discussed ...": they are its subject, named in its first words).
            chosen = [
                c
                for c in chosen
                if SPEECH.search(plain_text(c.reading)) or _opens_with(c, speakers)
            ] or chosen
        # A sentence that opens with a pronoun ("She is known for her role as Raquel") does not
        # say whom it is about: the sentence before it in its passage usually does, and comes too.
        # Likewise one whose subject is a surname alone ("Flynn was cast as a judge ..."): the
        # passage's sentence that gave the whole name ("James P. Flynn ...") comes too.
        for c in list(chosen):
            text = plain_text(c.reading)
            if _PRONOUN_LED.match(text):
                prev = _antecedent(cands, c, question)
            else:
                prev = _introduction(cands, c)
            if prev is not None and prev not in chosen:
                chosen.append(prev)
        # "What did Visser say?": "... Marloes Visser was less forgiving." is followed by what
        # she said ("She said the city had ignored warnings ..."), which comes too.
        if speakers:
            for c in list(chosen):
                nxt = _next(cands, c)
                if nxt is not None and nxt not in chosen and _says_more(nxt, c, speakers):
                    chosen.append(nxt)
                # '"I did my job," Mackay said. "I hope other engineers see ..."': a bare
                # quotation after their words goes on with them.
                if nxt is not None and nxt not in chosen and _goes_on(nxt, c, speakers):
                    chosen.append(nxt)
        # A quotation that runs on past the chosen sentence ("“Mattis assured minister Song
        # that ... ROK. He emphasised ...,” White said.") comes whole: cut at the sentence end,
        # it would show a quote without saying whose it is. Likewise one that began before it
        # ("“A bridge lasts a hundred years. A delay ... forgotten,” de Groot said.").
        for c in list(chosen):
            for after in (True, False):
                chosen += [n for n in _quote_run(cands, c, after=after) if n not in chosen]
        order = {h: i for i, h in enumerate(dict.fromkeys(c.hit.doc_id for c in chosen))}
        # The same sentence in several files (copies, a press release in two folders) is said
        # once, from the best one's document: repeated, it read as three findings.
        seen: set[str] = set()
        out = []
        for c in sorted(chosen, key=lambda c: (order[c.hit.doc_id], c.start)):
            key = " ".join(plain_text(c.reading).lower().split())
            if key not in seen:
                seen.add(key)
                out.append(c)
        return out


def _earlier(cands: list[Candidate], c: Candidate) -> list[Candidate]:
    """The sentences before `c` in its retrieved passage that could stand in an answer."""
    return [
        p
        for p in cands
        if p.hit.chunk_id == c.hit.chunk_id and p.end <= c.start and not p.row and p.score > 0
    ]


def _quote_run(cands: list[Candidate], c: Candidate, *, after: bool) -> list[Candidate]:
    """The sentences of `c`'s passage that complete a quotation it leaves open: after it, up to
    the one that closes a quotation `c` opens; before it, back to the one that opens a
    quotation `c` closes. None when that end is not within two sentences (or the passage ends
    first)."""
    leaves_open, completes = (
        (_opens_quote, _closes_quote) if after else (_closes_quote, _opens_quote)
    )
    if not leaves_open(plain_text(c.reading)):
        return []
    out: list[Candidate] = []
    for n in _neighbours(cands, c, after=after)[:_QUOTE_RUN]:
        out.append(n)
        if completes(plain_text(n.reading)):
            return out
    return []


def _neighbours(cands: list[Candidate], c: Candidate, *, after: bool) -> list[Candidate]:
    """The sentences of `c`'s passage after it (nearest first), or before it (nearest first)."""
    same = [n for n in cands if n.hit.chunk_id == c.hit.chunk_id and not n.row]
    if after:
        return sorted((n for n in same if n.start >= c.end), key=lambda n: n.start)
    return sorted((n for n in same if n.end <= c.start), key=lambda n: -n.end)


def _speaks_of(cands: list[Candidate], c: Candidate, topic: set[str], speakers: list[str]) -> bool:
    if on_topic(plain_text(c.reading), topic):
        return True
    if not SPEECH.search(plain_text(c.reading)):
        return False  # "Vasquez did not attend." after a sentence on the rail line says nothing
    before = _neighbours(cands, c, after=False)[:1]
    return any(
        on_topic(plain_text(p.reading), topic) and not _words_of_another(cands, p, speakers)
        for p in before
    )


def _words_of_another(cands: list[Candidate], c: Candidate, speakers: list[str]) -> bool:
    """Whether `c` gives the words of someone other than `speakers`: it says whose they are
    ("'...,' Kessler told supporters."), or it is a bare quotation that goes on from the
    sentence before it, which does ("... said Willem Bakker. 'Shifts will start at five.'")."""
    text = plain_text(c.reading)
    if spoken_by_another(text, speakers):
        return True
    if not _bare_quote(text) or names_outside_quotes(text, speakers):
        return False
    prev = next(iter(_neighbours(cands, c, after=False)), None)
    return prev is not None and spoken_by_another(plain_text(prev.reading), speakers)


def _opens_with(c: Candidate, names: list[str]) -> bool:
    """Whether one of `names` is among the sentence's first six words (most likely its
    subject)."""
    opening = " ".join(plain_text(c.reading).split()[:6])
    return any(re.search(rf"\b{re.escape(n)}\b", opening) for n in names)


def _next(cands: list[Candidate], c: Candidate) -> Candidate | None:
    return next(iter(_neighbours(cands, c, after=True)), None)


def _says_more(nxt: Candidate, c: Candidate, speakers: list[str]) -> bool:
    """Whether `nxt`, the sentence after `c`, gives more words of the person `c` names or
    quotes: it opens with a pronoun that says something ("She said ...")."""
    text = plain_text(nxt.reading)
    first = plain_text(c.reading)
    names_them = any(re.search(rf"\b{re.escape(n)}\b", first) for n in speakers)
    pronoun = _PRONOUN_LED.match(text)
    return bool(names_them and pronoun and spoken_by(text, [pronoun.group(1)]))


def _theirs(cands: list[Candidate], c: Candidate, speakers: list[str]) -> bool:
    """Whether `c` names one of `speakers` outside its quotation, or names nobody (a pronoun,
    a bare quotation, "the statement said") and goes on from sentences before it that name
    nobody either, back to one that names them (at most `_QUOTE_RUN` back)."""
    for n in [c, *_neighbours(cands, c, after=False)[:_QUOTE_RUN]]:
        text = plain_text(n.reading)
        if names_outside_quotes(text, speakers):
            return True
        if quoted_speakers(text) or new_names(unquoted(text), ""):
            return False  # somebody else's words, or a sentence about somebody else
    return False


def _bare_quote(text: str) -> bool:
    """A quotation that opens the sentence and says whose it is nowhere in it."""
    marks = _quote_marks(text)
    return (
        bool(marks)
        and marks[0] == "open"
        and text.lstrip()[:1] in '“"'
        and not quoted_speakers(text)
    )


def _own_words(c: Candidate, speakers: list[str]) -> bool:
    text = plain_text(c.reading)
    return spoken_by(text, speakers) and not another_namesake(text, speakers)


def _goes_on(nxt: Candidate, c: Candidate, speakers: list[str]) -> bool:
    """Whether `nxt` is a quotation that says whose it is nowhere, right after `c`, which
    gives the words of one of `speakers`: the same person going on."""
    return _bare_quote(plain_text(nxt.reading)) and spoken_by(plain_text(c.reading), speakers)


def _opens_quote(text: str) -> bool:
    """The text's last quotation mark opens a quotation: it runs on past the text."""
    marks = _quote_marks(text)
    return bool(marks) and marks[-1] == "open"


def _closes_quote(text: str) -> bool:
    """The text's first quotation mark closes a quotation that began before the text."""
    marks = _quote_marks(text)
    return bool(marks) and marks[0] == "close"


def _quote_marks(text: str) -> list[str]:
    """'open' or 'close' for each double quotation mark: curly ones say which they are; a
    straight one opens before a word ('"A bridge') and closes after one ('forgotten," he').
    One with a space or nothing on both sides says neither and is left out."""
    out = []
    for m in re.finditer(r'[“”"]', text):
        mark = m.group()
        if mark != '"':
            out.append("open" if mark == "“" else "close")
            continue
        before = text[m.start() - 1] if m.start() else " "
        after = text[m.end()] if m.end() < len(text) else " "
        if (
            not before.isspace()
            and before not in "([{"
            and (after.isspace() or after in ".,;:!?)]}")
        ):
            out.append("close")
        elif (before.isspace() or before in "([{") and not after.isspace():
            out.append("open")
    return out


_QUOTE_RUN = 2  # sentences a quotation may run on past the chosen one


def _antecedent(cands: list[Candidate], c: Candidate, question: str) -> Candidate | None:
    """The sentence before `c` in its passage that says whom its pronoun means. For he or she:
    of the three before it, the nearest naming someone the question names, else the nearest
    naming anyone, else the one just before ("Operating margin was 9 percent. She warned ..."
    names nobody). For it or they, which mostly mean a thing: the one just before."""
    earlier = sorted(_earlier(cands, c), key=lambda p: -p.end)[:3]
    pronoun = _PRONOUN_LED.match(plain_text(c.reading))
    if pronoun is None or pronoun.group(1).lower() not in ("he", "she", "his", "her"):
        return earlier[0] if earlier else None
    asked = [w for w in CAPITALISED.findall(question)[1:] if w.lower() not in TITLES]
    for p in earlier:
        if any(re.search(rf"\b{re.escape(w)}\b", plain_text(p.reading)) for w in asked):
            return p
    for p in earlier:
        words = CAPITALISED.findall(plain_text(p.reading))[1:]
        if any(w.lower() not in TITLES and w.lower() not in _NOT_SURNAME for w in words):
            return p
    return earlier[0] if earlier else None


def _introduction(cands: list[Candidate], c: Candidate) -> Candidate | None:
    """For a sentence whose subject is one capitalised word (a surname), the first earlier
    sentence of its passage that writes it as part of a longer name; else None."""
    text = plain_text(c.reading)
    m = _SUBJECT.match(text)
    if not m or m.group("word").lower() in _NOT_SURNAME:
        return None
    name = re.compile(r"\b([A-Z][\w.'’-]*)\s+" + re.escape(m.group("word")) + r"\b")

    def names_in_full(t: str) -> bool:  # "James P. Flynn", not "In Flynn" nor "The Flynn"
        return any(x.group(1).lower() not in _NOT_SURNAME for x in name.finditer(t))

    if names_in_full(text):
        return None  # the sentence names it in full itself
    named = [p for p in _earlier(cands, c) if names_in_full(plain_text(p.reading))]
    return min(named, key=lambda p: p.start, default=None)


# A subject at the start, after at most a short opening phrase and its comma ("In 1997, Flynn").
_SUBJECT = re.compile(r"(?:[^,.;:]{0,40},\s+)?[\"'“‘(]*(?P<word>[A-Z][a-z][\w'’-]*)\s+[a-z]")
# Capitalised words that open sentences without naming anyone.
_NOT_SURNAME = frozenset([
    "the", "a", "an", "in", "on", "at", "by", "for", "from", "with", "as", "after", "before",
    "during", "since", "this", "that", "these", "those", "there", "here", "it", "its", "he",
    "she", "they", "his", "her", "their", "we", "our", "i", "you", "when", "while", "although",
    "though", "if", "but", "and", "or", "so", "yet", "however", "also", "then", "thus", "today",
    "some", "many", "most", "all", "each", "both", "one", "two",
])  # fmt: skip

_PRONOUN_LED = re.compile(r"[\"'“‘(]*(he|she|it|they|his|her|its|their)\b", re.IGNORECASE)


_MULTI_PART = re.compile(
    r"\b(each|both|every)\b|,\s*and\b|\band (which|who|what|how|when|where)\b", re.IGNORECASE
)
