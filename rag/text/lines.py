"""Printed line ends: a PDF, hard-wrapped Markdown or e-mail breaks words across them."""

from __future__ import annotations

import re

# A word broken at a line end ("manage-\nment"): joined, when letters in lower case continue it.
# Not before "and", "or", "to": "high- and low-pressure" keeps its hyphen.
HYPHEN_BREAK = re.compile(r"(?<=[^\W\d_])[-‐\u00ad][ \t]*\n[ \t]*(?!(and|or|nor|to)\b)(?=[a-zß-ÿ])")
# Any other line break after a dash or slash ("10-\n12", "X-\nRay", "and/\nor") joins tight,
# except before a word ("high- and low-") and after a spaced dash ("Treaty -\ninstead").
DASH_BREAK = re.compile(r"(?<=\S[-‐–—/])[ \t]*\n[ \t]*(?!(and|or|nor|to)\b)")


def rejoin_words(text: str) -> str:
    """Words broken at a line end ("manage-\\nment", "10-\\n12") whole again; nothing else
    changes."""
    if "\n" not in text:
        return text
    return DASH_BREAK.sub("", HYPHEN_BREAK.sub("", text))
