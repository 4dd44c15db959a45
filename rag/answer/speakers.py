"""Whose words a sentence gives: the people a question asks to have speak ("What did Austin
say?"), and whether a sentence quotes one of them (a post they signed, "Austin said ...")."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .evidence import (
    ASKS_SPEECH,
    ATTRIBUTION,
    CAPITALISED,
    TITLES,
    content_terms,
    expected_type,
)

_SPEECH_VERBS = (
    r"said|says|told|tells|stated|states|wrote|writes|tweeted|posted|added|noted|warned|"
    r"assured|promised|pledged|claimed|declared|announced|underscored|stressed|insisted"
)
# After the name: more of it ("Austin III") or an aside in commas ("Ruiz, the mayor,").
_NAME_TAIL = r"(?:\s+[A-Z][\w.]*){0,2}(?:,[^,]{1,40},)?"
# Between "said" and the name: other names or a title ("said harbour master Willem Bakker"),
# never a place ("said the mayor of Leiden" gives no name of the speaker).
_BEFORE_NAME = r"(?:(?:[A-Z][\w.]*|(?!of\b|in\b|to\b|on\b|at\b|for\b|from\b)[a-z]+)\s+){0,3}"
# Capitalised words that open sentences or quotations without being anyone's name.
_NOT_SPEAKERS = frozenset([
    "he", "she", "it", "they", "we", "i", "you", "his", "her", "their", "our", "this", "that",
    "these", "those", "there", "here", "the", "a", "an", "in", "on", "at", "by", "for", "from",
    "with", "as", "after", "before", "when", "while", "but", "and", "or", "so", "if", "yet",
    "also", "then", "today", "yesterday",
])  # fmt: skip


def speaker_names(question: str) -> list[str]:
    """The names a question asks to have speak: its capitalised words other than the first
    ("What did Austin say?" -> ["Austin"]; "What did Mattis tell Onodera?" -> both), when the
    question asks what someone said (expected_type 'speech'); else none."""
    if expected_type(question) != "speech":
        return []
    words = CAPITALISED.findall(question)[1:]
    names = [w for w in words if w.lower() not in TITLES and not w.isupper()]
    if names or words:
        return names
    # Typed in lower case ("what did jansen say"): the one or two words between "did" and the
    # verb, when they are not common words, are the name as the documents write it.
    m = _LOWER_SPEAKER.match(question.strip())
    if not m or any(w in _NOT_SPEAKERS | TITLES for w in m.group(1).split()):
        return []
    return [w.capitalize() for w in m.group(1).split()]


def asked_speakers(question: str) -> list[str]:
    """The names of whoever a question asks to have spoken: of `speaker_names`, those before
    its verb of saying ("What did Vasquez say about Harlow Rovers?" -> ["Vasquez"]; the others
    are what they spoke of); all of them when none comes before it."""
    names = speaker_names(question)
    verb = ASKS_SPEECH.search(question)
    if not verb:
        return names
    head = question[: verb.start()]
    return [n for n in names if re.search(rf"\b{re.escape(n)}\b", head)] or names


_ASKS_WORDS = re.compile(
    r"\s*(?:and\s+)?what\s+(?:did|does|do|has|have|had|will|would)\s+[^?]{1,60}?\b(?:say|tell|"
    r"claim|promise|announce|write|state|warn|think|argue|add|reply|respond)\b",
    re.IGNORECASE,
)


def asks_their_words(question: str) -> bool:
    """Whether the question asks for someone's words themselves ("What did Mackay say?", "What
    did Austin tell Kishi about Taiwan?"), not for a thing their words name ("What service did
    BSkyB offer that they claimed ...?")."""
    return bool(_ASKS_WORDS.match(question))


def another_namesake(sentence: str, names: Sequence[str]) -> bool:
    """Whether the sentence names someone else with the asked person's surname: for "Leo
    Marsh", "Judge Helen Marsh said ..." (a given name the question does not give)."""
    if len(names) < 2:
        return False
    surname = re.escape(names[-1])
    return any(
        w not in names and w.lower() not in TITLES
        for w in re.findall(rf"\b([A-Z][\w'-]+)\s+{surname}\b", sentence)
    )


