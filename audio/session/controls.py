"""The user's side of a conversation: mute, push-to-talk, typed turns and barge-in.

Every action goes to whichever connection is live (the session hands in
getters, so a renewed connection is picked up without re-wiring) and is
answered with typed events; nothing here knows which transport is in use,
except that only a transport whose server tracks playback is sent
``output_audio_buffer.clear``, and one whose server does not is sent
``conversation.item.truncate`` at every cut (``heard_audio.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from audio.base.clock import Clock
from audio.base.errors import VoxflowError
from audio.wire import protocol
from audio.wire.config import SessionConfig
from audio.echo.echo_guard import EchoGuard
from audio.session.events import Notice, PttChanged, PttState, SessionEvent
from audio.session.interpreter import EventInterpreter
from audio.session.media import MediaPaths
from audio.session.mic_gate import MicGate
from audio.session.ptt import PushToTalk
from audio.transports.transport import RealtimeTransport

log = logging.getLogger(__name__)


class UserControls:
    def __init__(
        self,
        *,
        config: Callable[[], SessionConfig],
        clock: Clock,
        interpreter: EventInterpreter,
        echo_guard: EchoGuard,
        publish: Callable[[SessionEvent], None],
        connected: Callable[[], bool],
        transport: Callable[[], RealtimeTransport | None],
        media: Callable[[], MediaPaths | None],
        busy: Callable[[], bool] | None = None,
        on_barge_in: Callable[[], None] | None = None,
    ) -> None:
        self._config = config
        self._interpreter = interpreter
        self._echo_guard = echo_guard
        self._publish = publish
        self._connected = connected
        self._transport = transport
        self._media = media
        self._busy = busy or (lambda: interpreter.assistant_busy)
        """Whether a typed turn must barge in (the assistant is generating, playing, or a tool runs)."""
        self._on_barge_in = on_barge_in
        self.mic_gate = MicGate(push_to_talk=config().push_to_talk, publish=publish, apply=self._apply_gate)
        self.ptt = PushToTalk(
            clock=clock,
            send=self.send_quiet,
            set_gate=self.mic_gate.set_key,
            flush_playback=self.flush_playback,
            assistant_busy=lambda: self._busy(),
            on_state=lambda state: publish(PttChanged(state)),
            on_notice=lambda message: publish(Notice(message, "warning")),
        )

    async def ptt_toggle(self) -> PttState:
        """Push-to-talk press/release (docs/PROTOCOL.md §5); only with ``vad: disabled``."""
        if not self._config().push_to_talk:
            self._publish(Notice("Push-to-talk is off: voice activity detection is on, just speak."))
            return self.ptt.state
        if not self._connected():
            self._publish(Notice("Not connected: start the session first.", "warning"))
            return self.ptt.state
        media = self._media()
        if media is None or media.input_gate is None:
            self._publish(Notice("This session has no microphone input.", "warning"))
            return self.ptt.state
        before = self.ptt.state
        await self.ptt.toggle()
        if before is PttState.TALKING and self.ptt.state is PttState.OFF:
            self._interpreter.latency.turn_ended()
        return self.ptt.state

    async def send_text(self, text: str) -> None:
        """A typed user turn: ``conversation.item.create`` + ``response.create`` (barging in if needed)."""
        text = text.strip()
        if not text:
            return
        if not self._connected():
            raise VoxflowError("the realtime session is not connected", hint="Start the session first.")
        if self._busy():
            self.barge_in()
        self.send_event(protocol.user_text_item(text))
        self.send_event(protocol.response_create())
        self._interpreter.latency.turn_ended()

    def send_event(self, event: dict[str, Any]) -> None:
        """Send one client event (e.g. ``conversation.item.create``); raises when not connected."""
        transport = self._transport()
        if not self._connected() or transport is None or not transport.is_open:
            raise VoxflowError("the realtime session is not connected", hint="Start the session first.")
        transport.send(event)

    def send_quiet(self, event: dict[str, Any]) -> None:
        """Send if the channel is open; a closed channel is reported by the transport itself."""
        transport = self._transport()
        if transport is not None and transport.is_open:
            transport.send(self._interpreter.stamp(event))
        else:
            log.debug("dropped %s: channel not open", event.get("type"))

    def barge_in(self) -> None:
        if self._on_barge_in is not None:
            self._on_barge_in()
        self.send_quiet(protocol.response_cancel())
        transport = self._transport()
        if transport is not None and transport.server_playback:
            self.send_quiet(protocol.output_audio_buffer_clear())
        self.flush_playback()

    def flush_playback(self) -> None:
        """Cut local playback (a barge-in); where the server does not track playback, truncate the reply too.

        The transcript marks the reply that was cut (``[interrupted]``).
        """
        media = self._media()
        self._interpreter.playback_cut(audible=media is not None and media.audible_now())
        if media is not None:
            transport = self._transport()
            if transport is not None and not transport.server_playback:
                for event in media.truncations():
                    self.send_quiet(event)
            media.flush_playback()
        else:
            self._echo_guard.reset()

    def _apply_gate(self, open_: bool) -> None:
        media = self._media()
        if media is not None:
            media.set_gate(open_)
