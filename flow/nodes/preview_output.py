"""preview-output: shows text as it streams in and keeps it for display and export."""

from __future__ import annotations

from flow.nodes.base import Node, NodeContext, NodeSettings, Port, PortType


class PreviewOutputSettings(NodeSettings):
    pass


class PreviewOutputNode(Node):
    type_name = "preview-output"
    summary = "Displays the text it receives, live as it streams."
    Settings = PreviewOutputSettings
    inputs = (Port("text", PortType.TEXT, description="Text to show; updates stream in."),)

    def __init__(self, node_id: str, settings: NodeSettings, label: str | None = None) -> None:
        super().__init__(node_id, settings, label)
        self.latest: str | None = None
        self.updates = 0

    async def run(self, ctx: NodeContext) -> None:
        async for value in ctx.watch("text"):
            self.latest = value
            self.updates += 1

    def reset(self) -> None:
        self.latest = None
        self.updates = 0
