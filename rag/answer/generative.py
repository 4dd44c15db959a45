"""The generative answerer: a language model writes the answer, the code checks every sentence.

1. The retrieved sentences are scored as evidence by the learned model, exactly as the extractive
   answerer does; when its gate is below the calibrated threshold the answer is a refusal and the model is never called, so
   a weak model cannot invent an answer the documents do not hold.
2. The best evidence goes to the model as numbered sources (sentences from the retrieved chunks,
   grouped by chunk; instruction-like text is left out).
3. The reply streams back. Each finished sentence is aligned to the retrieved sentences
   (align.py): supported sentences get citations chosen by the code; unsupported ones are dropped,
   or shown flagged, as the `unsupported` setting says. The model's own [n] markers are checked
   against the code's choice and recorded, never used.
4. If the model writes nothing that the sources support, the extractive answer stands in and the
   Answer says so (`fallback`). A model that refuses although the evidence cleared the threshold
   is overruled the same way, unless `trust_refusal` is set: the small packaged models refuse
   answerable questions more often than they catch unanswerable ones (BENCHMARKS.md).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Literal

from ..documents import SearchHit
from ..embeddings import Embedder
from ..prompts import Completion, Messages, Prompt, PromptTemplate
from ..text.markup import plain_text
from ..text.sentences import split_sentences
from .align import Aligner, Alignment, is_refusal
from .evidence import Candidate, DocFreq, candidates, citation, score
from .extractive import ExtractiveAnswerer
from .llm import LLM
from .model import AnswerModel, load_model
from .short import short_answer
from .types import REFUSAL, Answer, AnswerSentence, Checked, Citation, Delta, StreamEvent

Unsupported = Literal["drop", "show"]


class GenerativeAnswerer:
    def __init__(
        self,
        name: str,
        llm: LLM,
        embedder: Embedder,
        doc_freq: DocFreq,
        prompt: PromptTemplate,
        *,
        threshold: float | None = None,
        support_threshold: float = 0.55,
        unsupported: Unsupported = "drop",
        evidence_sentences: int = 6,
        max_tokens: int = 96,
        max_sentences: int = 3,
        trust_refusal: bool = False,
        model: AnswerModel | None = None,
        encoder: Embedder | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.name = name
        self.trust_refusal = trust_refusal
        self.llm = llm
        self.embedder = embedder
        self.doc_freq = doc_freq
        self.prompt = prompt
        self.model = model or load_model()
        self.threshold = self.model.threshold if threshold is None else threshold
        self.support_threshold = support_threshold
        self.unsupported = unsupported
        self.evidence_sentences = evidence_sentences
        self.max_tokens = max_tokens
        self.extractive = ExtractiveAnswerer(
            embedder,
            doc_freq,
            threshold=threshold,
            max_sentences=max_sentences,
            model=self.model,
            encoder=encoder,
            cache_dir=cache_dir,
        )
        self.encoder = self.extractive.encoder

    def answer(self, question: str, hits: Sequence[SearchHit]) -> Answer:
        for event in self.stream(question, hits):
            if isinstance(event, Answer):
                return event
        raise AssertionError("stream ended without an Answer")

    def stream(self, question: str, hits: Sequence[SearchHit]) -> Iterator[StreamEvent]:
        t0 = time.perf_counter()
        cands = candidates(hits)
        # The same learned gate and evidence ranking as the extractive backend.
        best = score(question, cands, self.embedder, self.doc_freq, self.model, self.encoder)
        timings: dict[str, float] = {}
        if best < self.threshold or max((c.score for c in cands), default=0.0) <= 0.0:
            timings["answer"] = _ms(t0)
            refusal = Answer(
                question, REFUSAL, [], [], True, self.name, passages=list(hits),
                confidence=best, timings_ms=timings,
            )  # fmt: skip
            yield Delta(REFUSAL)
            yield refusal
            return

        sources = self.sources(cands)
        prompt = self.fit(question, sources)
        aligner = Aligner(self.embedder, cands, question, threshold=self.support_threshold)
        run = _Run(self, aligner, len(sources), sources)
        raw = ""
        pending = ""
        t_model = time.perf_counter()
        pieces = self.llm.stream(prompt, max_tokens=self.max_tokens)
        answer_pieces = _Answering(pieces)
        try:
            for piece in answer_pieces:
                if "first_token" not in timings:
                    timings["first_token"] = _ms(t0)
                raw += piece
                pending += piece
                yield Delta(piece)
                spans = split_sentences(pending)
                # A sentence is finished once the next one has started.
                while len(spans) > 1:
                    done = pending[: spans[1].start]
                    pending = pending[spans[1].start :]
                    yield from run.check(done)
                    spans = split_sentences(pending)
                if run.stop:
                    break
                if _looping(raw):
                    run.stop = True  # what is pending is the start of a repeat
                    break
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()  # stops the model when the reply is cut short
        # A reply cut off by the token limit ends in half a sentence: it is not checked or
        # shown (the pieces streamed are about one token each).
        cut = answer_pieces.seen >= self.max_tokens - 1
        if pending.strip() and not run.stop and not (cut and not _ENDS.search(pending)):
            yield from run.check(pending)
        timings["generate"] = _ms(t_model)
        yield run.finish(question, hits, raw, best, timings, t0)

    def sources(self, cands: list[Candidate]) -> list[tuple[SearchHit, list[Candidate]]]:
        """The best evidence sentences (never one that scored 0), grouped by chunk (best chunk
        first), in reading order."""
        # A sentence that scored 0 (one that only echoes the question) is not shown to the model.
        kept = [c for c in cands if c.score > 0]
        ranked = sorted(kept, key=lambda c: -c.score)[: self.evidence_sentences]
        groups: dict[int, tuple[SearchHit, list[Candidate]]] = {}
        for c in ranked:
            groups.setdefault(c.hit.chunk_id, (c.hit, []))[1].append(c)
        for _, group in groups.values():
            group.sort(key=lambda c: c.start)
        return list(groups.values())

    def fit(self, question: str, sources: list[tuple[SearchHit, list[Candidate]]]) -> Prompt:
        """The prompt, with sources dropped from the end until it fits the model's context."""
        budget = self.llm.context_tokens - self.max_tokens
        while True:
            prompt = self.prompt.render(
                self.llm.format, sources=_format_sources(sources), question=question
            )
            text = prompt.text if isinstance(prompt, Completion) else _chat_text(prompt)
            if len(sources) <= 1 or self.llm.count_tokens(text) <= budget:
                return prompt
            sources = sources[:-1]


