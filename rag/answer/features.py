"""What the answer model reads: features of each candidate sentence, and of a question's evidence.

Every feature is a number a person can name (an embedding similarity, how much of the question's
IDF weight a sentence covers, how many words it adds, the rank of its chunk, ...). The weights
that combine them are learned (rag/answer/train.py) and live in a JSON model file (model.py).
Words are Porter-stemmed as the keyword index stems them, and IDF comes from the index's own
term counts, so "rare in this corpus" means the same here as in retrieval.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np

from ..store.keyword import IGNORED, analyze

DocFreq = Callable[[Sequence[str]], tuple[dict[str, int], int]]

_WORD = re.compile(r"\w+", re.UNICODE)
_IGNORED_STEMS = frozenset(analyze(" ".join(sorted(IGNORED)))[0])
_CAP = re.compile(r"\b[A-Z][\w'-]*")
_NUM = re.compile(r"\d")
# Words that open an embedded question: "what Mattis promised Japan", "how the law works".
_WH = frozenset(["what", "who", "whom", "whose", "which", "when", "where", "why", "how", "whether"])
_SPEECH_VERBS = frozenset(["say", "says", "said", "saying", "tell", "tells", "told"])

KINDS = ("number", "time", "name", "speech", "other")

SENTENCE_FEATURES = (
    "sim", "sim_gap", "sim_rank", "sim_ctx", "lex", "lex_gap", "lex_rank", "lex_ctx",
    "bigrams", "hit_rr", "hit_first", "sent_pos", "doc_start", "new_terms", "new_frac",
    "echo", "restates", "words", "new_names", "has_digit",
    "match_number", "match_time", "match_name", "match_speech", "kind_other",
    "chunk_lex", "chunk_names",
)  # fmt: skip
GATE_FEATURES = (
    "p1", "p2", "p_gap", "p_top3", "lex1", "lex_best", "missing_weight",
    "missing_max", "missing_cap", "missing_num", "chunk_missing", "chunk_missing_max",
    "type_ok_best", "hit_rr_best",
    "kind_number", "kind_time", "kind_name", "kind_speech",
)  # fmt: skip


def stems(text: str) -> set[str]:
    """The content stems of a text (keyword-index stemming, stop and question words left out)."""
    return {s for s in analyze(text)[0] if s not in _IGNORED_STEMS}


@lru_cache(maxsize=65536)
def stem_word(word: str) -> str:
    return next(iter(analyze(word)[0]), word)


def stem_list(text: str) -> list[str]:
    """The stems of every word, in order (for phrases)."""
    return [stem_word(w) for w in _WORD.findall(text.lower())]


@dataclass
class QuestionTerms:
    """A question's content stems with their IDF weights in the index."""

    weights: dict[str, float]
    idf_max: float  # the weight of a word in one chunk: what "absent from the index" weighs
    caps: set[str]  # stems of capitalised words after the first (names the question asks about)
    numbers: set[str]  # numbers in the question
    bigrams: set[tuple[str, str]]

    @classmethod
    def of(cls, question: str, doc_freq: DocFreq) -> QuestionTerms:
        raw = [w for w in _WORD.findall(question.lower()) if w not in IGNORED]
        dfs, total = doc_freq(raw) if raw else ({}, 1)
        total = max(total, 1)
        weights: dict[str, float] = {}
        for w in raw:
            s = stem_word(w)
            if s in _IGNORED_STEMS:
                continue
            n = max(dfs.get(w, 0), 1)
            # Lucene's IDF: a word the index has never seen weighs like a word in one chunk.
            weights[s] = max(weights.get(s, 0.0), math.log(1 + (total - n + 0.5) / (n + 0.5)))
        first = _WORD.search(question)
        caps = {
            stem_word(m.group().lower())
            for m in _CAP.finditer(question)
            if (not first or m.start() != first.start()) and m.group().lower() not in IGNORED
        }
        numbers = set(re.findall(r"\d+(?:[.,]\d+)?", question))
        seq = [s for s in stem_list(question) if s not in _IGNORED_STEMS]
        bigrams = set(pairwise(seq))
        idf_max = math.log(1 + (total - 0.5) / 1.5)
        return cls(weights, idf_max, caps & set(weights), numbers, bigrams)

    def coverage(self, words: set[str]) -> float:
        norm = sum(self.weights.values()) or 1.0
        return sum(w for t, w in self.weights.items() if t in words) / norm


