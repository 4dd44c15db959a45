"""Whose words a sentence gives: the people a question asks to have speak ("What did Austin
say?"), and whether a sentence quotes one of them (a post they signed, "Austin said ...")."""

from __future__ import annotations

import re
from collections.abc import Sequence

from .evidence import ATTRIBUTION, CAPITALISED, TITLES, expected_type

_SPEECH_VERBS = (
    r"said|says|told|tells|stated|states|wrote|writes|tweeted|posted|added|noted|warned|"
    r"assured|promised|pledged|claimed|declared|announced|underscored|stressed|insisted"
)
# After the name: more of it ("Austin III") or an aside in commas ("Ruiz, the mayor,").
_NAME_TAIL = r"(?:\s+[A-Z][\w.]*){0,2}(?:,[^,]{1,40},)?"


def speaker_names(question: str) -> list[str]:
    """The names a question asks to have speak: its capitalised words other than the first
    ("What did Austin say?" -> ["Austin"]; "What did Mattis tell Onodera?" -> both), when the
    question asks what someone said (expected_type 'speech'); else none."""
    if expected_type(question) != "speech":
        return []
    words = CAPITALISED.findall(question)[1:]
    return [w for w in words if w.lower() not in TITLES and not w.isupper()]


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
        if re.search(rf"[,”\"]\s*(?:{_SPEECH_VERBS})\s+(?:[A-Z][\w.]*\s+){{0,3}}{n}\b", sentence):
            return True  # "..., said Mayor Ana Ruiz"
        if re.search(rf"\b[Aa]ccording to\s+(?:[A-Z][\w.]*\s+){{0,3}}{n}\b", sentence):
            return True
    return False
