"""The voxflow Textual app: runs one flow and shows its nodes, session and transcript.

The app holds no session logic. It builds a :class:`~flow.engine.FlowEngine`,
subscribes to its events and, when the realtime node publishes its live
session (a ``NodeEvent`` whose payload has ``events``), to the session's
events. Events only update display models (:class:`SessionView`,
:class:`TranscriptModel`, the nodes panel). A view change posts a message
(``tui/view_messages.py``) that Textual merges with any like it still queued;
its handler hands the header and connection panel a copy of the view (their
``view`` reactives repaint). The transcript, whose deltas come by the hundred
per second, is caught up by a 20 Hz timer (a message per delta measured twice
the cost: ``tests/benchmarks/bench_transcript_stream.py``). Keys call the
engine's and the session's own methods. Everything runs on Textual's asyncio
loop; the engine runs as a worker on that same loop. See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import logging
import sys
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
from audio.realtime.config import VOICES
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
from tui.history import SessionHistory
from tui.live_transcript import LiveTranscript
from tui.provider import REALTIME_NODE_TYPE, choose_provider
from tui.quit_signals import QuitSignals
from tui.recent import RecentFlows
from tui.screens.help import HelpScreen
from tui.screens.keys import APP_KEYS, MAIN_KEYS
from tui.screens.main import MainScreen
from tui.screens.picker import FlowPickerScreen
from tui.screens.prompts import ChoiceScreen, TextMessageScreen
from tui.screens.too_small import MIN_HEIGHT, MIN_WIDTH, TooSmallScreen
from tui.session_view import SessionView
from tui.speaker_fallback import fall_back_to_file
from tui.terminal_driver import driver_writing_to
from tui.terminal_output import TerminalOutput
from tui.transcript_model import TranscriptModel
from tui.view_messages import ViewChanged
from tui.widgets.connection_panel import vad_enabled

if TYPE_CHECKING:
    from audio.registry import AudioRegistry

log = logging.getLogger(__name__)

TRANSCRIPT_PAINT_INTERVAL = 1 / 20
"""The transcript catches up at most this often, however fast deltas arrive."""


TERMINAL_GRACE = 0.25
"""After a quit signal, how long the screen may wait for the terminal before it is no longer drawn (seconds)."""


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
        history: SessionHistory | None = None,
        quit_on_signals: bool = False,
    ) -> None:
        # the real app draws through an output a lost terminal cannot block (tui/terminal_driver.py)
        terminal = TerminalOutput(sys.__stderr__) if quit_on_signals and sys.__stderr__ is not None else None
        super().__init__(driver_class=driver_writing_to(terminal) if terminal is not None else None)
        self.terminal = terminal
        self.start_on_open = start  # run the flow as soon as it is shown (``voxflow run --start``)
        self.options = options if options is not None else RunOptions()
        if clock is not None:
            self.options.clock = clock
        self.clock: Clock = self.options.clock
        if self.options.tool_approver is None:  # tools marked confirm ask here (y/n)
            from tui.screens.tool_confirm import ToolApprover

            self.options.tool_approver = ToolApprover(self)
        self.engine_factory: EngineFactory = engine_factory or default_engine_factory
        self.flows_dir = flows_dir
        self.recent = recent if recent is not None else RecentFlows()
        self.export_dir = export_dir
        self.transcript_path = transcript_path
        self.history = history  # None: keep no session history (--no-history, and tests)
        self.quit_on_signals = quit_on_signals  # SIGHUP/SIGTERM quit cleanly (the real app; tests leave signals alone)
        self.live_files: list[LiveTranscript] = []  # --transcript and the history, following the current session
        self._quit_signals: QuitSignals | None = None
        self.quit_requested = False  # by SIGHUP/SIGTERM or a lost terminal: the CLI then bounds the process's exit
        self._cap_timer: Any = None  # stops the run at --max-duration
        self.check_speaker = check_speaker  # probe for a speaker (real runs; tests leave devices alone)
        self.flow: Flow | None = flow
        self.provider_label = ""
        self.engine: EngineLike | None = None
        self.session: LiveSession | None = None
        self.session_node: str | None = None
        self.view = SessionView()
        self.transcript = TranscriptModel()
        self.main: MainScreen | None = None
        self._unsubscribe_engine: Callable[[], None] | None = None
        self._unsubscribe_session: Callable[[], None] | None = None
        self._too_small: TooSmallScreen | None = None
        self._mounted = False
        self.session_events = 0

    # -- start-up -------------------------------------------------------------

    def on_mount(self) -> None:
        self.set_interval(TRANSCRIPT_PAINT_INTERVAL, self.paint_transcript, name="transcript")
        if self.flow is not None:
            self._show_flow(self.flow)
        else:
            self.push_screen(FlowPickerScreen(self.flows_dir, self.recent.existing()))
        if self.quit_on_signals:
            self._quit_signals = QuitSignals(self.action_quit_voxflow, at_once=self._on_quit_request)
            self._quit_signals.install()
            if self.terminal is not None:
                self.terminal.on_lost = self._quit_signals.request  # a hang-up nobody signalled quits too
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
        self.call_after_refresh(self.paint)  # what the models gathered before the screen was up
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
        self.post_message(ViewChanged())

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
                self._arm_cap()
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
        self._follow_with_files(session)
        # what the session already is, before its next event says so
        self.view.apply(session.connection_info)
        if session.state != self.view.state:
            self.view.apply(StateChanged(session.state, session.reason))
        self.post_message(ViewChanged())

    def _follow_with_files(self, session: LiveSession) -> None:
        """Keep --transcript and this session's history file current after every finished turn."""
        for live in self.live_files:
            live.stop()
        self.live_files = []
        on_error = lambda error: self.notify(str(error), severity="error", timeout=8)  # noqa: E731
        if self.transcript_path is not None:
            try:
                self.live_files.append(LiveTranscript(self._transcript_files(), on_error))
            except VoxflowError as error:
                on_error(error)
        if self.history is not None:
            try:
                files = self.history.new_session(self.flow.name if self.flow else "flow")
            except VoxflowError as error:
                on_error(error)
            else:
                self.live_files.append(LiveTranscript(files, on_error))
                self.notify(f"Session history: {files.paths[0]}\n(voxflow history lists past sessions)", timeout=6)
        for live in self.live_files:
            live.follow(session)

    def _transcript_files(self) -> Any:
        from flow.transcript_files import TranscriptFiles

        assert self.transcript_path is not None
        paths = [self.transcript_path]
        if self.transcript_path.suffix.lower() == ".jsonl":
            paths.append(self.transcript_path.with_suffix(".md"))
        return TranscriptFiles(paths, title=self.flow.name if self.flow else "Transcript")

    def detach_session(self) -> None:
        if self._unsubscribe_session is not None:
            self._unsubscribe_session()
            self._unsubscribe_session = None

    def on_session_event(self, event: SessionEvent) -> None:
        """Session events update the display models; a message has the screen catch up."""
        self.session_events += 1
        if isinstance(event, (TranscriptUpdated, TranscriptCleared)):
            self.transcript.apply(event)  # shown by the transcript timer
            return
        self.view.apply(event)
        self.post_message(ViewChanged())
        if isinstance(event, SessionErrorEvent):
            title = "Session error" + (f" ({event.code})" if event.code else "")
            self.notify(event.message, title=title, severity="error", timeout=10)
        elif isinstance(event, StateChanged) and event.state == SessionState.ERROR:
            self.notify(event.reason or "the session failed", title="Session error", severity="error", timeout=10)
        elif isinstance(event, Notice):
            self.notify(event.message, severity="warning" if event.level == "warning" else "information")

    def on_view_changed(self, _: ViewChanged) -> None:
        """Hand the header and the connection panel a copy of the view; their reactives repaint."""
        if self.main is None or not self.main.is_mounted:
            return
        snapshot = replace(self.view)
        self.main.header.view = snapshot
        self.main.connection.view = snapshot

    def paint_transcript(self) -> None:
        """Show what the transcript model changed since the panel last caught up (20 Hz timer)."""
        if self.main is None or not self.main.is_mounted:
            return
        changes = self.transcript.take_changes()
        if not changes.empty:
            self.main.transcript.paint(changes)

    def paint(self) -> None:
        """Catch the screen up with the display models now (tests and snapshots call this)."""
        self.on_view_changed(ViewChanged())
        self.paint_transcript()

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

    def _arm_cap(self) -> None:
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
        for live in self.live_files:
            live.write()

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
        self._write_transcript_file()
        for live in self.live_files:
            live.stop()
        self.detach_session()
        if self._quit_signals is not None:
            self._quit_signals.remove()
            self._quit_signals = None
        self.exit()

    def _on_quit_request(self) -> None:
        """A quit signal or a lost terminal: the screen stops waiting for a terminal that may be gone.

        Runs in the signal handler, even while the app's thread waits on the terminal: assignments only.
        """
        self.quit_requested = True
        if self.terminal is not None:
            self.terminal.cut_off(TERMINAL_GRACE)

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
