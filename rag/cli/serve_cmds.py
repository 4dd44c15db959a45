"""Serving: the app (ui), the HTTP API (serve) and the MCP server (mcp)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # pydantic-settings takes 0.2 s to import: not for `rag --help`
    pass

from .base import _answer_settings, _open, _run, _settings, answer_options, cli


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=7860, show_default=True, type=int)
@click.option(
    "--allow-network",
    is_flag=True,
    help="Serve on an address others can reach (the app has no keys: anyone there could read, "
    "upload and remove documents).",
)
@click.pass_context
def ui(ctx: click.Context, host: str, port: int, allow_network: bool) -> None:
    """Open the chat app (indexes the user guide first when the index is empty)."""
    settings = _settings(ctx)
    from ..ui.layout import check_host

    _run(lambda: check_host(host, allow_network))  # before the index and the model load
    from ..ui import launch

    _run(lambda: launch(settings, host=host, port=port, allow_network=allow_network))


@cli.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1, or RAG_HOST).")
@click.option("--port", type=int, default=None, help="TCP port (default 8000, or RAG_PORT).")
@click.option("--no-access-log", is_flag=True, help="Do not log each request.")
@click.pass_context
def serve(ctx: click.Context, host: str | None, port: int | None, no_access_log: bool) -> None:
    """Serve the HTTP API: OpenAI-compatible embeddings and chat, search, ask, documents."""
    settings = _settings(ctx, host=host, port=port)
    from ..server import serve as run_server  # imported late: fastapi and torch are slow to load

    _run(lambda: run_server(settings, access_log=not no_access_log))


@cli.command(name="mcp")
@answer_options
@click.pass_context
def mcp_cmd(ctx: click.Context, backend: str | None, show_unsupported: bool | None) -> None:
    """Serve the index to an assistant over MCP on stdin/stdout: tools search, ask and
    list_documents, each document as a resource (docs/mcp.md). rag serve has them at /mcp."""
    settings = _answer_settings(ctx, None, backend, show_unsupported)

    def go() -> None:
        import contextlib

        from ..mcp import run_stdio  # imported late: the MCP SDK takes a second to load

        # stdout carries the protocol: whatever loading the index prints goes to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            idx = _open(settings, create=False)
        with idx:
            run_stdio(idx)

    _run(go)