def restates(question: str, sentence: str) -> bool:
    """The sentence holds the question itself, or all its content words after a question word
    ("Update on what Mattis promised Japan ..."): it repeats what is asked, it does not answer.
    """
    q_words = [w for w in _WORD.findall(question.lower())]
    s_words = _WORD.findall(sentence.lower())
    if len(q_words) >= 3 and " ".join(q_words) in " ".join(s_words):
        return True
    # The words that frame a question ("say", "tell") count here: "what Austin said" restates
    # "What did Austin say?" as much as a content word would.
    wanted = [s for s in _lemmas(question) if s not in _FRAME]
    if len(wanted) < 2:
        return False
    seq = _lemmas(sentence)
    for i, w in enumerate(s_words):
        if w not in _WH:
            continue
        # The question's content words, in its order, within a short span after the wh-word.
        window = seq[i + 1 : i + 2 + 3 * len(wanted)]
        j = 0
        for s in window:
            if j < len(wanted) and s == wanted[j]:
                j += 1
        if j == len(wanted):
            return True
    return _echoes_a_part(question, sentence)


def _echoes_a_part(question: str, sentence: str) -> bool:
    """A wh-clause made of the question's own words ("what Mattis promised Japan", three of
    them or all) in a sentence that adds at most four words of its own: it names part of the
    question (of a two-part one, say) without answering it."""
    asked = set(_lemmas(question))
    wanted = asked - _FRAME
    if len(wanted) < 2:
        return False
    seq = _lemmas(sentence)
    for i, w in enumerate(_WORD.findall(sentence.lower())):
        if w not in _WH:
            continue
        got = set()
        for s in seq[i + 1 :]:
            if s in wanted:
                got.add(s)
            elif s not in _FRAME or s in _WH:
                break
        if len(got) >= min(3, len(wanted)):
            return len(stems(sentence) - asked) <= 4
    return False


# Function words left out when matching a question's words inside a sentence.
_FRAME = frozenset(analyze(" ".join(sorted(IGNORED - _SPEECH_VERBS)))[0]) | _WH
# Irregular forms the stemmer leaves apart ("said" and "say").
_IRREGULAR = {"said": "say", "sai": "say", "told": "tell"}


def _lemmas(text: str) -> list[str]:
    return [_IRREGULAR.get(s, s) for s in stem_list(text)]


def kind_vector(kind: str | None) -> dict[str, float]:
    k = kind or "other"
    return {f"kind_{x}": float(k == x) for x in KINDS}


def sentence_matrix(
    question: str,
    terms: QuestionTerms,
    texts: Sequence[str],
    sims: np.ndarray,
    hit_ranks: Sequence[int],
    positions: Sequence[tuple[int, int, bool]],  # (place in its chunk, chunk id, starts the doc)
    kind: str | None,
    type_ok: Sequence[bool],
    new_names: Sequence[int],
    chunks: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[set[str]]]:
    """One row of SENTENCE_FEATURES per candidate; also each candidate's stems (reused later).
    `chunks`: each candidate's chunk text, for what its passage says of the question's words
    and names (a sentence about another person's call, in a passage that never names the one
    asked about); default: the sentence alone."""
    n = len(texts)
    words = [stems(t) for t in texts]
    passages = list(chunks) if chunks is not None else texts
    chunk_stems = {c: stems(c) for c in dict.fromkeys(passages)}  # each chunk once
    in_chunk = [chunk_stems[c] | words[i] for i, c in enumerate(passages)]
    seqs = [[s for s in stem_list(t) if s not in _IGNORED_STEMS] for t in texts]
    qset = set(terms.weights)
    lex = np.array([terms.coverage(w) for w in words])
    sims = np.clip(np.asarray(sims, dtype=float), -1.0, 1.0)
    kinds = kind_vector(kind)
    rows = np.zeros((n, len(SENTENCE_FEATURES)))
    sim_order = np.argsort(-sims, kind="stable")
    lex_order = np.argsort(-lex, kind="stable")
    sim_rank = np.empty(n)
    lex_rank = np.empty(n)
    sim_rank[sim_order] = np.arange(n)
    lex_rank[lex_order] = np.arange(n)
    for i, text in enumerate(texts):
        ctx = set(words[i])
        near_sims = []
        # Neighbours: the sentences before and after it in the same chunk.
        pos, chunk, _start = positions[i]
        for j in (i - 1, i + 1):
            if 0 <= j < n and positions[j][1] == chunk and abs(positions[j][0] - pos) == 1:
                ctx |= words[j]
                near_sims.append(sims[j])
        own = words[i] - qset
        bigrams = set(pairwise(seqs[i]))
        f = {
            "sim": sims[i],
            "sim_gap": sims[i] - sims.max(),
            "sim_rank": 1.0 / (1.0 + sim_rank[i]),
            "sim_ctx": max(near_sims, default=sims[i]),
            "lex": lex[i],
            "lex_gap": lex[i] - lex.max(),
            "lex_rank": 1.0 / (1.0 + lex_rank[i]),
            "lex_ctx": terms.coverage(ctx),
            "bigrams": len(bigrams & terms.bigrams) / max(len(terms.bigrams), 1),
            "hit_rr": 1.0 / max(hit_ranks[i], 1),
            "hit_first": float(hit_ranks[i] <= 1),
            "sent_pos": 1.0 / (1.0 + positions[i][0]),
            "doc_start": float(positions[i][2]),
            "new_terms": math.log1p(len(own)),
            "new_frac": len(own) / max(len(words[i]), 1),
            "echo": float(len(own) < 2),
            "restates": float(restates(question, text)),
            "words": math.log1p(len(_WORD.findall(text))),
            "new_names": math.log1p(new_names[i]),
            "has_digit": float(bool(_NUM.search(text))),
            "match_number": kinds["kind_number"] * type_ok[i],
            "match_time": kinds["kind_time"] * type_ok[i],
            "match_name": kinds["kind_name"] * type_ok[i],
            "match_speech": kinds["kind_speech"] * type_ok[i],
            "kind_other": kinds["kind_other"],
            "chunk_lex": terms.coverage(in_chunk[i]),
            "chunk_names": (len(terms.caps & in_chunk[i]) / len(terms.caps) if terms.caps else 1.0),
        }
        rows[i] = [f[name] for name in SENTENCE_FEATURES]
    return rows, words


