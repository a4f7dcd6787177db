"""The input audio buffer: 16 kHz mono frames from either transport, turn detection, commits, idle timeout.

Both transports hand in 20 ms frames at ``RECOGNITION_RATE`` (WebRTC's Opus
track and the WebSocket's base64 PCM are resampled with PyAV first). The
buffer keeps a manual turn's audio (at most ``MAX_INPUT_SECONDS``) and, while
a VAD listens, only the prefix padding. ``idle_timeout_ms`` is measured on the
same audio timeline as ``audio_start_ms``/``audio_end_ms``: when that much
audio passed with no speech since the last response ended, the buffer sends
``input_audio_buffer.timeout_triggered`` and commits the silence
(``openai.types.realtime.input_audio_buffer_timeout_triggered``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from audio.server.conversation import Conversation
from audio.server.outbox import EventSink
from audio.wire.objects import new_id
from audio.wire.session_schema import ConfigError
from audio.speech.engines import RECOGNITION_RATE
from audio.server.turns import UserTurns
from audio.server.vad import TurnDetector, VadSettings

MIN_COMMIT_MS = 100
MAX_INPUT_SECONDS = 300  # manual turns longer than this keep only their last 5 minutes
FRAME_SAMPLES = RECOGNITION_RATE // 50


@dataclass(frozen=True)
class TurnSignal:
    """What the call must act on: speech began (maybe interrupt) or a turn was committed (maybe respond)."""

    kind: str  # "speech_started" | "committed"
    interrupt: bool = False
    respond: bool = False


class InputAudio:
    def __init__(self, sink: EventSink, conversation: Conversation, turns: UserTurns) -> None:
        self._sink = sink
        self._conversation = conversation
        self._turns = turns
        self._frames: list[np.ndarray] = []
        self._samples = 0
        self.received_samples = 0  # every input sample ever taken, trimmed or not
        self._vad: TurnDetector | None = None
        self._idle_timeout_ms: int | None = None
        self._idle_since_ms = 0
        self._pending_item_id: str | None = None  # id announced with speech_started

    @property
    def position_ms(self) -> int:
        return self.received_samples * 1000 // RECOGNITION_RATE

    def configure(self, turn_detection: dict[str, Any] | None) -> None:
        """Apply ``audio.input.turn_detection`` (None: manual turns)."""
        if turn_detection is None:
            self._vad = None
            self._idle_timeout_ms = None
            return
        settings = VadSettings.from_turn_detection(turn_detection)
        if self._vad is None or self._vad.settings != settings:
            # audio_*_ms stay on one timeline across updates
            self._vad = TurnDetector(settings, RECOGNITION_RATE, start_ms=self.position_ms)
        self._idle_timeout_ms = turn_detection.get("idle_timeout_ms")
        self._idle_since_ms = self.position_ms

    def response_finished(self) -> None:
        """The idle timeout counts from the end of the last response."""
        self._idle_since_ms = self.position_ms

    def take(self, frame: np.ndarray, *, open: bool, busy: bool) -> TurnSignal | None:
        """One frame of input; ``busy`` while a response runs or plays (no idle timeout then)."""
        self._frames.append(frame)
        self._samples += len(frame)
        self.received_samples += len(frame)
        self._trim(MAX_INPUT_SECONDS * RECOGNITION_RATE)
        vad = self._vad
        if vad is None:
            return None
        boundary = vad.feed(frame)
        if not vad.speaking and boundary is None:
            self._trim(vad.settings.prefix_padding_ms * RECOGNITION_RATE // 1000 + 2 * len(frame))
        if not open:
            return None
        if boundary is not None:
            self._idle_since_ms = self.position_ms
            if boundary.started:
                self._pending_item_id = new_id("item")
                self._sink.send("input_audio_buffer.speech_started", audio_start_ms=boundary.ms,
                                item_id=self._pending_item_id)
                return TurnSignal("speech_started", interrupt=vad.settings.interrupt_response)
            item_id = self._pending_item_id or new_id("item")
            self._sink.send("input_audio_buffer.speech_stopped", audio_end_ms=boundary.ms, item_id=item_id)
            self.commit(item_id)
            return TurnSignal("committed", respond=vad.settings.create_response)
        if busy or vad.speaking:
            self._idle_since_ms = self.position_ms
        elif self._idle_timeout_ms is not None and self.position_ms - self._idle_since_ms >= self._idle_timeout_ms:
            item_id = new_id("item")
            self._sink.send("input_audio_buffer.timeout_triggered", audio_start_ms=self._idle_since_ms,
                            audio_end_ms=self.position_ms, item_id=item_id)
            self._idle_since_ms = self.position_ms
            self.commit(item_id)
            return TurnSignal("committed", respond=True)
        return None

    def clear(self) -> None:
        self._frames, self._samples = [], 0
        self._sink.send("input_audio_buffer.cleared")

    def commit_manual(self) -> None:
        buffered_ms = self._samples * 1000 / RECOGNITION_RATE
        if buffered_ms < MIN_COMMIT_MS:
            raise ConfigError(
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least {MIN_COMMIT_MS}ms of audio,"
                f" but buffer only has {buffered_ms:.2f}ms of audio.",
            )
        self.commit()

    def commit(self, item_id: str | None = None) -> None:
        item_id = item_id or self._pending_item_id or new_id("item")
        self._pending_item_id = None
        audio = np.concatenate(self._frames) if self._frames else np.zeros(0, dtype=np.int16)
        self._frames, self._samples = [], 0
        previous = self._conversation.last_item_id
        self._sink.send("input_audio_buffer.committed", item_id=item_id, previous_item_id=previous)
        item = {"id": item_id, "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
                "content": [{"type": "input_audio", "transcript": None}]}
        self._conversation.add(item, previous)
        self._sink.send("conversation.item.done", item=item, previous_item_id=previous)
        self._turns.committed(item_id, audio)

    def _trim(self, keep: int) -> None:
        while self._frames and self._samples - len(self._frames[0]) >= keep:
            self._samples -= len(self._frames.pop(0))
