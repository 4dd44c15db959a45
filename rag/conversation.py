"""One conversation, the same for every edge: a follow-up is rewritten into a standalone
question, the answer streams through `RagIndex.ask_stream`, and the turn is kept.

`rag chat`, the app and `/v1/chat/completions` all go through `Conversation.stream`; none of
them rewrites questions or words a refusal of its own.

    conversation = Conversation(index)
    for event in conversation.stream("What did Austin say?"):
        ...  # Rewritten, Retrieved, Delta, Checked, then the Answer
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .answer import Answer, Answerer, AskEvent
from .answer.speakers import spoken_by
from .answer.types import final_answer
from .chat import LLMRewriter, Rewriter, Turn, rewrite, rule_rewriter
from .errors import RagError
from .text.sentences import split_sentences

if TYPE_CHECKING:
    from .api import RagIndex

log = logging.getLogger(__name__)

SPEAKER_PASSAGES = 8  # passages read to tell whether a name speaks in the documents


@dataclass(frozen=True)
class Rewritten:
    """The question as asked and the standalone question searched for (equal for a first
    question or one that needs no history)."""

    question: str
    standalone: str


ConversationEvent = Rewritten | AskEvent


class Conversation:
    """The turns of one chat over an index, answered by `answerer` (default: the index's own).

    Follow-ups are rewritten by the answering model when it has one (the rules stand in when
    its rewrite does not look like one question, or it fails), else by the rules."""

    def __init__(
        self,
        index: RagIndex,
        *,
        answerer: Answerer | None = None,
        turns: list[Turn] | None = None,
        rewriter: Rewriter | None = None,
    ) -> None:
        self.index = index
        self.answerer = answerer
        self.turns: list[Turn] = turns if turns is not None else []
        self.rewriter = rewriter
        self._speakers: dict[str, bool] = {}

    @classmethod
    def from_questions(
        cls, index: RagIndex, earlier: Sequence[str], **kwargs: object
    ) -> Conversation:
        """A conversation whose earlier questions are known but not their answers (an OpenAI
        chat request carries the history itself): each is made standalone in turn."""
        conversation = cls(index, **kwargs)  # type: ignore[arg-type]
        previous: str | None = None
        for question in earlier:
            previous = rewrite(question, previous, conversation.speaks)
            conversation.turns.append(Turn(question, previous, None))
        return conversation

    def standalone(self, question: str) -> str:
        """The question to search for, given the turns so far."""
        if not self.turns:
            return question
        if self.rewriter is not None:
            return self.rewriter(question, self.turns)
        llm = getattr(self.answerer or self.index.answerer, "llm", None)
        if llm is None or any(t.answer is None for t in self.turns[-2:]):
            return rule_rewriter(question, self.turns, self.speaks)
        from .prompts import load_prompt

        try:
            prompt = load_prompt("rewrite", self.index.settings.prompts_dir)
            rewriter = LLMRewriter(llm, prompt, speaks=self.speaks)
            return rewriter(question, self.turns)
        except RagError as exc:  # the model failed: the rules still give a usable question
            log.warning("rewriting the follow-up with the model failed: %s", exc)
            return rule_rewriter(question, self.turns, self.speaks)

    def speaks(self, name: str) -> bool:
        """Whether the documents give `name`'s words ("Becker said ...", "..., said Thomas
        Becker"): then "And Becker?" after "What did Vogel say?" asks what Becker said. Read
        from the passages a keyword search for the name finds; remembered per name."""
        if name not in self._speakers:
            names = [name, name.split()[-1]]  # "Thomas Becker" is "Becker" once introduced
            self._speakers[name] = any(
                spoken_by(s.text, names)
                for hit in self.index.search(name, SPEAKER_PASSAGES, mode="keyword")
                for s in split_sentences(hit.text)
            )
        return self._speakers[name]

    def stream(
        self,
        question: str,
        k: int | None = None,
        *,
        mode: str | None = None,
        path: str | None = None,
        file_types: Sequence[str] | None = None,
    ) -> Iterator[ConversationEvent]:
        """Rewritten, then the events of `RagIndex.ask_stream`; the turn is kept once the
        Answer arrives."""
        standalone = self.standalone(question)
        yield Rewritten(question, standalone)
        for event in self.index.ask_stream(
            standalone, k, mode=mode, path=path, file_types=file_types, answerer=self.answerer
        ):
            if isinstance(event, Answer):
                self.record(question, standalone, event)
            yield event

    def ask(self, question: str, k: int | None = None, **filters: object) -> Answer:
        return final_answer(self.stream(question, k, **filters))  # type: ignore[arg-type]

    def record(self, question: str, standalone: str, answer: Answer) -> Turn:
        if standalone != question:
            answer.standalone_question = standalone
        turn = Turn(question, standalone, answer)
        self.turns.append(turn)
        return turn