class _Run:
    """The state of one streamed answer: kept sentences, citations by span, what was dropped."""

    def __init__(
        self,
        owner: GenerativeAnswerer,
        aligner: Aligner,
        n_sources: int,
        sources: list[tuple[SearchHit, list[Candidate]]],
    ) -> None:
        self.owner = owner
        self.aligner = aligner
        self.source_chunks = {i + 1: hit.chunk_id for i, (hit, _) in enumerate(sources)}
        self.citations: dict[tuple[int, int, int], Citation] = {}
        self.sentences: list[AnswerSentence] = []
        self.dropped: list[AnswerSentence] = []
        self.seen: set[str] = set()
        self.refused = False
        self.stop = False
        best = max((c.score for _, group in sources for c in group), default=0.0)
        self.relevant = owner.model.keep_ratio * best

    def check(self, piece: str) -> Iterator[Checked]:
        for span in split_sentences(piece):
            if self.stop:
                return
            if is_refusal(span.text):
                # A refusal after supported sentences ends the answer; alone, it is the answer.
                self.refused = not self.sentences
                self.stop = True
                return
            a = self.aligner.align(span.text)
            if a.supported and not any(c.score >= self.relevant for c in a.spans):
                # True to the sources, but not to the question: every span it rests on scores
                # below what the extractive answer would add as a runner-up (keep_ratio of the
                # best), e.g. a sentence about another minister's call.
                a.supported, a.reason = False, "rests on evidence that does not answer the question"
            key = " ".join(re.findall(r"\w+", a.text.lower()))
            if not a.text or key in self.seen:
                self.stop = bool(a.text)  # a repeated sentence: the model is looping
                continue
            self.seen.add(key)
            yield self.record(a)

    def record(self, a: Alignment) -> Checked:
        cited = [self.cite(c) for c in a.spans] if a.supported else []
        confirmed = None
        if a.markers:
            chunks = {self.source_chunks.get(m) for m in a.markers}
            confirmed = a.supported and any(c.chunk_id in chunks for c in cited)
        sentence = AnswerSentence(
            plain_text(a.text),  # the model's Markdown, as text
            [c.number for c in cited],
            a.supported,
            a.support,
            model_markers=a.markers,
            markers_confirmed=confirmed,
            reason=a.reason,
        )
        kept = a.supported or self.owner.unsupported == "show"
        (self.sentences if kept else self.dropped).append(sentence)
        if not a.supported:
            sentence.citations = []
        return Checked(sentence, cited, kept)

    def cite(self, c: Candidate) -> Citation:
        key = (c.hit.chunk_id, c.start, c.end)
        if key not in self.citations:
            self.citations[key] = citation(c, len(self.citations) + 1)
        return self.citations[key]

    def finish(
        self,
        question: str,
        hits: Sequence[SearchHit],
        raw: str,
        best: float,
        timings: dict[str, float],
        t0: float,
    ) -> Answer:
        owner = self.owner
        supported = [s for s in self.sentences if s.supported]
        if self.refused or not supported:
            if self.refused and owner.trust_refusal:
                answer = Answer(
                    question, REFUSAL, [], [], True, owner.name, passages=list(hits),
                    confidence=best,
                )  # fmt: skip
            else:
                # Nothing the model wrote is backed by the sources, or it refused although the
                # evidence cleared the threshold: the extractive answer stands in.
                answer = owner.extractive.answer(question, hits)
                answer.backend = owner.name
                answer.fallback = "extractive"
            answer.dropped = self.dropped + [s for s in self.sentences if not s.supported]
            answer.model_text = raw
            answer.timings_ms = {**timings, "answer": _ms(t0)}
            return answer
        return Answer(
            question,
            " ".join(s.text for s in self.sentences),
            self.sentences,
            list(self.citations.values()),
            False,
            owner.name,
            passages=list(hits),
            confidence=best,
            timings_ms={**timings, "answer": _ms(t0)},
            dropped=self.dropped,
            model_text=raw,
            short_answer=short_answer(question, list(self.citations.values())),
        )


