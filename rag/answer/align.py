"""Citation alignment: the code, not the model, decides what supports each written sentence.

Each sentence a model writes is compared with every sentence of the retrieved chunks (the
candidates): how much of its content the candidate covers (stems, numbers counted twice) and how
close the two are in embedding space. The best candidate, plus a second one when the sentence
joins facts from two places, become its citations. A sentence is supported only when that score
clears a threshold and every number it states appears in the cited spans, and every name it
introduces appears in the cited chunks, and every passage it puts in quotation marks appears
word for word in the cited chunks (small models like to invent quotations). Only retrieved text can be cited: the candidates are the
only things there are to point at.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..embeddings import Embedder
from ..text.markup import plain_text
from .evidence import Candidate, content_terms

REFUSAL_PATTERNS = re.compile(
    r"could not find (this|that|it|the answer)|(sources|documents|context) (do|does) not "
    r"(contain|say|mention|answer|provide)|no (information|answer) (about|on|in|to)|"
    r"not (mentioned|stated|found) in the (sources|documents|context)",
    re.IGNORECASE,
)
# Markers a model writes: [1], [1, 2], [1][2], [Source 1], 【1】.
MARKER = re.compile(
    r"\s*[\[【]\s*(?:sources?\s*)?(\d+(?:\s*[,;&-]\s*(?:and\s*)?\d+)*)\s*[\]】]", re.I
)
_LEAD_IN = re.compile(
    r"^(according to (the )?(sources?|documents?|context|passages?)( \d+)?|based on (the )?"
    r"(sources?|documents?|context|passages?)|the (sources?|documents?|context) (say|says|state|"
    r"states|show|shows)|(the )?answer( to (this|the|your) question)?( is)?\s*:|"
    r"the sources? (is|are)\s*:)\s*,?\s*(that\s+)?",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[,.]\d+)*")
# Numbers written as words count as numbers ("twenty stations" where the sources say 12).
# "one" is left out: it is more often a pronoun ("one of the allies") than a count.
_UNITS = ["two", "three", "four", "five", "six", "seven", "eight", "nine"]
_TEENS = [
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_WORD_NUMBERS = {
    **{w: i + 2 for i, w in enumerate(_UNITS)},
    **{w: i + 10 for i, w in enumerate(_TEENS)},
    **{w: 10 * (i + 2) for i, w in enumerate(_TENS)},
}
_NUMBER_WORD = re.compile(
    r"\b("
    + "|".join(_TENS)
    + r")[- ](one|"
    + "|".join(_UNITS)
    + r")\b|\b("
    + "|".join(_WORD_NUMBERS)
    + r")\b",
    re.IGNORECASE,
)
# Words that turn a statement round: a sentence with one whose sources have none says
# something else ("no longer remains ironclad" where they say "remains ironclad").
_NEGATION = re.compile(
    r"\b(not|no|never|neither|nor|none|nobody|nothing|cannot|without)\b|n[’']t\b", re.IGNORECASE
)
# A list item's bullet or number ("- He said ...", "1. The answer ...") is not its first word.
_LIST_ITEM = re.compile(r"^\s*(?:[-*•·–]|\(?\d{1,2}[.)])\s+")
# A sentence's first word is capitalised whatever it is; it names someone when a second
# capitalised word or a verb of saying follows ("Biden said ...", "Joe Biden told ...").
_FIRST_NAME = re.compile(
    r"^[\"“‘']?([A-Z][a-z][\w'-]*)(?=\s+(?:[A-Z][a-z]|(?:said|says|told|tells|stated|wrote|"
    r"added|announced|promised|warned|asked|called|met|visited|signed|founded|led)\b))"
)
# Quoted words: “…”, "…", or an opening quote whose sentence ends before it closes.
_QUOTE = re.compile(r"[“\"]([^”\"]+)(?:[”\"]|$)")
_WORDS = re.compile(r"\w+")
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][a-z][\w'-]*")


@dataclass
class Alignment:
    text: str  # the sentence without the model's markers
    markers: list[int]  # source numbers the model wrote
    spans: list[Candidate] = field(default_factory=list)
    support: float = 0.0
    supported: bool = False
    reason: str = ""  # why it is unsupported


def strip_markers(sentence: str) -> tuple[str, list[int]]:
    found: list[int] = []
    for m in MARKER.finditer(sentence):
        for n in re.findall(r"\d+", m.group(1)):
            if int(n) not in found:
                found.append(int(n))
    text = MARKER.sub("", sentence).strip()
    text = _LIST_ITEM.sub("", text)
    text = _LEAD_IN.sub("", text).strip()
    if text and text[0].islower():
        text = text[0].upper() + text[1:]
    return text, found


def is_refusal(sentence: str) -> bool:
    return bool(REFUSAL_PATTERNS.search(sentence))


def quotes_in(text: str) -> list[str]:
    """Quoted passages of three words or more, as lower-case words joined by spaces."""
    out = []
    for m in _QUOTE.finditer(text):
        words = _WORDS.findall(m.group(1).lower())
        if len(words) >= 3:
            out.append(" ".join(words))
    return out


def _plain(text: str) -> str:
    """Lower case, straight apostrophes, possessive 's dropped ("Korea’s" is "korea")."""
    text = text.lower().replace("’", "'").replace("‘", "'")
    return re.sub(r"'s\b", "", text)


def _named_in(word: str, context: set[str], question: set[str]) -> bool:
    """A name the sources use, allowing one letter of difference in longer words
    (Defense/Defence, Organisation/Organization)."""
    if word in context or word in question:
        return True
    if len(word) < 5:
        return False
    return any(
        abs(len(w) - len(word)) <= 1 and w[:2] == word[:2] and _one_edit(word, w) for w in context
    )


