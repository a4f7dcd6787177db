"""Push-to-talk exactly as docs/PROTOCOL.md §5 prescribes (terminals have no key-up, so a key toggles).

press:   barge in when the assistant is generating or playing (``response.cancel``,
         ``output_audio_buffer.clear``, local playback flushed at once), then
         ``input_audio_buffer.clear`` and open the microphone gate.
release: keep the gate open for a 250 ms tail (the commit travels on the data
         channel and could overtake the last RTP packets), close the gate (the
         track keeps sending silence), then ``input_audio_buffer.commit`` +
         ``response.create`` when at least 100 ms was captured while held;
         otherwise drop the turn and say so.

The machine only decides; the session gives it callbacks to send events, move
the gate and flush playback, so it is tested without a network.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from audio.base.clock import Clock
from audio.wire import protocol
from audio.session.events import PttState

TAIL_SECONDS = 0.25
MIN_CAPTURE_MS = 100.0
TOO_SHORT = "Push-to-talk turn too short (under 100 ms): nothing was sent. Hold the turn a little longer."


class PushToTalk:
    """The toggle state machine; ``captured(ms)`` is fed with audio sent through the open gate."""

    def __init__(
        self,
        *,
        clock: Clock,
        send: Callable[[dict[str, Any]], None],
        set_gate: Callable[[bool], None],
        flush_playback: Callable[[], None],
        assistant_busy: Callable[[], bool],
        on_state: Callable[[PttState], None],
        on_notice: Callable[[str], None],
        tail_seconds: float = TAIL_SECONDS,
        min_capture_ms: float = MIN_CAPTURE_MS,
    ) -> None:
        self._clock = clock
        self._send = send
        self._set_gate = set_gate
        self._flush_playback = flush_playback
        self._assistant_busy = assistant_busy
        self._on_state = on_state
        self._on_notice = on_notice
        self.tail_seconds = tail_seconds
        self.min_capture_ms = min_capture_ms
        self.state = PttState.OFF
        self.captured_ms = 0.0

    def captured(self, ms: float) -> None:
        """Audio that went out through the open gate while the key was held."""
        if self.state is PttState.TALKING:
            self.captured_ms += ms

    async def toggle(self) -> PttState:
        """Press or release; a toggle while the tail is being sent is ignored."""
        if self.state is PttState.OFF:
            self.press()
        elif self.state is PttState.TALKING:
            await self.release()
        return self.state

    def press(self) -> None:
        if self._assistant_busy():
            self._send(protocol.response_cancel())
            self._send(protocol.output_audio_buffer_clear())
            self._flush_playback()
        self._send(protocol.input_audio_buffer_clear())
        self.captured_ms = 0.0
        self._set_gate(True)
        self._set_state(PttState.TALKING)

    async def release(self) -> None:
        held_ms = self.captured_ms
        self._set_state(PttState.SENDING)
        try:
            await self._clock.sleep(self.tail_seconds)
        finally:
            self._set_gate(False)
        if self.state is not PttState.SENDING:  # reset() meanwhile: the session ended
            return
        if held_ms >= self.min_capture_ms:
            self._send(protocol.input_audio_buffer_commit())
            self._send(protocol.response_create())
        else:
            self._on_notice(TOO_SHORT)
        self._set_state(PttState.OFF)

    def reset(self) -> None:
        """The session ended: gate closed, nothing pending."""
        self._set_gate(False)
        if self.state is not PttState.OFF:
            self._set_state(PttState.OFF)
        self.captured_ms = 0.0

    def _set_state(self, state: PttState) -> None:
        self.state = state
        self._on_state(state)
