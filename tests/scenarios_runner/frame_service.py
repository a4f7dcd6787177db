"""A stand-in service that hears the caller frame by frame and answers with the session core's own events.

It reads the :class:`CallerSource` one 20 ms frame at a time on a :class:`FakeClock`
(advanced 20 ms per frame) and publishes the events a realtime session would
(``SpeechStarted``/``Stopped``, transcript entries, ``ResponseStarted``/``Done``,
``AssistantAudio``), feeding the reply's frames to the caller's ear as the
recorder is fed (each frame at the clock time it plays). An energy detector stands in for
the VAD: speech ends after ``silence_frames`` quiet frames; with ``interrupts``,
speech over a reply cuts it. Everything advances in lockstep with the frames,
so a whole call is deterministic: the caller's audio and timing can be
compared bit for bit and sample for sample.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import numpy as np

from audio.base.clock import FakeClock
from audio.base.pubsub import EventHub
from audio.dsp import rms_dbfs
from audio.session import (
    AssistantAudio,
    ResponseDone,
    ResponseStarted,
    SessionEvent,
    SessionState,
    SpeechStarted,
    SpeechStopped,
    StateChanged,
    TranscriptEntry,
    TranscriptUpdated,
)
from flow.scenarios.caller import Caller
from flow.scenarios.caller_source import CallerSource

FRAME = 0.02


@dataclass
class FrameService:
    source: CallerSource
    caller: Caller
    clock: FakeClock
    reply_frames: int = 50  # 1 s replies
    silence_frames: int = 10  # 200 ms of quiet ends a turn
    answer_after_frames: int = 15  # 300 ms from the end of speech to the first reply frame
    interrupts: bool = True
    answer: bool = True  # False: turns are heard and never answered
    answers: int | None = None  # answer only this many turns
    ear: bool = True  # False: the caller is not fed the reply audio (it follows the playing state)
    send_lag: float | None = None  # each caller frame is "sent" this long after it was read (the recording's side)
    events: EventHub[SessionEvent] = field(default_factory=EventHub)
    reply_audio: list[tuple[float, float]] = field(default_factory=list)  # (start, end) clock times of each reply as heard
    frames: int = 0
    _speaking: bool = False
    _quiet: int = 0
    _turns: int = 0
    _playing_left: int = 0
    _answer_in: int | None = None
    _reply: str | None = None

    def publish(self, event: SessionEvent) -> None:
        self.events.publish(event)

    async def serve(self, max_frames: int = 10_000) -> None:
        self.publish(StateChanged(SessionState.CONNECTING))
        self.publish(StateChanged(SessionState.CONNECTED))
        while self.frames < max_frames:
            frame = await self.source.read()
            if frame is None:
                break
            self.frames += 1
            read_at = self.clock.monotonic()
            await self.clock.advance(FRAME)
            if self.send_lag is not None:
                self.caller.sent_frame(self.frames - 1, 24_000, read_at + self.send_lag)
            self._hear(frame)
            self._speak()
            for _ in range(30):  # the caller reacts before the next frame
                await asyncio.sleep(0)
        self.publish(StateChanged(SessionState.DISCONNECTED, "the caller hung up"))

    def _hear(self, frame: np.ndarray) -> None:
        loud = rms_dbfs(frame) > -45
        if loud and not self._speaking:
            self._speaking, self._quiet = True, 0
            self._turns += 1
            self.publish(SpeechStarted(f"u{self._turns}"))
            if self._playing_left and self.interrupts:
                self._cut()
        elif self._speaking:
            self._quiet = 0 if loud else self._quiet + 1
            if self._quiet >= self.silence_frames:
                self._speaking = False
                item = f"u{self._turns}"
                self.publish(SpeechStopped(item))
                now = self.clock.monotonic()
                self.publish(TranscriptUpdated(TranscriptEntry(item, "user", f"turn {self._turns}", True, now - 1, now),
                                               self._turns * 2 - 2))
                if self.answer and not self._playing_left and (self.answers is None or self._turns <= self.answers):
                    self._answer_in = self.answer_after_frames

    def _speak(self) -> None:
        if self._answer_in is not None:
            self._answer_in -= 1
            if self._answer_in <= 0:
                self._answer_in = None
                self._reply = f"a{self._turns}"
                self.publish(ResponseStarted(f"r{self._turns}"))
                self.publish(TranscriptUpdated(TranscriptEntry(self._reply, "assistant", f"reply {self._turns}", True,
                                                               self.clock.monotonic()), self._turns * 2 - 1))
                self.publish(AssistantAudio(True, f"r{self._turns}"))
                self._playing_left = self.reply_frames
                self.reply_audio.append((self.clock.monotonic() - FRAME, self.clock.monotonic() - FRAME))
        if self._playing_left:
            if self.ear:
                    self.caller.heard(np.full(480, 8000, dtype=np.int16), 24_000, self.clock.monotonic() - FRAME)
            self._playing_left -= 1
            start, _ = self.reply_audio[-1]
            self.reply_audio[-1] = (start, self.clock.monotonic())  # the frame played during this tick ends now
            if not self._playing_left:
                self.publish(AssistantAudio(False, f"r{self._turns}"))
                self.publish(ResponseDone(f"r{self._turns}", "completed"))

    def _cut(self) -> None:
        self._playing_left = 0
        assert self._reply is not None
        self.publish(TranscriptUpdated(TranscriptEntry(self._reply, "assistant", "reply (cut)", True, 0.0,
                                                       interrupted=True), self._turns * 2 - 3))
        self.publish(AssistantAudio(False))
        self.publish(ResponseDone(f"r{self._turns - 1}", "cancelled"))
