"""The app's conversation keys: push-to-talk, mute, voice, turn detection, a typed message, export.

Part of :class:`~tui.app.VoxflowApp`. Each key calls the live session's own
methods (:class:`~audio.session.live.LiveSession`) or changes a realtime
node's setting for the next run; none of them holds session logic.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import replace
from pathlib import Path
from typing import Any

from audio.base.clock import Clock
from audio.base.errors import VoxflowError
from audio.session.events import SessionState
from audio.session.live import LiveSession
from audio.wire.config import VOICES
from tui.exporter import export_session
from tui.flow_binding import FlowBinding
from tui.provider import REALTIME_NODE_TYPE
from tui.screens.prompts import ChoiceScreen, TextMessageScreen
from tui.widgets.connection_panel import vad_enabled

VAD_MODES: tuple[tuple[str, str], ...] = (
    ("server_vad", "server VAD: the service detects when you stop talking"),
    ("semantic_vad", "semantic VAD: waits until you sound finished"),
    ("disabled", "off: push-to-talk with space"),
)


class ConversationActions(FlowBinding):
    """The keys that act on the conversation, or on its settings before it starts."""

    clock: Clock
    export_dir: Path

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

    def _can_change_settings(self, what: str) -> bool:
        if not self.realtime_specs():
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
        current = getattr(self.realtime_specs()[0].settings, "voice", None)
        self.push_screen(
            ChoiceScreen("Voice", [(v, v) for v in VOICES], current, note="The voice locks after the assistant's first audio."),
            lambda choice: self._change_setting("voice", choice),
        )

    def action_pick_vad(self) -> None:
        if not self._can_change_settings("VAD mode"):
            return
        field_name = _vad_field(self.realtime_specs()[0].settings)
        current = getattr(self.realtime_specs()[0].settings, field_name, None) if field_name else None
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
        self.new_engine()
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

    def action_jump_live(self) -> None:
        if self.main is not None:
            self.main.transcript.jump_live()


def _vad_field(settings: Any) -> str | None:
    for name in ("vad", "turn_detection", "vad_mode"):
        if name in type(settings).model_fields:
            return name
    return None
