"""The `rag` command line: ingest, remove, documents, search, ask, chat, info, eval, ui, serve,
mcp. Each module registers its commands on the one `cli` group; none imports the heavy parts
(torch, fastapi, gradio) until a command runs, so `rag --help` stays fast."""

from . import ask_cmds, eval_cmds, index_cmds, serve_cmds  # noqa: F401  (they register commands)
from .base import COMPONENTS, cli

__all__ = ["COMPONENTS", "cli", "main"]


def main() -> None:
    cli(prog_name="rag")
