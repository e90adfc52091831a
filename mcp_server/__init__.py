"""MCP server exposing imagegen's image generation and editing tools to AI assistants."""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None, prog: str = "imagegen-mcp") -> int:
    """``imagegen-mcp``, and ``imagegen mcp`` (``prog`` names the command in messages). Every
    install has the command, but only the 'mcp' extra brings the SDK: without it, one line says
    what to install instead of an import traceback."""
    from devstack.options import MissingExtra, extra_needed

    try:
        with extra_needed("the MCP server", "mcp", 'pip install "imagegen[mcp]"'):
            from mcp_server.server import main as serve
    except MissingExtra as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1
    return serve(argv, prog)
