"""Typed events the flow engine publishes (``FlowEngine.events``).

Front ends subscribe to these and to each realtime session's events; they never
poll the engine. Every event carries ``at``, the engine clock's monotonic time.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class NodeStatus(StrEnum):
    IDLE = "idle"
    WAITING = "waiting"
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self in (NodeStatus.DONE, NodeStatus.ERROR, NodeStatus.CANCELLED)


class EdgeState(StrEnum):
    IDLE = "idle"        # no value yet
    FLOWING = "flowing"  # has a value; its source is still running (more may come)
    DONE = "done"        # its source finished


@dataclass(frozen=True)
class FlowStarted:
    flow_name: str
    at: float


@dataclass(frozen=True)
class FlowFinished:
    """The run ended; ``ok`` is False when any node ended in error."""

    ok: bool
    at: float
    stopped: bool = False  # ended by stop()


@dataclass(frozen=True)
class FlowReset:
    at: float


@dataclass(frozen=True)
class NodeStatusChanged:
    node_id: str
    status: NodeStatus
    at: float
    reason: str | None = None  # the error message, or why it was cancelled


@dataclass(frozen=True)
class EdgeStateChanged:
    edge: str  # "from_node.port->to_node.port"
    state: EdgeState
    at: float


@dataclass(frozen=True)
class NodeOutput:
    """A node set an output (possibly again: streaming)."""

    node_id: str
    port: str
    value: Any
    at: float


@dataclass(frozen=True)
class NodeEvent:
    """A node-specific object for front ends, e.g. the realtime node's live session."""

    node_id: str
    payload: Any
    at: float


FlowEvent = FlowStarted | FlowFinished | FlowReset | NodeStatusChanged | EdgeStateChanged | NodeOutput | NodeEvent
