"""The app's binding to the flow engine: engine events to the nodes panel, and the run, stop and reset keys.

Part of :class:`~tui.app.VoxflowApp`. Statuses, edges and outputs go straight
to the nodes panel; a realtime node's published session is followed
(:class:`~tui.session_binding.SessionBinding`); the keys call the engine's own
methods, and ``--max-duration`` bounds the whole run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from audio.base.errors import VoxflowError
from flow.events import (
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
from flow.options import RunOptions
from tui.engine_seam import EngineFactory, EngineLike
from tui.provider import REALTIME_NODE_TYPE
from tui.screens.main import MainScreen
from tui.session_binding import SessionBinding, is_session
from tui.view_messages import ViewChanged


class FlowBinding(SessionBinding):
    """Follows the engine's events and runs, stops and resets the flow."""

    options: RunOptions
    engine_factory: EngineFactory
    engine: EngineLike | None = None
    main: MainScreen | None = None
    _unsubscribe_engine: Callable[[], None] | None = None
    _cap_timer: Any = None  # stops the run at --max-duration

    def new_engine(self) -> None:
        """A fresh engine for the current flow, its events followed (a changed setting needs one)."""
        assert self.flow is not None
        if self._unsubscribe_engine is not None:
            self._unsubscribe_engine()
        self.engine = self.engine_factory(self.flow, self.options)
        self._unsubscribe_engine = self.engine.events.add_callback(self.on_flow_event)

    def on_flow_event(self, event: FlowEvent) -> None:
        """Engine events: statuses and edges go straight to the nodes panel."""
        panel = self.main.nodes_panel if self.main is not None else None
        match event:
            case NodeStatusChanged(node_id=node_id, status=status, reason=reason):
                if panel is not None:
                    panel.set_status(node_id, status, reason)
            case EdgeStateChanged(edge=edge, state=state):
                if panel is not None:
                    panel.set_edge(edge, state)
            case NodeOutput(node_id=node_id, port=port, value=value):
                if panel is not None:
                    panel.set_output(node_id, port, value)
            case NodeEvent(node_id=node_id, payload=payload):
                if is_session(payload):
                    self.attach_session(node_id, payload)
            case FlowStarted():
                if panel is not None:
                    panel.clear_outputs()
                self.arm_cap()
            case FlowFinished(ok=ok, stopped=stopped):
                if stopped:
                    self.notify("Flow stopped.", timeout=3)
                elif ok:
                    self.notify("Flow finished.", timeout=3)
                else:
                    self.notify("The flow ended with an error: see the nodes panel.", severity="error", timeout=8)
                self.write_transcript_files()
            case FlowReset():
                pass

    async def action_run_flow(self) -> None:
        if self.engine is None:
            return
        if self.engine.running:
            if self._conversation_live():
                self.notify("The flow is already running: s stops it.", severity="warning")
                return
            # the conversation ended (an error, the time cap) while other nodes still run: start over
            await self.engine.stop()
        self._start_fresh_view()
        self.run_worker(self._run_engine(self.engine), name="flow", group="flow", exit_on_error=False)
        # a realtime node with no connected output waits for a manual start: r is that start
        self.engine.request_start()

    def arm_cap(self) -> None:
        """``--max-duration`` bounds the whole run, not only its sessions (an endless tone stops too)."""
        if self._cap_timer is not None:
            self._cap_timer.stop()
        cap = self.options.max_duration
        engine = self.engine

        async def stop_at_cap() -> None:
            if engine is self.engine and engine is not None and engine.running:
                self.notify(f"Reached --max-duration ({cap:g} s): the flow was stopped and its files completed.", timeout=8)
                await engine.stop()

        self._cap_timer = self.set_timer(cap, stop_at_cap, name="max-duration") if cap else None

    def _conversation_live(self) -> bool:
        """Whether a realtime node is still waiting or running (True for flows without one)."""
        specs = self.realtime_specs()
        if not specs or self.main is None:
            return True
        statuses = self.main.nodes_panel.statuses
        return any(statuses.get(spec.id) in (NodeStatus.WAITING, NodeStatus.RUNNING) for spec in specs)

    async def _run_engine(self, engine: EngineLike) -> None:
        try:
            await engine.run()
        except VoxflowError as error:
            self.notify(str(error), title="Cannot run the flow", severity="error", timeout=10)

    def _start_fresh_view(self) -> None:
        self.detach_session()
        self.session = None
        self.view.reset()
        self.transcript.clear()
        self.post_message(ViewChanged())

    async def action_stop_flow(self) -> None:
        if self.engine is None or not self.engine.running:
            self.notify("The flow is not running.", timeout=3)
            return
        await self.engine.stop()

    async def action_reset_flow(self) -> None:
        if self.engine is None:
            return
        if self.engine.running:
            await self.engine.stop()
        try:
            self.engine.reset()
        except VoxflowError as error:
            self.notify(str(error), severity="error")
            return
        self._start_fresh_view()
        if self.main is not None:
            self.main.nodes_panel.clear_outputs()
        self.notify("Reset: transcript, statuses and audio streams cleared.", timeout=3)

    def realtime_specs(self) -> list[Any]:
        """The flow's realtime-conversation nodes."""
        return [spec for spec in (self.flow.nodes if self.flow else ()) if spec.type == REALTIME_NODE_TYPE]
