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
    SPEECH,
    Candidate,
    DocFreq,
    candidates,
    citation,
    content_terms,
    new_names,
    score,
)
from .model import AnswerModel, load_model
from .passage import (
    PRONOUN_LED,
    antecedent,
    goes_on,
    introduction,
    next_sentence,
    opens_with,
    own_words,
    quote_run,
    says_more,
    speaks_of,
    theirs,
    words_of_another,
)
from .short import short_answer
from .speakers import (
    asked_speakers,
    asks_their_words,
    speech_topic,
    spoken_by,
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
            ranked = [c for c in ranked if not words_of_another(cands, c, speakers)]
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
                    if speaks_of(cands, c, topic, speakers) and theirs(cands, c, speakers)
                ]
            # Their own words, where the passages give any ("'I did my job,' Mackay said."),
            # answer before sentences that only name them ("Fiona Mackay, 44, worked ..."),
            # however much closer to the question those read.
            if asks_their_words(question):
                own = [c for c in ranked if c.score > 0 and own_words(c, speakers)]
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
                c for c in chosen if SPEECH.search(plain_text(c.reading)) or opens_with(c, speakers)
            ] or chosen
        # A sentence that opens with a pronoun ("She is known for her role as Raquel") does not
        # say whom it is about: the sentence before it in its passage usually does, and comes too.
        # Likewise one whose subject is a surname alone ("Flynn was cast as a judge ..."): the
        # passage's sentence that gave the whole name ("James P. Flynn ...") comes too.
        for c in list(chosen):
            text = plain_text(c.reading)
            if PRONOUN_LED.match(text):
                prev = antecedent(cands, c, question)
            else:
                prev = introduction(cands, c)
            if prev is not None and prev not in chosen:
                chosen.append(prev)
        # "What did Visser say?": "... Marloes Visser was less forgiving." is followed by what
        # she said ("She said the city had ignored warnings ..."), which comes too.
        if speakers:
            for c in list(chosen):
                nxt = next_sentence(cands, c)
                if nxt is not None and nxt not in chosen and says_more(nxt, c, speakers):
                    chosen.append(nxt)
                # '"I did my job," Mackay said. "I hope other engineers see ..."': a bare
                # quotation after their words goes on with them.
                if nxt is not None and nxt not in chosen and goes_on(nxt, c, speakers):
                    chosen.append(nxt)
        # A quotation that runs on past the chosen sentence ("“Mattis assured minister Song
        # that ... ROK. He emphasised ...,” White said.") comes whole: cut at the sentence end,
        # it would show a quote without saying whose it is. Likewise one that began before it
        # ("“A bridge lasts a hundred years. A delay ... forgotten,” de Groot said.").
        for c in list(chosen):
            for after in (True, False):
                chosen += [n for n in quote_run(cands, c, after=after) if n not in chosen]
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


_MULTI_PART = re.compile(
    r"\b(each|both|every)\b|,\s*and\b|\band (which|who|what|how|when|where)\b", re.IGNORECASE
)
