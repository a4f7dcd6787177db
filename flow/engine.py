"""Runs a validated flow: each node starts when its connected inputs have values.

Independent nodes run concurrently as asyncio tasks. Outputs may be set many
times (streaming); downstream nodes start on the first value and follow later
ones through ``ctx.watch``. A failing node is marked ``error``; nodes that were
still waiting on it are ``cancelled`` with the reason; the rest finish.
Every change is published on :attr:`FlowEngine.events`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audio.base.clock import Clock
from audio.base.errors import VoxflowError
from audio.base.pubsub import EventHub
from audio.base.registry import AudioRegistry, default_registry
from flow.events import (
    EdgeState,
    EdgeStateChanged,
    FlowEvent,
    FlowFinished,
    FlowReset,
    FlowStarted,
    NodeEvent,
    NodeOutput,
    NodeStatus,
    NodeStatusChanged,
)
from flow.model import Edge, Flow
from flow.nodes.base import Node
from flow.options import RunOptions

log = logging.getLogger(__name__)


@dataclass
class _Output:
    value: Any = None
    version: int = 0  # 0: no value yet


@dataclass
class _NodeContext:
    """The engine's side of :class:`flow.nodes.base.NodeContext`."""

    engine: FlowEngine
    node_id: str
    inputs: dict[str, Edge] = field(default_factory=dict)
    outputs: set[str] = field(default_factory=set)
    many: dict[str, list[Edge]] = field(default_factory=dict)  # every edge per input port

    @property
    def registry(self) -> AudioRegistry:
        return self.engine.registry

    @property
    def options(self) -> RunOptions:
        return self.engine.options

    @property
    def clock(self) -> Clock:
        return self.engine.options.clock

    def is_connected(self, port: str) -> bool:
        return port in self.inputs or port in self.outputs

    def resolve_path(self, path: str) -> Path:
        candidate = Path(path).expanduser()
        if candidate.is_absolute() or self.engine.flow.path is None:
            return candidate
        return self.engine.flow.path.parent / candidate

    def input(self, port: str) -> Any:
        edge = self.inputs.get(port)
        if edge is None:
            return None
        return self.engine.output(edge.from_node, edge.from_port)

    def inputs_of(self, port: str) -> list[Any]:
        return [self.engine.output(edge.from_node, edge.from_port) for edge in self.many.get(port, [])]

    def set_busy(self, busy: bool) -> None:
        self.engine.set_busy(self.node_id, busy)

    async def until_consumers_finish(self) -> None:
        engine = self.engine
        consumers = {edge.to_node for edge in engine.flow.outgoing(self.node_id)}
        await engine.wait_until(lambda: all(engine.status(node).finished for node in consumers))

    async def watch(self, port: str) -> AsyncIterator[Any]:
        edge = self.inputs.get(port)
        if edge is None:
            return
        node, out = edge.from_node, edge.from_port
        seen = 0
        engine = self.engine
        while True:
            await engine.wait_until(lambda: engine.output_version(node, out) != seen or engine.status(node).finished)
            version, value = engine.output_version(node, out), engine.output(node, out)
            finished = engine.status(node).finished
            if version != seen:
                seen = version
                yield value
            if finished and version == seen:
                return

    def emit(self, port: str, value: Any) -> None:
        self.engine.emit(self.node_id, port, value)

    def publish(self, payload: Any) -> None:
        self.engine.events.publish(NodeEvent(self.node_id, payload, self.engine.now()))