_ENDS = re.compile(r"""[.!?…]["'”’)\]]*(\s*\[[^\]]*\])*\s*$""")


class _Answering:
    """The pieces of a reply without a reasoning model's "<think> ... </think>" preamble: its
    thinking is not its answer, and is neither shown nor checked (it quotes the sources, so the
    answer after it read as a repeat). `seen` counts every piece, thinking included."""

    _OPEN, _CLOSE = "<think>", "</think>"

    def __init__(self, pieces: Iterable[str]) -> None:
        self.pieces = pieces
        self.seen = 0

    def __iter__(self) -> Iterator[str]:
        buf, state = "", "start"
        for piece in self.pieces:
            self.seen += 1
            if state == "answer":
                yield piece
                continue
            buf += piece
            if state == "start":
                head = buf.lstrip()
                if self._OPEN.startswith(head):
                    continue  # nothing yet, or the start of the tag
                if not head.startswith(self._OPEN):
                    state = "answer"
                    yield buf
                    continue
                state = "thinking"
            end = buf.find(self._CLOSE)
            if end >= 0:
                state = "answer"
                rest = buf[end + len(self._CLOSE) :].lstrip()
                if rest:
                    yield rest
        if state == "start" and buf.strip():
            yield buf  # a reply shorter than the tag


def _looping(raw: str, n: int = 12, longest: int = 60) -> bool:
    """The reply ends in a stretch that repeats the one just before it, over at least n words:
    a small model looping ("the one who issued the release is the one who issued the release
    ...", or one sentence again and again). Words merely written before do not count: a second
    sentence may open as the first did ("Mattis told his counterpart that ... . Mattis told his
    counterpart that ..."), and was cut off when they did."""
    words = raw.split()
    for period in range(1, min(longest, len(words) // 2) + 1):
        span = max(2 * period, n)
        if len(words) >= span and words[-span + period :] == words[-span:-period]:
            return True
    return False


def _format_sources(sources: list[tuple[SearchHit, list[Candidate]]]) -> str:
    # Text only: small models copy file names and locations into their answers.
    return "\n".join(
        f"[{i}] {' '.join(c.text for c in group)}" for i, (_, group) in enumerate(sources, 1)
    )


def _chat_text(prompt: Messages) -> str:
    return prompt.system + "\n" + prompt.user


def _ms(t0: float) -> float:
    return round((time.perf_counter() - t0) * 1000, 1)
