"""Prompt templates, read from TOML files in prompts/ and checked when loaded.

Each file has a `[chat]` form (system + user messages) and a `[completion]` form (one text for
base models, with stop strings). A template must use exactly its declared placeholders: a missing
one would silently drop the question or the sources, an unknown one would fail at the first
question, so both are errors at load time that name the file and the placeholder.
"""

from __future__ import annotations

import string
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import ConfigError

PromptFormat = Literal["chat", "completion"]

# Each prompt and the placeholders its templates must use.
PLACEHOLDERS: dict[str, frozenset[str]] = {
    "answer": frozenset({"sources", "question"}),
    "rewrite": frozenset({"history", "question"}),
    "question": frozenset({"sentence", "answer"}),
}


@dataclass(frozen=True)
class Messages:
    """A chat prompt: for instruct models and OpenAI-compatible endpoints."""

    system: str
    user: str


@dataclass(frozen=True)
class Completion:
    """A completion prompt: for base models, which continue text."""

    text: str
    stop: tuple[str, ...]


Prompt = Messages | Completion


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    source: Path
    system: str
    user: str
    completion: str
    stop: tuple[str, ...]

    def render(self, fmt: PromptFormat, **values: str) -> Prompt:
        missing = PLACEHOLDERS[self.name] - values.keys()
        if missing:
            raise ValueError(f"prompt {self.name!r} needs values for {sorted(missing)}")
        if fmt == "chat":
            return Messages(self.system.format(**values), self.user.format(**values))
        return Completion(self.completion.format(**values), self.stop)


def default_prompts_dir() -> Path:
    """prompts/ beside the package (a source checkout), else the copy installed with the wheel."""
    here = Path(__file__).resolve().parent.parent / "prompts"
    if here.is_dir():
        return here
    return Path(sys.prefix) / "share" / "rag" / "prompts"


def load_prompt(name: str, folder: Path | None = None) -> PromptTemplate:
    if name not in PLACEHOLDERS:
        raise ConfigError(f"unknown prompt {name!r}; known: {', '.join(sorted(PLACEHOLDERS))}")
    path = (folder or default_prompts_dir()) / f"{name}.toml"
    if not path.is_file():
        raise ConfigError(
            f"prompt file {path} not found; set RAG_PROMPTS_DIR to a folder holding {name}.toml "
            "(copy the project's prompts/ folder)"
        )
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    chat = _table(data, "chat", path)
    completion = _table(data, "completion", path)
    fields = {
        "[chat] system": _text(chat, "system", path),
        "[chat] user": _text(chat, "user", path),
        "[completion] text": _text(completion, "text", path),
    }
    required = PLACEHOLDERS[name]
    _check(fields["[chat] system"], frozenset(), required, path, "[chat] system")
    _check(fields["[chat] user"], required, required, path, "[chat] user")
    _check(fields["[completion] text"], required, required, path, "[completion] text")
    stop = completion.get("stop", [])
    if not isinstance(stop, list) or not all(isinstance(s, str) and s for s in stop):
        raise ConfigError(f"{path}: [completion] stop must be a list of non-empty strings")
    return PromptTemplate(
        name,
        path,
        fields["[chat] system"],
        fields["[chat] user"],
        fields["[completion] text"],
        tuple(stop),
    )


def _table(data: dict[str, object], key: str, path: Path) -> dict[str, object]:
    table = data.get(key)
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: missing the [{key}] table")
    return table


def _text(table: dict[str, object], key: str, path: Path) -> str:
    value = table.get(key)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: missing the text {key!r}")
    return value


def _check(
    template: str, required: frozenset[str], allowed: frozenset[str], path: Path, where: str
) -> None:
    try:
        used = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError as exc:  # a single { or }
        raise ConfigError(f"{path}: {where}: {exc}; write literal braces as {{{{ and }}}}") from exc
    for field_name in used:
        if field_name not in allowed:
            raise ConfigError(
                f"{path}: {where} uses the unknown placeholder {{{field_name}}}; "
                f"allowed: {', '.join('{' + a + '}' for a in sorted(allowed)) or 'none'}"
            )
    for field_name in sorted(required - used):
        raise ConfigError(f"{path}: {where} lacks the placeholder {{{field_name}}}")
