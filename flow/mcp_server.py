"""voxflow's own MCP server (stdio): lets an assistant list and check flow files.

Run it as ``python -m flow.mcp_server``; an ``mcp-tools`` node with
``command: [python, -m, flow.mcp_server]`` gives a conversation two tools,
``list_flows`` and ``validate_flow``, so you can ask by voice which flows a
folder holds and what is wrong with one (the same checks as
``voxflow validate``). Paths are relative to the server's working directory
(an ``mcp-tools`` node starts it in the flow's folder).
"""

from __future__ import annotations

from pathlib import Path

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from audio.base.errors import VoxflowError
from flow.loader import load_flow

server = MCPServer("voxflow")


@server.tool()
def list_flows(folder: str = ".") -> str:
    """The flow files (*.yaml) in a folder, one per line with the flow's name."""
    root = Path(folder)
    if not root.is_dir():
        raise ToolError(f"{folder} is not a folder")
    lines = []
    for path in sorted(root.glob("*.yaml")):
        try:
            lines.append(f"{path.name}: {load_flow(path).name}")
        except VoxflowError:
            lines.append(f"{path.name}: (invalid)")
    return "\n".join(lines) or f"no flow files in {folder}"


@server.tool()
def validate_flow(path: str) -> str:
    """Check a flow file: 'ok', or every problem as FILE:LINE:COL: message."""
    try:
        flow = load_flow(path)
    except VoxflowError as error:
        return str(error)
    return f"{path}: ok ({flow.name}, {len(flow.nodes)} nodes)"


if __name__ == "__main__":
    server.run("stdio")
