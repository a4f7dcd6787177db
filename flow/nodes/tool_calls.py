"""The realtime-conversation node's side of tools: what its ``tools`` edges bring, and the local rule script.

Kept out of :mod:`flow.nodes.realtime` so that module stays about the
session's wiring. Names are checked again here because MCP servers list their
tools only when the flow runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from audio.base.errors import VoxflowError
from audio.session.tools import Tool
from flow.nodes.base import NodeContext, NodeSettings
from flow.nodes.end_conversation import EndConversationTool
from flow.nodes.tool_base import ToolSet


class StubbedTool:
    """A tool answered with a fixed output instead of running (``voxflow test``'s ``tools:`` stubs).

    The model sees the real tool's name, description and parameters; the call
    goes through the session's tool runner like any other (checked arguments,
    a transcript entry, ``ToolCallUpdated``), only the node is not asked: a
    scenario test of a weather flow must not need the internet.
    """

    def __init__(self, tool: Tool, output: str) -> None:
        self.name = tool.name
        self.description = tool.description
        self.parameters = tool.parameters
        self.confirm = False  # nothing runs: there is nothing to approve
        self.node_id = tool.node_id
        self.output = output

    async def call(self, arguments: dict[str, Any]) -> str:
        return self.output

    def secrets(self) -> Sequence[str]:
        return ()


def connected_tools(ctx: NodeContext) -> list[Tool]:
    """Every tool on the ``tools`` input, in edge order (stubbed where the run says so); two with one name are an error."""
    tools: list[Tool] = []
    owner: dict[str, str] = {}
    stubs = ctx.options.tool_stubs
    for toolset in ctx.inputs_of("tools"):
        if not isinstance(toolset, ToolSet):
            continue
        for tool in toolset.tools:
            if tool.name in owner:
                raise VoxflowError(f"two tools are named '{tool.name}' (nodes '{owner[tool.name]}' and '{toolset.node_id}')",
                                   hint="Rename one, or narrow an mcp-tools node with allow: [...].")
            owner[tool.name] = toolset.node_id
            tools.append(StubbedTool(tool, stubs[tool.name]) if tool.name in stubs else tool)
    return tools


def end_requested(tools: list[Any]) -> bool:
    """The model called an end-conversation tool."""
    for tool in tools:
        inner = getattr(tool, "inner", tool)
        if isinstance(inner, EndConversationTool) and inner.requested.is_set():
            return True
    return False


def local_rules(ctx: NodeContext | None, settings: NodeSettings) -> Any:
    """The node's ``local_script`` for an in-process local server (None without one)."""
    path_text = getattr(settings, "local_script", None)
    if not path_text or ctx is None:
        return None
    from audio.server.tool_script import ToolScript

    path = ctx.resolve_path(path_text)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise VoxflowError(f"local_script {path}: cannot read it ({getattr(error, 'strerror', None) or error})",
                           hint="Give a UTF-8 YAML file of rules (when, call, arguments, say).") from None
    return ToolScript.parse(text, str(path))
