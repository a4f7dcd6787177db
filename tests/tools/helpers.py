"""A test consumer of tool edges, so tool nodes run inside the real engine without a conversation."""

from __future__ import annotations

import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

from flow.engine import FlowEngine
from flow.loader import load_flow
from flow.nodes import registry
from flow.nodes.base import Node, NodeContext, Port, PortType

Scenario = Callable[[dict[str, Any], NodeContext], Awaitable[Any]]


class ToolUserNode(Node):
    """Collects every tool on its ``tools`` input and hands them to the test's scenario."""

    type_name = "test-tool-user"
    inputs = (Port("tools", PortType.TOOL, many=True),)
    scenario: ClassVar[Scenario | None] = None
    result: ClassVar[Any] = None

    async def run(self, ctx: NodeContext) -> None:
        tools = {tool.name: tool for toolset in ctx.inputs_of("tools") for tool in toolset.tools}
        assert ToolUserNode.scenario is not None
        ToolUserNode.result = await ToolUserNode.scenario(tools, ctx)


def install() -> None:
    registry.register("test-tool-user", "tests.tools.helpers:ToolUserNode")
    ToolUserNode.scenario = None
    ToolUserNode.result = None


def write_flow(folder: Path, nodes_yaml: str, tool_ids: list[str]) -> Path:
    edges = "".join(f"  - {{from: {node}.tool, to: user.tools}}\n" for node in tool_ids)
    path = folder / "tools.yaml"
    path.write_text("version: 1\nname: tools test\nnodes:\n" + textwrap.indent(textwrap.dedent(nodes_yaml), "  ")
                    + "  - {id: user, type: test-tool-user}\nedges:\n" + edges)
    return path


async def run_with(folder: Path, nodes_yaml: str, tool_ids: list[str], scenario: Scenario) -> tuple[FlowEngine, Any]:
    install()
    ToolUserNode.scenario = scenario
    engine = FlowEngine(load_flow(write_flow(folder, nodes_yaml, tool_ids)))
    await engine.run()
    return engine, ToolUserNode.result
