"""The voxflow Textual app: runs one flow and shows its nodes, session and transcript.

The app holds no session logic. It builds a :class:`~flow.engine.FlowEngine`,
subscribes to its events and, when the realtime node publishes its live
session (a ``NodeEvent`` whose payload has ``events``), to the session's
events. Events only update display models (:class:`SessionView`,
:class:`TranscriptModel`, the nodes panel); a 20 Hz timer repaints what
changed. Keys call the engine's and the session's own methods. Everything runs
on Textual's asyncio loop; the engine runs as a worker on that same loop.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeGuard

from textual import events
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from audio.clock import Clock
from audio.errors import VoxflowError
from audio.pubsub import EventHub
from audio.realtime.events import (
    Notice,
    SessionErrorEvent,
    SessionEvent,
    SessionState,
    StateChanged,
    TranscriptCleared,
    TranscriptUpdated,
)
from audio.realtime.live import LiveSession
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
from flow.model import Flow
from flow.options import RunOptions
from tui.exporter import export_session
from tui.provider import REALTIME_NODE_TYPE, choose_provider
from tui.recent import RecentFlows
from tui.screens.help import HelpScreen
from tui.screens.keys import APP_KEYS, MAIN_KEYS
from tui.screens.main import MainScreen
from tui.screens.picker import FlowPickerScreen
from tui.screens.prompts import ChoiceScreen, TextMessageScreen
from tui.screens.too_small import MIN_HEIGHT, MIN_WIDTH, TooSmallScreen
from tui.session_view import SessionView
from tui.speaker_fallback import fall_back_to_file
from tui.transcript_model import TranscriptModel
from tui.widgets.connection_panel import vad_enabled

if TYPE_CHECKING:
    from audio.registry import AudioRegistry

log = logging.getLogger(__name__)

PAINT_INTERVAL = 1 / 20
"""The view repaints at most this often, however fast events arrive."""

VOICES = ("alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar")
VAD_MODES: tuple[tuple[str, str], ...] = (
    ("server_vad", "server VAD: the service detects when you stop talking"),
    ("semantic_vad", "semantic VAD: waits until you sound finished"),
    ("disabled", "off: push-to-talk with space"),
)


class EngineLike(Protocol):
    """What the app needs of a flow engine (``flow.engine.FlowEngine`` fits)."""

    events: EventHub[FlowEvent]
    registry: AudioRegistry

    @property
    def running(self) -> bool: ...

    def request_start(self) -> None: ...

    async def run(self) -> bool: ...

    async def stop(self) -> None: ...

    def reset(self) -> None: ...


EngineFactory = Callable[[Flow, RunOptions], EngineLike]


def default_engine_factory(flow: Flow, options: RunOptions) -> EngineLike:
    from audio.registry import AudioRegistry
    from flow.engine import FlowEngine

    return FlowEngine(flow, registry=AudioRegistry(), options=options)


def is_session(payload: object) -> TypeGuard[LiveSession]:
    """Whether a node published a live realtime session."""
    return isinstance(payload, LiveSession)


class VoxflowApp(App[None]):
    CSS_PATH = "styles/app.tcss"
    TITLE = "voxflow"
    BINDINGS = [
        Binding("ctrl+q", "quit_voxflow", "Quit", priority=True, key_display="^q"),
        Binding("question_mark", "help", "Help", key_display="?"),
    ]

    def __init__(
        self,
        flow: Flow | None = None,
        *,
        options: RunOptions | None = None,
        clock: Clock | None = None,
        engine_factory: EngineFactory | None = None,
        flows_dir: Path = Path("flows"),
        recent: RecentFlows | None = None,
        export_dir: Path = Path("exports"),
        transcript_path: Path | None = None,
        check_speaker: bool = False,
        start: bool = False,
    ) -> None:
        super().__init__()
        self.start_on_open = start  # run the flow as soon as it is shown (``voxflow run --start``)
        self.options = options if options is not None else RunOptions()
        if clock is not None:
            self.options.clock = clock
        self.clock: Clock = self.options.clock
        self.engine_factory: EngineFactory = engine_factory or default_engine_factory
        self.flows_dir = flows_dir
        self.recent = recent if recent is not None else RecentFlows()
        self.export_dir = export_dir
        self.transcript_path = transcript_path
        self.check_speaker = check_speaker  # probe for a speaker (real runs; tests leave devices alone)
        self.flow: Flow | None = flow
        self.provider_label = ""
        self.engine: EngineLike | None = None
        self.session: LiveSession | None = None
        self.session_node: str | None = None
        self.view = SessionView()
        self.transcript = TranscriptModel()
        self.main: MainScreen | None = None
        self._view_dirty = True
        self._connection_layout: tuple[object, ...] = ()
        self._unsubscribe_engine: Callable[[], None] | None = None
        self._unsubscribe_session: Callable[[], None] | None = None
        self._too_small: TooSmallScreen | None = None
        self._mounted = False
        self.session_events = 0

    # -- start-up -------------------------------------------------------------

    def on_mount(self) -> None:
        if self.flow is not None:
            self._show_flow(self.flow)
        else:
            self.push_screen(FlowPickerScreen(self.flows_dir, self.recent.existing()))
        self.set_interval(PAINT_INTERVAL, self.paint, name="paint")
        self._mounted = True
        self._check_size(self.size.width, self.size.height)
        if self.start_on_open and self.flow is not None:
            self.call_after_refresh(self.run_action, "run_flow")

    def on_flow_picker_screen_chosen(self, message: FlowPickerScreen.Chosen) -> None:
        from flow.loader import load_flow

        try:
            flow = load_flow(message.path)
        except VoxflowError as error:
            self.notify(str(error), title="Cannot open this flow", severity="error", timeout=10)
            return
        self.recent.add(message.path)
        self.pop_screen()
        self._show_flow(flow)

    def _show_flow(self, flow: Flow) -> None:
        self.flow = flow
        self.provider_label = choose_provider(flow, self.options)
        fallback = fall_back_to_file(flow, self.options) if self.check_speaker else None
        self._new_engine()
        self.main = MainScreen(flow, self.view, self.provider_label)
        self._show_output_note()
        self.push_screen(self.main)
        if fallback is not None:
            self.notify(f"No speaker here: the assistant's audio is written to {fallback}", timeout=8)

    def _new_engine(self) -> None:
        assert self.flow is not None
        if self._unsubscribe_engine is not None:
            self._unsubscribe_engine()
        self.engine = self.engine_factory(self.flow, self.options)
        self._unsubscribe_engine = self.engine.events.add_callback(self.on_flow_event)

    def _show_output_note(self) -> None:
        """Where the assistant's audio goes when it is written to a file, so the user can find it."""
        if self.main is None or self.flow is None:
            return
        notes = []
        if self.options.output_file is not None:
            notes.append(f"→ {self.options.output_file}")
        else:
            for spec in self.flow.nodes:
                if spec.type == "audio-output" and getattr(spec.settings, "sink", None) == "file":
                    notes.append(f"→ {getattr(spec.settings, 'path', '?')}")
        if self.options.record_path is not None:
            notes.append(f"recording → {self.options.record_path}")
        self.main.connection.output_note = " · ".join(notes) or None
        self._view_dirty = True

    # -- size -------------------------------------------------------------------

    def on_resize(self, event: events.Resize) -> None:
        self._check_size(event.size.width, event.size.height)

    def _check_size(self, width: int, height: int) -> None:
        if not self._mounted:
            return
        small = width < MIN_WIDTH or height < MIN_HEIGHT
        if small and self._too_small is None:
            self._too_small = TooSmallScreen()
            self.push_screen(self._too_small)
        elif small and self._too_small is not None:
            if self._too_small.is_mounted:
                self._too_small.show_size(width, height)
        elif not small and self._too_small is not None:
            screen, self._too_small = self._too_small, None
            if self.screen is screen:
                self.pop_screen()

    # -- events -----------------------------------------------------------------

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
            case FlowFinished(ok=ok, stopped=stopped):
                if stopped:
                    self.notify("Flow stopped.", timeout=3)
                elif ok:
                    self.notify("Flow finished.", timeout=3)
                else:
                    self.notify("The flow ended with an error: see the nodes panel.", severity="error", timeout=8)
                self._write_transcript_file()
            case FlowReset():
                pass

    def attach_session(self, node_id: str, session: LiveSession) -> None:
        """Follow a live session's events (a new session replaces the previous one)."""
        self.detach_session()
        self.session = session
        self.session_node = node_id
        self._unsubscribe_session = session.events.add_callback(self.on_session_event)
        # what the session already is, before its next event says so
        self.view.apply(session.connection_info)
        if session.state != self.view.state:
            self.view.apply(StateChanged(session.state, session.reason))
        self._view_dirty = True

    def detach_session(self) -> None:
        if self._unsubscribe_session is not None:
            self._unsubscribe_session()
            self._unsubscribe_session = None

    def on_session_event(self, event: SessionEvent) -> None:
        """Session events update the display models; the paint timer shows them."""
        self.session_events += 1
        if isinstance(event, (TranscriptUpdated, TranscriptCleared)):
            self.transcript.apply(event)
            return
        self.view.apply(event)
        self._view_dirty = True
        if isinstance(event, SessionErrorEvent):
            title = "Session error" + (f" ({event.code})" if event.code else "")
            self.notify(event.message, title=title, severity="error", timeout=10)
        elif isinstance(event, StateChanged) and event.state == SessionState.ERROR:
            self.notify(event.reason or "the session failed", title="Session error", severity="error", timeout=10)
        elif isinstance(event, Notice):
            self.notify(event.message, severity="warning" if event.level == "warning" else "information")

    def paint(self) -> None:
        """Repaint what changed since the last paint (called by a 20 Hz timer)."""
        if self.main is None or not self.main.is_mounted:
            return
        if self._view_dirty:
            self._view_dirty = False
            self.main.header.refresh()
            connection = self.main.connection
            key = connection.layout_key()
            connection.refresh(layout=key != self._connection_layout)
            self._connection_layout = key
        changes = self.transcript.take_changes()
        if not changes.empty:
            self.main.transcript.paint(changes)

    # -- actions (keys, footer, command palette) -------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in _MAIN_ACTIONS and (self.main is None or self.screen is not self.main):
            return False
        return True

    def _ready_session(self, what: str) -> LiveSession | None:
        """The connected session, or None (and a hint) when there is none."""
        if self.session is None or self.view.state != SessionState.CONNECTED:
            self.notify(f"{what} needs a connected session: press r to run the flow first.", severity="warning")
            return None
        return self.session

    def _call(self, action: Awaitable[object]) -> None:
        """Run a session coroutine in a worker; show a VoxflowError it raises."""

        async def run() -> None:
            try:
                await action
            except VoxflowError as error:
                self.notify(str(error), severity="error", timeout=8)

        self.run_worker(run(), group="session-call", exit_on_error=False)

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

    def _conversation_live(self) -> bool:
        """Whether a realtime node is still waiting or running (True for flows without one)."""
        specs = self._realtime_specs()
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
        self._view_dirty = True

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

    def action_push_to_talk(self) -> None:
        session = self._ready_session("Push-to-talk")
        if session is None:
            return
        if vad_enabled(self.view.vad):
            self.notify(
                f"Push-to-talk is off while VAD ({self.view.vad}) detects your turns: just speak. "
                "For push-to-talk, stop (s), press d, choose off, then run again.",
                timeout=8,
            )
            return
        self._call(session.ptt_toggle())

    def action_toggle_mute(self) -> None:
        session = self._ready_session("Mute")
        if session is None:
            return
        if self.view.muted:
            session.unmute()
        else:
            session.mute()

    def _realtime_specs(self) -> list[Any]:
        return [spec for spec in (self.flow.nodes if self.flow else ()) if spec.type == REALTIME_NODE_TYPE]

    def _can_change_settings(self, what: str) -> bool:
        if not self._realtime_specs():
            self.notify("This flow has no realtime-conversation node.", severity="warning")
            return False
        if self.view.audio_started and self.engine is not None and self.engine.running:
            self.notify(f"The {what} is locked once the assistant has spoken: stop (s), change it, run again.", severity="warning")
            return False
        if self.engine is not None and self.engine.running:
            self.notify(f"The {what} can be changed only before the session starts: stop (s) first.", severity="warning")
            return False
        return True

    def action_pick_voice(self) -> None:
        if not self._can_change_settings("voice"):
            return
        current = getattr(self._realtime_specs()[0].settings, "voice", None)
        self.push_screen(
            ChoiceScreen("Voice", [(v, v) for v in VOICES], current, note="The voice locks after the assistant's first audio."),
            lambda choice: self._change_setting("voice", choice),
        )

    def action_pick_vad(self) -> None:
        if not self._can_change_settings("VAD mode"):
            return
        field_name = _vad_field(self._realtime_specs()[0].settings)
        current = getattr(self._realtime_specs()[0].settings, field_name, None) if field_name else None
        self.push_screen(
            ChoiceScreen("Turn detection", list(VAD_MODES), str(current) if current is not None else None),
            lambda choice: self._change_setting(field_name or "vad", choice),
        )

    def _change_setting(self, name: str, value: str | None) -> None:
        """Apply a voice/VAD choice to every realtime node of the flow; a fresh engine picks it up."""
        if value is None or self.flow is None:
            return
        nodes = []
        for spec in self.flow.nodes:
            if spec.type == REALTIME_NODE_TYPE and name in type(spec.settings).model_fields:
                settings = type(spec.settings).model_validate({**spec.settings.model_dump(), name: value})
                spec = replace(spec, settings=settings)
            nodes.append(spec)
        self.flow = replace(self.flow, nodes=tuple(nodes), _by_id={})
        self._new_engine()
        if self.main is not None:
            self.main.flow = self.flow
            self.main.nodes_panel.flow = self.flow
            self.main.nodes_panel.clear_outputs()
        self.notify(f"{name} set to {value}; it applies from the next run.", timeout=4)

    def action_type_message(self) -> None:
        session = self._ready_session("A text message")
        if session is None:
            return

        def send(text: str | None) -> None:
            if text:
                self._call(session.send_text(text))

        self.push_screen(TextMessageScreen(), send)

    def action_export(self) -> None:
        if self.session is None:
            self.notify("Nothing to export yet: run the flow first.", severity="warning")
            return
        try:
            written = export_session(self.session, self.export_dir, self.flow.name if self.flow else "flow", self.clock)
        except VoxflowError as error:
            self.notify(str(error), severity="error", timeout=8)
            return
        lines = [str(path) for path in written]
        if self.options.record_path is not None:
            lines.append(f"recording: {self.options.record_path}")
        self.notify("\n".join(lines), title="Exported", timeout=8)

    def _write_transcript_file(self) -> None:
        if self.transcript_path is None or self.session is None:
            return
        try:
            export_session(self.session, self.transcript_path.parent, self.transcript_path.stem, self.clock, exact=self.transcript_path)
        except VoxflowError as error:
            self.notify(str(error), severity="error", timeout=8)

    def action_jump_live(self) -> None:
        if self.main is not None:
            self.main.transcript.jump_live()

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit_voxflow(self) -> None:
        """Stop the session and the devices (the engine's nodes release them), then leave."""
        if self.engine is not None and self.engine.running:
            await self.engine.stop()
        if self.engine is not None:
            self.engine.registry.clear()
        self.detach_session()
        self.exit()

    def get_system_commands(self, screen: Screen[Any]) -> Any:
        yield from super().get_system_commands(screen)
        if self.main is not None:
            for command in MAIN_KEYS:
                yield SystemCommand(f"{command.label} ({command.shown})", command.help, getattr(self, f"action_{command.action}"))
        for command in APP_KEYS:
            yield SystemCommand(f"{command.label} ({command.shown})", command.help, getattr(self, f"action_{command.action}"))


_MAIN_ACTIONS = frozenset(command.action for command in MAIN_KEYS)


def _vad_field(settings: Any) -> str | None:
    for name in ("vad", "turn_detection", "vad_mode"):
        if name in type(settings).model_fields:
            return name
    return None
