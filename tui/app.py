"""The voxflow Textual app: runs one flow and shows its nodes, session and transcript.

The app holds no session logic and keeps its wiring here; its parts live in
modules named for them: the engine's events and the flow keys
(``tui/flow_binding.py``), the live session's events and files
(``tui/session_binding.py``), the conversation keys
(``tui/conversation_actions.py``) and the engine seam (``tui/engine_seam.py``).

It builds a :class:`~flow.engine.FlowEngine`,
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
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual import events
from textual.app import SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from audio.base.clock import Clock
from audio.base.errors import VoxflowError
from flow.model import Flow
from flow.options import RunOptions
from tui.conversation_actions import ConversationActions
from tui.engine_seam import EngineFactory, default_engine_factory
from tui.history import SessionHistory
from tui.live_transcript import LiveTranscript
from tui.provider import choose_provider
from tui.quit_signals import QuitSignals
from tui.recent import RecentFlows
from tui.screens.help import HelpScreen
from tui.screens.keys import APP_KEYS, MAIN_KEYS
from tui.screens.main import MainScreen
from tui.screens.picker import FlowPickerScreen
from tui.screens.too_small import MIN_HEIGHT, MIN_WIDTH, TooSmallScreen
from tui.session_view import SessionView
from tui.speaker_fallback import fall_back_to_file
from tui.terminal_driver import driver_writing_to
from tui.terminal_output import TerminalOutput
from tui.transcript_model import TranscriptModel
from tui.view_messages import ViewChanged

log = logging.getLogger(__name__)

TRANSCRIPT_PAINT_INTERVAL = 1 / 20
"""The transcript catches up at most this often, however fast deltas arrive."""


TERMINAL_GRACE = 0.25
"""After a quit signal, how long the screen may wait for the terminal before it is no longer drawn (seconds)."""


class VoxflowApp(ConversationActions):
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
        self.check_speaker = check_speaker  # probe for a speaker (real runs; tests leave devices alone)
        self.flow: Flow | None = flow
        self.provider_label = ""
        self.engine = None
        self.session = None
        self.session_node: str | None = None
        self.view = SessionView()
        self.transcript = TranscriptModel()
        self.main = None
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
        self.new_engine()
        self.main = MainScreen(flow, self.view, self.provider_label)
        self._show_output_note()
        self.push_screen(self.main)
        self.call_after_refresh(self.paint)  # what the models gathered before the screen was up
        if fallback is not None:
            self.notify(f"No speaker here: the assistant's audio is written to {fallback}", timeout=8)

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

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    async def action_quit_voxflow(self) -> None:
        """Stop the session and the devices (the engine's nodes release them), then leave."""
        if self.engine is not None and self.engine.running:
            await self.engine.stop()
        if self.engine is not None:
            self.engine.registry.clear()
        self.write_transcript_files()
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
