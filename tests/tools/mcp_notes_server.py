"""A tiny stdio MCP server for the tests (the official SDK): notes in memory, plus a tool that crashes the server."""

from __future__ import annotations

import os

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

server = MCPServer("notes")
NOTES: dict[str, str] = {}


@server.tool()
def add_note(title: str, text: str) -> str:
    """Store a note under a title."""
    NOTES[title] = text
    return f"saved {title}"


@server.tool()
def read_note(title: str) -> str:
    """Read a stored note."""
    if title not in NOTES:
        raise ToolError(f"no note called {title}")
    return NOTES[title]


@server.tool()
def crash() -> str:
    """Ends the server process at once (a server crash mid-conversation)."""
    os._exit(3)


if __name__ == "__main__":
    import sys
    import time

    server.run("stdio")
    if len(sys.argv) > 1:  # a server slow to exit: says its stdin closed, then lingers until it is killed
        with open(sys.argv[1], "w") as told:
            told.write("stdin closed\n")
        time.sleep(60)