_LOWER_SPEAKER = re.compile(
    r"what (?:did|does|has|have) ([a-z][a-z'-]+(?: [a-z][a-z'-]+)?) (?:say|said|tell|told|"
    r"promise|promised|announce|announced|claim|claimed|state|stated|warn|warned|write|wrote)\b"
)


def spoken_by(sentence: str, names: Sequence[str]) -> bool:
    """Whether the sentence gives the words of one of `names`: a post signed by them (its
    attribution names them), "Austin said ...", "... said Austin", or "according to Austin"."""
    for name in names:
        n = re.escape(name)
        post = ATTRIBUTION.search(sentence)
        if post and re.search(rf"\b{n}\b", post.group()):
            return True
        if re.search(rf"\b{n}\b{_NAME_TAIL}\s+(?:{_SPEECH_VERBS})\b", sentence):
            return True  # "Ruiz said", "Ruiz, the mayor, told"
        if re.search(rf"[,”\"]\s*(?:{_SPEECH_VERBS})\s+{_BEFORE_NAME}{n}\b", sentence):
            return True  # "..., said Mayor Ana Ruiz", "..., said harbour master Willem Bakker"
        if re.search(rf"\b[Aa]ccording to\s+(?:[A-Z][\w.]*\s+){{0,3}}{n}\b", sentence):
            return True
    return False


def quoted_speakers(sentence: str) -> list[str]:
    """The capitalised words of a sentence whose words it gives ("'...,' Kessler told
    supporters." -> ["Kessler"]); pronouns and sentence openers are nobody's name."""
    words = dict.fromkeys(
        w for w in CAPITALISED.findall(sentence) if w.lower() not in _NOT_SPEAKERS | TITLES
    )
    return [w for w in words if spoken_by(sentence, [w])]


def spoken_by_another(sentence: str, names: Sequence[str]) -> bool:
    """Whether the sentence gives somebody else's words and does not name any of `names`
    outside its quotation: for "What did Smits say?", "'...,' Kessler told supporters." is not
    an answer, nor is 'Kessler said: "Smits is wrong."'; "Virgin Media claimed that BSkyB ..."
    may be one for "What did BSkyB claim?"."""
    if names_outside_quotes(sentence, names):  # a name inside the quotation is its subject
        return False
    return bool(quoted_speakers(sentence))


def names_outside_quotes(sentence: str, names: Sequence[str]) -> bool:
    """Whether the sentence names one of `names` outside its quotations."""
    told = unquoted(sentence)
    return any(re.search(rf"\b{re.escape(n)}\b", told) for n in names)


def unquoted(sentence: str) -> str:
    """The sentence with its quotations blanked out."""
    return _QUOTED.sub(" ", sentence)


# A quotation within a sentence: 'Dunbar said: "Fiona's case is not the only one."' gives
# Dunbar's words about Fiona, not Fiona's.
_QUOTED = re.compile(r"“[^”]*”|\"[^\"]*\"")


_ABOUT = re.compile(r"\babout\s+(.+?)[\s?.!]*$", re.IGNORECASE)


def speech_topic(question: str, names: Sequence[str]) -> set[str]:
    """What a question about someone's words asks them to have spoken of: the content stems
    after "about" ("What did Lindgren say about cold storage costs?" -> cold, storag, cost),
    less the names; empty when the question names no topic ("What did Austin say?")."""
    m = _ABOUT.search(question) if names else None
    if not m:
        return set()
    named = {t for n in names for t in content_terms(n)}
    return set(content_terms(m.group(1))) - named


def on_topic(text: str, topic: set[str]) -> bool:
    """Whether a text speaks of one of the topic's stems (a derived form counts: "Japanese"
    for "Japan")."""
    words = content_terms(text)
    return any(
        w == t or (min(len(w), len(t)) >= 4 and (w.startswith(t) or t.startswith(w)))
        for t in topic
        for w in words
    )