class FlowEngine:
    """Runs one flow; reusable: ``run`` again after it finished, ``reset`` to clear."""

    def __init__(self, flow: Flow, *, registry: AudioRegistry | None = None, options: RunOptions | None = None) -> None:
        self.flow = flow
        self.registry = registry if registry is not None else default_registry
        self.options = options if options is not None else RunOptions()
        self.events: EventHub[FlowEvent] = EventHub()
        self.nodes: dict[str, Node] = {spec.id: spec.node_class(spec.id, spec.settings, spec.label) for spec in flow.nodes}
        self._status: dict[str, NodeStatus] = dict.fromkeys(self.nodes, NodeStatus.IDLE)
        self._reasons: dict[str, str | None] = dict.fromkeys(self.nodes)
        self._edge_states: dict[str, EdgeState] = {str(edge): EdgeState.IDLE for edge in flow.edges}
        self._outputs: dict[tuple[str, str], _Output] = {}
        self._tick = asyncio.Event()
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running = False
        self._stopping = False
        self._reset_outputs()

    # -- queries -------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._running

    def status(self, node_id: str) -> NodeStatus:
        return self._status[node_id]

    def reason(self, node_id: str) -> str | None:
        return self._reasons[node_id]

    def edge_state(self, edge: str) -> EdgeState:
        return self._edge_states[edge]

    def output(self, node_id: str, port: str) -> Any:
        output = self._outputs.get((node_id, port))
        return output.value if output else None

    def output_version(self, node_id: str, port: str) -> int:
        """How many times the output was set this run (0: no value yet)."""
        output = self._outputs.get((node_id, port))
        return output.version if output else 0

    def now(self) -> float:
        return self.options.clock.monotonic()

    # -- what a running node does through its context ------------------------

    def set_busy(self, node_id: str, busy: bool) -> None:
        """A streaming node is working on a value (running) or waiting for the next one."""
        self._set_status(node_id, NodeStatus.RUNNING if busy else NodeStatus.WAITING)

    async def wait_until(self, predicate: Callable[[], bool]) -> None:
        """Until ``predicate`` holds; it is checked again on every change of a status or an output."""
        while not predicate():
            await self._tick.wait()

    def emit(self, node_id: str, port: str, value: Any) -> None:
        """Set an output of ``node_id`` (downstream nodes start or follow)."""
        output = self._outputs.get((node_id, port))
        if output is None:
            raise VoxflowError(f"node '{node_id}' has no output port '{port}'")
        output.value = value
        output.version += 1
        self.events.publish(NodeOutput(node_id, port, value, self.now()))
        for edge in self.flow.outgoing(node_id):
            if edge.from_port == port:
                self._set_edge(str(edge), EdgeState.FLOWING)
        self._notify()

    # -- control -------------------------------------------------------------

    async def run(self) -> bool:
        """Run every node to the end; True when no node ended in error."""
        if self._running:
            raise VoxflowError("the flow is already running: stop it first")
        self._running = True
        self._stopping = False
        self._reset_outputs()
        self.events.publish(FlowStarted(self.flow.name, self.now()))
        for node_id in self.nodes:
            self._reasons[node_id] = None
            self._set_status(node_id, NodeStatus.WAITING)
        for edge in self._edge_states:
            self._set_edge(edge, EdgeState.IDLE)
        try:
            self._tasks = {
                node_id: asyncio.create_task(self._run_node(node_id), name=f"node {node_id}") for node_id in self.nodes
            }
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        finally:
            self._tasks = {}
            self._running = False
        ok = all(status != NodeStatus.ERROR for status in self._status.values())
        self.events.publish(FlowFinished(ok=ok, at=self.now(), stopped=self._stopping))
        return ok

    def request_start(self) -> None:
        """The front end's "start" key: nodes that wait for a manual start begin now."""
        for node in self.nodes.values():
            node.request_start()

    async def stop(self) -> None:
        """Cancel running and waiting nodes; they release what they hold."""
        if not self._running:
            return
        self._stopping = True
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def reset(self) -> None:
        """Clear outputs, statuses and the audio registry so the flow can run afresh."""
        if self._running:
            raise VoxflowError("stop the flow before resetting it")
        self._reset_outputs()
        self.registry.clear()
        for node in self.nodes.values():
            node.reset()
        for node_id in self.nodes:
            self._reasons[node_id] = None
            self._set_status(node_id, NodeStatus.IDLE)
        for edge in self._edge_states:
            self._set_edge(edge, EdgeState.IDLE)
        self.events.publish(FlowReset(self.now()))

    # -- internals -----------------------------------------------------------

    def _reset_outputs(self) -> None:
        self._outputs = {
            (spec.id, port.name): _Output() for spec in self.flow.nodes for port in spec.node_class.outputs
        }

    def _set_status(self, node_id: str, status: NodeStatus, reason: str | None = None) -> None:
        self._status[node_id] = status
        self._reasons[node_id] = reason
        self.events.publish(NodeStatusChanged(node_id, status, self.now(), reason))
        self._notify()

    def _set_edge(self, edge: str, state: EdgeState) -> None:
        if self._edge_states[edge] != state:
            self._edge_states[edge] = state
            self.events.publish(EdgeStateChanged(edge, state, self.now()))

    def _notify(self) -> None:
        """Wake every waiter; each re-checks its own condition."""
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()

    def _context(self, node_id: str) -> _NodeContext:
        many: dict[str, list[Edge]] = {}
        for edge in self.flow.incoming(node_id):
            many.setdefault(edge.to_port, []).append(edge)
        return _NodeContext(
            engine=self,
            node_id=node_id,
            inputs={edge.to_port: edge for edge in self.flow.incoming(node_id)},
            outputs={edge.from_port for edge in self.flow.outgoing(node_id)},
            many=many,
        )

    async def _wait_for_inputs(self, ctx: _NodeContext) -> str | None:
        """Wait until every connected input has a value; return why not, if never."""
        for port, edge in ((port, edge) for port, edges in ctx.many.items() for edge in edges):
            key = (edge.from_node, edge.from_port)
            def arrived(key: tuple[str, str] = key, upstream: str = edge.from_node) -> bool:
                return self._outputs[key].version > 0 or self._status[upstream].finished

            await self.wait_until(arrived)
            if self._outputs[key].version == 0:
                upstream = self._status[edge.from_node]
                if upstream == NodeStatus.ERROR:
                    return f"upstream node '{edge.from_node}' failed"
                if upstream == NodeStatus.CANCELLED:
                    return f"upstream node '{edge.from_node}' was cancelled"
                return f"input '{port}' got no value: node '{edge.from_node}' finished without output '{edge.from_port}'"
        return None

    async def _run_node(self, node_id: str) -> None:
        node = self.nodes[node_id]
        ctx = self._context(node_id)
        try:
            missing = await self._wait_for_inputs(ctx)
            if missing is not None:
                self._set_status(node_id, NodeStatus.CANCELLED, missing)
                return
            self._set_status(node_id, NodeStatus.RUNNING)
            await node.run(ctx)
        except asyncio.CancelledError:
            self._set_status(node_id, NodeStatus.CANCELLED, "stopped")
        except VoxflowError as error:
            self._set_status(node_id, NodeStatus.ERROR, str(error))
        except Exception as error:  # a bug in a node must not take the flow down
            log.exception("node %s failed", node_id)
            self._set_status(node_id, NodeStatus.ERROR, f"{type(error).__name__}: {error}")
        else:
            self._set_status(node_id, NodeStatus.DONE)
        finally:
            for edge in self.flow.outgoing(node_id):
                if self._outputs[(edge.from_node, edge.from_port)].version > 0:
                    self._set_edge(str(edge), EdgeState.DONE)
            self._notify()
