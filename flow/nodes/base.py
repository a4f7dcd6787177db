"""What a node type is: a settings model, ports, and an async ``run``.

A node type is one module with one :class:`Node` subclass, registered by its
``type_name`` in :mod:`flow.nodes.registry`. The engine builds an instance per
node in the flow, waits until every *connected* input has a value, then awaits
``run(ctx)``. A node sets outputs with ``ctx.emit`` as often as it likes (a
transcript grows); downstream nodes start on the first value and can follow
later ones with ``ctx.watch``.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from audio.base.clock import Clock
from audio.base.registry import AudioRegistry

if TYPE_CHECKING:
    from flow.options import RunOptions


class PortType(StrEnum):
    TEXT = "text"    # carries str
    AUDIO = "audio"  # carries audio.base.edge.AudioEdgeData
    PULSE = "pulse"  # a signal with no value (carries PULSE)
    TOOL = "tool"    # carries flow.nodes.tool_base.ToolSet: functions a conversation may call


class _Pulse:
    _instance: ClassVar[_Pulse | None] = None

    def __new__(cls) -> _Pulse:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "PULSE"


PULSE = _Pulse()
"""The value a pulse edge carries."""


@dataclass(frozen=True)
class Port:
    name: str
    type: PortType
    required: bool = True  # inputs only: must be connected for the flow to validate
    many: bool = False  # inputs only: takes any number of edges (a conversation's ``tools``)
    description: str = ""


class NodeSettings(BaseModel):
    """Base of every node type's settings: unknown settings are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeContext(Protocol):
    """What the engine gives a running node."""

    node_id: str

    @property
    def registry(self) -> AudioRegistry: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def options(self) -> RunOptions: ...

    def is_connected(self, port: str) -> bool:
        """Whether an edge feeds input ``port`` or leaves output ``port``."""
        ...

    def resolve_path(self, path: str) -> Path:
        """A path from the flow's settings: relative ones are relative to the flow file's folder."""
        ...

    def input(self, port: str) -> Any:
        """The latest value of a connected input (None when unconnected)."""
        ...

    def inputs_of(self, port: str) -> list[Any]:
        """The latest value of every edge into a ``many`` input, in edge order."""
        ...

    def set_busy(self, busy: bool) -> None:
        """A serving node (a tool) shows ``running`` while it works and ``waiting`` in between."""
        ...

    async def until_consumers_finish(self) -> None:
        """Until every node this node's outputs feed has finished (serving nodes live that long)."""
        ...

    def watch(self, port: str) -> AsyncIterator[Any]:
        """The input's current value, then each new one, until its source node finishes."""
        ...

    def emit(self, port: str, value: Any) -> None:
        """Set an output; may be called again with a newer value (streaming)."""
        ...

    def publish(self, payload: Any) -> None:
        """Hand a node-specific object to front ends (a ``NodeEvent`` on the engine's hub)."""
        ...


class Node(abc.ABC):
    """One node of a flow. Subclasses set the class attributes and implement ``run``."""

    type_name: ClassVar[str]
    summary: ClassVar[str] = ""
    Settings: ClassVar[type[NodeSettings]] = NodeSettings
    inputs: ClassVar[tuple[Port, ...]] = ()
    outputs: ClassVar[tuple[Port, ...]] = ()
    dynamic_inputs: ClassVar[PortType | None] = None
    """When set, any input name is accepted (all of this type), e.g. string-combine's a, b, ..."""

    def __init__(self, node_id: str, settings: NodeSettings, label: str | None = None) -> None:
        self.id = node_id
        self.settings = settings
        self.label = label

    @abc.abstractmethod
    async def run(self, ctx: NodeContext) -> None:
        """Do the node's work. Cancellation means stop: release what you hold and re-raise."""

    def request_start(self) -> None:
        """A manual start (the front end's "start" key); nodes that wait for one override this."""

    def reset(self) -> None:
        """Forget what a previous run produced (flow reset)."""

    @classmethod
    def check_wiring(cls, settings: NodeSettings, inputs: set[str], outputs: set[str]) -> list[str]:
        """Problems that depend on settings and connections together (validated before running).

        ``inputs``/``outputs`` are the names of the connected ports. Return one
        message per problem, each saying how to fix it.
        """
        return []

    @classmethod
    def check_settings(cls, settings: NodeSettings) -> list[tuple[tuple[str | int, ...], str]]:
        """Problems within the settings, each with the path of the setting it is about (for its position)."""
        return []

    @classmethod
    def tool_names(cls, settings: NodeSettings) -> list[str]:
        """Function names this node offers that are known before running (duplicates are errors)."""
        return []

    @classmethod
    def input_port(cls, name: str) -> Port | None:
        for port in cls.inputs:
            if port.name == name:
                return port
        if cls.dynamic_inputs is not None:
            return Port(name, cls.dynamic_inputs)
        return None

    @classmethod
    def output_port(cls, name: str) -> Port | None:
        for port in cls.outputs:
            if port.name == name:
                return port
        return None
