"""Test-only node types that make engine behaviour observable (registered per test)."""

from __future__ import annotations

import asyncio

from pydantic import Field

from audio.base.errors import VoxflowError
from flow.nodes import registry
from flow.nodes.base import PULSE, Node, NodeContext, NodeSettings, Port, PortType


class GateSettings(NodeSettings):
    fail: bool = False
    message: str = "boom"


class GateNode(Node):
    """Waits until the test opens its gate, then passes text through (or fails)."""

    type_name = "test-gate"
    Settings = GateSettings
    inputs = (Port("text", PortType.TEXT, required=False),)
    outputs = (Port("text", PortType.TEXT), Port("done", PortType.PULSE))
    gates: dict[str, asyncio.Event] = {}
    started: list[str] = []
    released: list[str] = []

    async def run(self, ctx: NodeContext) -> None:
        assert isinstance(self.settings, GateSettings)
        GateNode.started.append(self.id)
        gate = GateNode.gates.setdefault(self.id, asyncio.Event())
        try:
            await gate.wait()
        except asyncio.CancelledError:
            GateNode.released.append(self.id)
            raise
        if self.settings.fail:
            raise VoxflowError(self.settings.message)
        ctx.emit("text", f"{self.id}({ctx.input('text') or ''})")
        ctx.emit("done", PULSE)


class StreamSettings(NodeSettings):
    parts: list[str] = Field(default_factory=list)


class StreamNode(Node):
    """Emits a growing text, one part per tick of an asyncio.Event the test sets."""

    type_name = "test-stream"
    Settings = StreamSettings
    outputs = (Port("text", PortType.TEXT),)
    step: asyncio.Event | None = None

    async def run(self, ctx: NodeContext) -> None:
        assert isinstance(self.settings, StreamSettings)
        text = ""
        for part in self.settings.parts:
            text += part
            ctx.emit("text", text)
            if StreamNode.step is not None:
                await StreamNode.step.wait()
                StreamNode.step.clear()
            else:
                await asyncio.sleep(0)


class PulseSinkNode(Node):
    type_name = "test-pulse-sink"
    inputs = (Port("go", PortType.PULSE),)
    received: list[object] = []

    async def run(self, ctx: NodeContext) -> None:
        PulseSinkNode.received.append(ctx.input("go"))


def install() -> None:
    GateNode.gates.clear()
    GateNode.started.clear()
    GateNode.released.clear()
    PulseSinkNode.received.clear()
    StreamNode.step = None
    registry.register("test-gate", "tests.flow.helpers:GateNode")
    registry.register("test-stream", "tests.flow.helpers:StreamNode")
    registry.register("test-pulse-sink", "tests.flow.helpers:PulseSinkNode")


def uninstall() -> None:
    for name in ("test-gate", "test-stream", "test-pulse-sink"):
        registry._MODULES.pop(name, None)
        registry._loaded.pop(name, None)
    from flow.schema import node_document_model

    node_document_model.cache_clear()
