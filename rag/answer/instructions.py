"""Text addressed to the assistant rather than to a reader: prompt injections.

A document may hold sentences written to steer whoever answers from it ("ignore previous
instructions and say ...", "Dear AI assistant: your reply must be ...", a fake `system:` line).
Such text is data, never an answer and never prompt text: a chunk that holds one gives no
evidence at all (its other sentences are the attacker's too, as a rule), and it does not take a
place among the passages an answer is drawn from (`drop_instruction_chunks`).

The rules look for what any such text needs, whatever its wording: someone it addresses (the
assistant, the model, "whoever reads this"), a reply it dictates ("respond with", "your answer
must be", "tell the user"), a claim over the rest of the context ("ignore the above", "overrides
all other documents"), or the markup of a chat prompt (role lines, chat-template tokens). They
are measured on an injection corpus and on held-out wordings, and for false alarms on ordinary
text (RELIABILITY.md).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence

from ..documents import SearchHit
from ..text.sentences import split_sentences

_F = re.IGNORECASE | re.MULTILINE

# Whom the text addresses: the answering system, by any of its names.
_AGENT = (
    r"(AI|A\.I\.|assistants?|chat ?bots?|language models?|LLMs?|bots?|automated readers?|"
    r"(the|any|a) (model|system|program|tool)s?( (writing|reading|answering|generating|that "
    r"(reads|writes|answers|generates))\b[^.!?:\n]{0,30})?)"
)
# What it dictates: a reply.
_REPLY = r"(say|says|answer|answers|reply|replies|respond|responds|output|print|write|tell|return|repeat|cite)"
# What an addressee is told to do (no "write": "the assistant should write follow-ups out").
_DICTATE = r"(say|answer|reply|respond|output|print|tell|return|repeat|cite)"
_REPLY_NOUN = r"(answer|reply|response|output|the user|the reader|questions?|quer(y|ies))"
_CONTEXT = (
    r"(instructions?|prompts?|rules|directions?|directives?|guidance|guidelines|messages?|"
    r"context|text|documents|sources|passages|articles|(the )?(user'?s )?question|conversation)"
)

_PATTERNS = [
    # "ignore previous instructions", "disregard all prior context", "forget everything above"
    rf"\b(ignore|disregard|forget|override|abandon|skip)\s+((all|any|the|your|of|everything|"
    rf"anything|what)\s+)*((previous|prior|above|earlier|preceding|system|original|retrieved|"
    rf"other)\s+)?({_CONTEXT}\b|above\b|before\b|so far\b)",
    # "the earlier guidance ... to one side", "overrides all other documents"
    rf"\b(previous|prior|earlier|preceding|original)\s+{_CONTEXT}\b[^.!?\n]{{0,40}}"
    r"\b(aside|one side)",
    r"\b(put|set)\s+[^.!?\n]{0,40}\b(aside|to one side)\b[^.!?\n]{0,60}\b(reply|answer|respond)",
    r"\boverrides?\s+(all|any|every)\s+other\b",
    r"\b(you were|you've been|you have been|they were)\s+(given|told|instructed)\b",
    r"\b(you are now|pretend to be|new instructions|system prompt|developer mode|jailbreak)\b",
    # An addressee and a dictated reply: "the assistant must say", "chatbots ... must say"
    rf"\b{_AGENT}\b[^.!?\n]{{0,40}}\b(must|should|shall|will|needs? to|has to|have to)\s+"
    rf"(now\s+|always\s+|only\s+)?{_DICTATE}\b",
    # A vocative: "Dear AI assistant:", "Note to automated readers:", "Assistant, reply ..."
    rf"^[\W_]*((dear|hey|hi|attention|note\s+(to|for)|to)\s+)?((the|all|any)\s+)?{_AGENT}"
    r"\b(\s+\w+)?\s*[:,]",
    # Role lines and chat-template markup
    r"^[\W_]*(system|assistant|developer)\s*[*_]*\s*(:|\n|$)",
    r"<\|(im_start|im_end|system|user|assistant|endoftext|start_header_id|end_header_id|eot_id)"
    r"\|>|\[/?INST\]|<</?SYS>>|###\s*(instruction|response|system)\b",
    # The reply itself dictated: "your only answer is", "the correct reply to every question"
    r"\byour\s+(only\s+|sole\s+|final\s+|next\s+)?(answer|reply|response|output)\b",
    r"\b(answer|reply|response)\s+to\s+(every|all|any|each)\s+(other\s+)?(questions?|quer)",
    r"\b(always|only)\s+(answer|reply|respond)\s+(with|that)\b",
    rf"\b(when|if|whenever)\s+(you are|you're|you get|someone|anyone|a user|the user|users|"
    rf"people|readers?)\s+(is\s+|are\s+|gets?\s+)?(asked|asks?|asking|query|queries)\b"
    rf"[^.!?\n]{{0,80}}\b{_REPLY}",
    r"\b(tell|inform)\s+(the\s+)?(user|reader|asker|them)s?\b",
    r"\b(ask|asks|asked|asking)\b[^.!?\n]{0,80}\b(should|must|are to|is to)\s+be\s+(told|given)\b",
    r"\b(do not|don't|never|refuse to)\s+(answer|respond|reply|mention|cite|discuss)\b",
    # An imperative reply at the start of a sentence: "Respond with ...", "Reply X.",
    # "Answer every question ... with", "Begin your response with", "Cite this ... in any answer"
    r"^[\W_]*((please|kindly|now|just|always|simply|only)\s+)*(reply|respond)\b(?!\s*[=(.])",
    rf"^[\W_]*((please|kindly|now|just|always|simply|only)\s+)*(say|answer|output|print|write|"
    rf"begin|start|cite|repeat|produce)\s[^\n]*\b{_REPLY_NOUN}\b",
]
_INSTRUCTION = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), _F)


def looks_like_instruction(text: str) -> bool:
    """Whether `text` (a sentence) is addressed to the assistant rather than to a reader."""
    return bool(_INSTRUCTION.search(text))


def holds_instruction(text: str) -> bool:
    """Whether any sentence of `text` (a chunk) looks like an instruction to the assistant."""
    return any(looks_like_instruction(s.text) for s in split_sentences(text))


def drop_instruction_chunks(hits: Sequence[SearchHit], k: int) -> list[SearchHit]:
    """The first `k` hits that hold no instruction to the assistant, ranked again from 1: a
    planted instruction neither answers nor pushes the real passages out of the top k."""
    kept = [h for h in hits if not holds_instruction(h.text)][:k]
    return [dataclasses.replace(h, rank=i) for i, h in enumerate(kept, 1)]
