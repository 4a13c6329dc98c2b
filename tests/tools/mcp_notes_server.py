"""A tiny MCP server over stdio for the adapter tests: a notes system.

Usage: ``python mcp_notes_server.py CALLS_FILE [HTTP_PORT]``: over stdio, or over
streamable HTTP at ``http://127.0.0.1:HTTP_PORT/mcp``. Every tool call is appended to
CALLS_FILE as a JSON line (tool, args, idempotency key from the request's ``_meta``),
so a test can count executions across the short-lived server processes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from mcp.server.fastmcp import Context, FastMCP
from mcp.types import ToolAnnotations

CALLS = Path(sys.argv[1])
PORT = int(sys.argv[2]) if len(sys.argv) > 2 else None
server = FastMCP("notes", port=PORT or 8000, log_level="WARNING")


def _log(tool: str, args: dict[str, Any], ctx: Context[Any, Any, Any]) -> None:
    meta = ctx.request_context.meta
    extra = (meta.model_extra or {}) if meta is not None else {}
    line = {"tool": tool, "args": args, "key": extra.get("tethra/idempotency_key")}
    with CALLS.open("a", encoding="utf-8") as out:
        out.write(json.dumps(line) + "\n")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def read_note(title: str, ctx: Context[Any, Any, Any]) -> str:
    """Read a note by its title."""
    _log("read_note", {"title": title}, ctx)
    return f"note {title}: remember the milk"


@server.tool()
def add_note(title: str, body: str, ctx: Context[Any, Any, Any]) -> str:
    """Add a note (no annotations: its effect is unknown)."""
    _log("add_note", {"title": title, "body": body}, ctx)
    return f"added {title}"


@server.tool(annotations=ToolAnnotations(readOnlyHint=False, destructiveHint=True))
def purge_notes(ctx: Context[Any, Any, Any]) -> str:
    """Delete every note."""
    _log("purge_notes", {}, ctx)
    return "purged"


if __name__ == "__main__":
    server.run("streamable-http" if PORT else "stdio")
