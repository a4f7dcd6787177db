"""text-input: a fixed piece of text, such as a persona or instructions."""

from __future__ import annotations

from pydantic import Field

from flow.nodes.base import Node, NodeContext, NodeSettings, Port, PortType


class TextInputSettings(NodeSettings):
    text: str = Field(description="The text this node outputs.")


class TextInputNode(Node):
    type_name = "text-input"
    summary = "Outputs a fixed text."
    Settings = TextInputSettings
    outputs = (Port("text", PortType.TEXT, description="The configured text."),)

    async def run(self, ctx: NodeContext) -> None:
        assert isinstance(self.settings, TextInputSettings)
        ctx.emit("text", self.settings.text)