def gate_vector(
    terms: QuestionTerms,
    probs: np.ndarray,
    rows: np.ndarray,
    context: str,
    kind: str | None,
    chunks: Sequence[str],
) -> np.ndarray:
    """GATE_FEATURES of one question: how good its best evidence is, and which of the question's
    words (rare ones, names, numbers) the retrieved text lacks entirely, or the chunk of the
    best sentence lacks (`chunks`: each candidate's chunk text). Raw embedding similarity is
    left to the sentence model: its scale depends on how a question is worded (a short "What
    did Austin say?" scores far lower than a long SQuAD question), which a gate trained on
    SQuAD would read as "not answered".
    """
    col = {name: i for i, name in enumerate(SENTENCE_FEATURES)}
    have = stems(context)
    missing = {t: w for t, w in terms.weights.items() if t not in have}
    norm = sum(terms.weights.values()) or 1.0
    ranked = np.sort(probs)[::-1] if len(probs) else np.zeros(1)
    best = int(np.argmax(probs)) if len(probs) else -1
    in_chunk = stems(chunks[best]) if best >= 0 else set()
    chunk_missing = {t: w for t, w in terms.weights.items() if t not in in_chunk}
    p = np.clip(ranked, 1e-4, 1 - 1e-4)
    logit = np.log(p / (1 - p))
    f = {
        "p1": logit[0],
        "p2": logit[1] if len(logit) > 1 else -9.2,
        "p_gap": logit[0] - (logit[1] if len(logit) > 1 else -9.2),
        "p_top3": float(ranked[:3].sum()),
        "lex1": float(rows[:, col["lex"]].max()) if len(rows) else 0.0,
        "lex_best": float(rows[best, col["lex"]]) if best >= 0 else 0.0,
        "missing_weight": sum(missing.values()) / norm,
        "missing_max": max(missing.values(), default=0.0) / max(terms.idf_max, 1e-6),
        "missing_cap": float(bool(terms.caps - have)),
        "missing_num": float(any(n not in context for n in terms.numbers)),
        "chunk_missing": sum(chunk_missing.values()) / norm,
        "chunk_missing_max": max(chunk_missing.values(), default=0.0) / max(terms.idf_max, 1e-6),
        "type_ok_best": _type_ok(rows, best, col),
        "hit_rr_best": float(rows[best, col["hit_rr"]]) if best >= 0 else 0.0,
    }
    f |= {k: v for k, v in kind_vector(kind).items() if k in GATE_FEATURES}
    return np.array([f[name] for name in GATE_FEATURES], dtype=float)


def _type_ok(rows: np.ndarray, best: int, col: dict[str, int]) -> float:
    if best < 0:
        return 0.0
    r = rows[best]
    typed = ("match_number", "match_time", "match_name", "match_speech")
    return float(r[col["kind_other"]] > 0 or any(r[col[t]] > 0 for t in typed))


_LONG_NUMBER = re.compile(r"(?<![\d.,])\d{1,3}(?:,\d{3})+(?![\d,])|(?<![\d.,])\d{3,}(?:\.\d+)?")


def absent_number(question: str, context: str) -> str | None:
    """A number of three digits or more in the question (a year, a count: "in 2019", "2,000
    votes") that the retrieved text holds nowhere, or None. Such a question asks about
    something the documents do not report, whatever else matches: the gate is closed. Shorter
    numbers are left to the gate, as the text may spell them ("five", "a dozen")."""
    plain = context.replace(",", "")
    for m in _LONG_NUMBER.finditer(question):
        number = m.group().replace(",", "")
        if not re.search(rf"(?<!\d){re.escape(number)}(?!\d)", plain):
            return m.group()
    return None