def _one_edit(a: str, b: str) -> bool:
    if len(a) > len(b):
        a, b = b, a
    if len(b) - len(a) > 1:
        return False
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


def numbers_in(text: str) -> set[str]:
    """The numbers a text states, in digits ("1,280" -> "1280", "twenty-five" -> "25")."""
    out = {n.replace(",", "").rstrip(".") for n in _NUMBER.findall(text)}
    for m in _NUMBER_WORD.finditer(text):
        if m.group(3):
            out.add(str(_WORD_NUMBERS[m.group(3).lower()]))
        else:
            unit = 1 if m.group(2).lower() == "one" else _WORD_NUMBERS[m.group(2).lower()]
            out.add(str(_WORD_NUMBERS[m.group(1).lower()] + unit))
    return out


def negated(text: str) -> bool:
    return bool(_NEGATION.search(text))


class Aligner:
    """Aligns written sentences to the candidates of one question (already embedded)."""

    def __init__(
        self,
        embedder: Embedder,
        cands: Sequence[Candidate],
        question: str,
        *,
        threshold: float = 0.55,
        lexical_weight: float = 0.5,
        second_gain: float = 0.2,
    ) -> None:
        self.embedder = embedder
        todo = [c for c in cands if c.vec is None]
        if todo:  # scored with the answer encoder's vectors: alignment compares the embedder's
            for c, v in zip(
                todo, embedder.embed([plain_text(c.reading) for c in todo]), strict=True
            ):
                c.vec = v
        self.cands = list(cands)
        self.vecs = (
            np.stack([c.vec for c in self.cands if c.vec is not None])
            if self.cands
            else np.zeros((0, 1), np.float32)
        )
        self.terms = [set(content_terms(c.text)) for c in self.cands]
        self.numbers = [numbers_in(c.text) for c in self.cands]
        self.question_words = {w.lower() for w in re.findall(r"\w+", question)}
        self.question_terms = set(content_terms(question))
        self.threshold = threshold
        self.lexical_weight = lexical_weight
        self.second_gain = second_gain

    def align(self, sentence: str, vec: np.ndarray | None = None) -> Alignment:
        text, markers = strip_markers(sentence)
        out = Alignment(text, markers)
        terms = content_terms(text)
        if not terms or not self.cands:
            out.reason = "no content to check" if not terms else "nothing was retrieved"
            return out
        if vec is None:
            vec = self.embedder.embed([text])[0]
        sims = np.clip(self.vecs @ vec, 0.0, 1.0)
        nums = numbers_in(text)
        weights = {t: (2.0 if t.isdigit() else 1.0) for t in terms}
        total = sum(weights.values())

        def coverage(covered: set[str]) -> float:
            return sum(w for t, w in weights.items() if t in covered) / total

        covs = [coverage(t) for t in self.terms]
        scores = [
            self.lexical_weight * cv + (1 - self.lexical_weight) * float(s)
            for cv, s in zip(covs, sims, strict=True)
        ]
        best = int(np.argmax(scores))
        chosen = [best]
        covered = set(self.terms[best])
        cov = covs[best]
        # A sentence that joins two facts: add the candidate that covers most of what is left.
        if cov < 1.0:
            gains = [
                (coverage(covered | t) - cov, i)
                for i, t in enumerate(self.terms)
                if i != best and sims[i] > 0.3
            ]
            if gains:
                gain, second = max(gains)
                if gain >= self.second_gain:
                    chosen.append(second)
                    covered |= self.terms[second]
                    cov += gain
        sem = max(float(sims[i]) for i in chosen)
        out.spans = [self.cands[i] for i in chosen]
        out.support = round(self.lexical_weight * cov + (1 - self.lexical_weight) * sem, 4)
        cited_numbers = set().union(*(self.numbers[i] for i in chosen))
        context = " ".join(c.hit.text for c in out.spans).lower()
        context_words = " ".join(_WORDS.findall(context))
        invented_quotes = [q for q in quotes_in(text) if q not in context_words]
        missing_numbers = sorted(n for n in nums if n not in cited_numbers)
        vocabulary = set(_WORDS.findall(_plain(context)))
        first = _FIRST_NAME.match(text)
        names = ([first.group(1)] if first else []) + _NAME.findall(text)
        missing_names = [
            n
            for n in dict.fromkeys(names)
            if not _named_in(_plain(n), vocabulary, self.question_words)
        ]
        # A negation the cited sentences do not have (nor the question: "Is X not Y?").
        turned = (
            negated(text)
            and not any(negated(c.text) for c in out.spans)
            and not negated(" ".join(self.question_words))
        )
        if all(_asked(t, self.question_terms) for t in terms):
            out.reason = "it only restates the question"
        elif out.support < self.threshold:
            out.reason = f"support {out.support:.2f} is below {self.threshold:.2f}"
        elif invented_quotes:
            out.reason = f"the sources do not contain the quoted words “{invented_quotes[0]}”"
        elif missing_numbers:
            out.reason = f"the sources do not state {', '.join(missing_numbers)}"
        elif missing_names:
            out.reason = f"the sources do not name {', '.join(missing_names)}"
        elif turned:
            out.reason = "it says 'not' where the sources do not"
        else:
            out.supported = True
        return out


def _asked(term: str, question_terms: set[str]) -> bool:
    """`term` is one of the question's, or the same word spelt another way ("defense" for
    "defence", "organize" for "organise", a typo): one letter changed, added or dropped, in
    words of five letters or more, as `_named_in` allows for names."""
    if term in question_terms:
        return True
    return len(term) >= 5 and any(len(q) >= 5 and _one_edit(term, q) for q in question_terms)
