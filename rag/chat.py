"""Follow-up questions rewritten into standalone ones before retrieval (rag/conversation.py
uses these for every edge).

Without a language model the rewrite carries the previous turn's names into the new question:
"What did Austin say?" then "What did he say about Japan?" searches for "What did Austin say
about Japan?". The rewritten question is kept with each turn so a person can see what was used.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .answer import Answer
from .answer.align import is_refusal
from .answer.llm import LLM
from .prompts import PromptTemplate

_PERSONAL = {"he", "she", "him", "her", "his", "hers", "they", "them", "their", "theirs"}
_THINGS = {"it", "its", "this", "that", "these", "those"}
_PRONOUN = re.compile(r"\b(" + "|".join(sorted(_PERSONAL | _THINGS)) + r")\b", re.IGNORECASE)
_FOLLOW_UP = re.compile(r"^\s*(and|also|what about|how about|and what about)\b", re.IGNORECASE)
_NAME = re.compile(r"\b[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)*")
_NOT_NAMES = {
    "what",
    "who",
    "whom",
    "which",
    "when",
    "where",
    "why",
    "how",
    "did",
    "does",
    "do",
    "is",
    "are",
    "was",
    "were",
    "the",
    "a",
    "an",
    "i",
    "and",
    "also",
    "in",
    "on",
    # auxiliaries and requests that open a question ("Can I cancel Tidepool?")
    "can",
    "could",
    "should",
    "would",
    "will",
    "shall",
    "may",
    "might",
    "must",
    "has",
    "have",
    "had",
    "please",
    "tell",
    "show",
    "give",
    "list",
    "name",
    "explain",
    "describe",
}
# A question that opens like one ("Who is Smits?") asks its own question, however short.
_ASKS = re.compile(
    r"^\s*(what|who|whom|whose|which|when|where|why|how|is|are|was|were|do|does|did|can|could|"
    r"should|would|will|has|have|had)\b(?!\s+about\b)",
    re.IGNORECASE,
)


def names_in(text: str) -> list[str]:
    """Capitalised names in a question ('Lloyd Austin', 'Japan'), question words left out."""
    out: list[str] = []
    for m in _NAME.finditer(text):
        words = [w for w in m.group().split() if w.lower().strip(".") not in _NOT_NAMES]
        name = " ".join(words).strip(" .?!,")
        if name and name not in out:
            out.append(name)
    return out


Speaks = Callable[[str], bool]


def rewrite(question: str, previous: str | None, speaks: Speaks | None = None) -> str:
    """A standalone version of `question`, given the previous standalone question.

    "And X?" after a question about someone's words asks what X said when X speaks in the
    documents (`speaks`, which the conversation answers from its index), else what the same
    person said about X. After any other question naming someone or something, "And X?" asks
    the same of X ("Where was Becker born?", "And Vogel?" -> "Where was Vogel born?")."""
    if not previous:
        return question
    bare = _BARE_WH.match(question)
    if bare:  # "Why?", "How so?", "When?": the previous question, asked that way
        so = re.search(r"\bso\b", question, re.IGNORECASE)  # "How so?" asks why
        return _ask_again(previous, "why" if so else bare.group(1))
    rest = _FOLLOW_UP.sub("", question).strip(" ?")
    brief = len(question.split()) <= 4 and len(rest) <= _SHORT_CHARS and not _WH_WORD.search(rest)
    if (_FOLLOW_UP.match(question) or brief) and _TIME.match(rest):
        # "And in 2020?", "What about last year?": the previous question, at that time
        return f"{_TIME_TAIL.sub('', previous.rstrip(' ?'))} {rest}?"
    carried = [n for n in names_in(previous) if n.lower() not in question.lower()]
    if not carried:
        return question
    subject = carried[0]
    if _PRONOUN.search(question):

        def swap(m: re.Match[str]) -> str:
            word = m.group().lower()
            if word in {"his", "her", "hers", "their", "theirs", "its"}:
                return subject + "'s"
            if word in {"this", "that", "these", "those"}:
                return m.group()  # demonstratives usually point at a noun that follows
            return subject

        return _PRONOUN.sub(swap, question, count=1)
    cue = _FOLLOW_UP.match(question)
    short = len(question.split()) <= 3 and not _ASKS.match(question)
    if (cue or short) and len(rest.split()) <= 3 and len(rest) <= _SHORT_CHARS:
        # "And Taiwan?", "What about Kishi?": the previous question, about something else; if
        # it was already about something ("... say about Japan?"), about this instead.
        about = re.match(r"about\s+", rest, flags=re.IGNORECASE)
        rest = rest[about.end() :] if about else rest
        if not rest:
            return previous
        named = names_in(rest) == [rest]  # "Thomas Becker", "Japan"; not "the harbour"
        if named and not about and not _speech(previous):
            # The same question of another name; of several, the one of the same kind
            # (someone who speaks in the documents, or not), else the last: "When did Austin
            # visit Japan?", "And Korea?" -> "When did Austin visit Korea?".
            kind = [n for n in carried if speaks is None or speaks(n) == speaks(rest)]
            return _put(previous, (kind or carried)[-1], rest)
        if named and not about and speaks is not None and speaks(rest):
            return _put(previous, subject, rest)  # "And Becker?": what Becker said
        base = re.sub(r"\s+about\s+[^?]{1,60}\?*\s*$", "", previous).rstrip(" ?")
        return f"{base} about {rest}?"
    return question


# A follow-up's words after "And"/"What about" that still read as a name or a time: 2,500
# characters of "xxxx" is a question of its own, not the last one asked of it.
_SHORT_CHARS = 60

_SPEECH = re.compile(
    r"\b(say|says|said|tell|told|think|thinks|thought|write|wrote|claim|claimed|warn|warned|"
    r"promise|promised|announce|announced|argue|argued|comment|commented|mean|meant)\b",
    re.IGNORECASE,
)


_BARE_WH = re.compile(
    r"^\s*(why|how|when|where|who)(?:\s+(?:not|so|exactly|then))?\s*\?*\s*$", re.I
)
_WH_AUX = re.compile(
    r"^\s*(?:what|who|whom|which|when|where|why|how)\s+(?=(?:did|does|do|is|are|was|were|has|"
    r"have|had|will|would|can|could)\b)",
    re.IGNORECASE,
)
_AUX = re.compile(r"^\s*(?:did|does|do|is|are|was|were|has|have|had|will|would|can|could)\b", re.I)
_PERIOD = (
    r"(?:(?:in|during|for|since|before|after|by|on|from|until)\s+\S.*|(?:last|next|this|"
    r"previous|the\s+(?:previous|following))\s+(?:year|month|week|quarter|season|term)\b.*|"
    r"(?:1[5-9]|20)\d\d\b.*)"
)
_TIME = re.compile(_PERIOD + r"$", re.IGNORECASE)
_WH_WORD = re.compile(r"\b(?:what|who|whom|whose|which|when|where|why|how)\b", re.IGNORECASE)
# What the previous question already said of its time: replaced by the follow-up's.
_TIME_TAIL = re.compile(
    r"\s+(?:(?:in|during|for|since|before|after|by|on|from|until)\s+)?(?:(?:1[5-9]|20)\d\d|"
    r"(?:last|next|this|previous)\s+(?:year|month|week|quarter|season|term))\b[^?]*$",
    re.IGNORECASE,
)


def _ask_again(previous: str, wh: str) -> str:
    """The previous question asked with `wh` instead ("What did Reardon say about the flood?",
    "Why?" -> "Why did Reardon say about the flood?"); one that opens otherwise keeps all its
    words after the new question word ("Why: How many votes did Chen get?")."""
    wh = wh.capitalize()
    m = _WH_AUX.match(previous)
    if m:
        return f"{wh} {previous[m.end() :]}"
    if _AUX.match(previous):
        return f"{wh} {previous.lstrip()[0].lower()}{previous.lstrip()[1:]}"
    return f"{wh}: {previous}"


def _speech(question: str) -> bool:
    """Whether a question asks what someone said or thinks (so "And X?" may name a topic)."""
    return bool(_SPEECH.search(question))


def _put(question: str, old: str, new: str) -> str:
    """`question` with the name `old` replaced by `new` (the whole name, once)."""
    return re.sub(rf"\b{re.escape(old)}\b", lambda _: new, question, count=1)


@dataclass
class Turn:
    question: str
    standalone: str
    answer: Answer | None  # None for history known only by its questions (an OpenAI request)


class LLMRewriter:
    """Rewrites follow-ups with a language model and the rewrite prompt; falls back to the
    rule-based rewrite when the model's output does not look like one question."""

    def __init__(
        self, llm: LLM, prompt: PromptTemplate, max_tokens: int = 48, speaks: Speaks | None = None
    ) -> None:
        self.llm = llm
        self.prompt = prompt
        self.max_tokens = max_tokens
        self.speaks = speaks
        self.fallbacks = 0

    def __call__(self, question: str, turns: Sequence[Turn]) -> str:
        if not turns:
            return question
        history = "\n".join(
            f"Q: {t.standalone}\nA: {_clip(t.answer.text if t.answer else '', 200)}"
            for t in turns[-2:]
        )
        prompt = self.prompt.render(self.llm.format, history=history, question=question)
        out = "".join(self.llm.stream(prompt, max_tokens=self.max_tokens))
        candidate = _clean(out)
        if _plausible(candidate, question):
            return candidate
        self.fallbacks += 1
        return rewrite(question, turns[-1].standalone, self.speaks)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clean(text: str) -> str:
    line = text.strip().split("\n")[0].strip()
    line = re.sub(
        r"^(standalone question|question|rewritten question)\s*:\s*", "", line, flags=re.I
    )
    return line.strip(" \"'“”")


def _plausible(candidate: str, question: str) -> bool:
    words = candidate.split()
    asked = {w.lower() for w in re.findall(r"\w+", question)}
    shared = asked & {w.lower() for w in re.findall(r"\w+", candidate)}
    return (
        2 <= len(words) <= 2 * len(question.split()) + 12
        and not is_refusal(candidate)
        and len(shared) >= min(2, len(asked))
    )


Rewriter = Callable[[str, Sequence[Turn]], str]


def rule_rewriter(question: str, turns: Sequence[Turn], speaks: Speaks | None = None) -> str:
    return rewrite(question, turns[-1].standalone if turns else None, speaks)
