"""A speaker and a microphone in one simulated room, on one audio clock.

Like a sound card, the microphone is paced in real time (20 ms blocks) and
every block it captures is also the block the speaker plays: the speaker
side takes 20 ms from its playout buffer (silence when empty), hands it to
its taps (the echo canceller's reference, as ``SpeakerSink`` does), and the
room turns it into echo in the microphone, together with any scheduled
human voice. While the pipe is held (local barge-in) the speaker plays
silence and keeps its playout buffer. The microphone runs its ``capture_processor`` on each block
right after capture, as ``MicrophoneSource`` does. Positions are counted in
samples on this shared timeline, so tests measure latencies on the audio
timeline rather than the wall clock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np

from audio.dsp.formats import FrameChunker, Resampler
from audio.dsp.frames import frame_samples
from audio.io.sources import SilenceSource
from tests.echo.room import Room


class SimulatedDevices:
    def __init__(self, room: Room, *, target_ms: int = 60) -> None:
        self.room = room
        self.sample_rate = room.rate
        self.channels = 1
        self.position = 0
        """Samples captured so far (the audio timeline)."""
        self.capture_processor: Callable[[np.ndarray, int], np.ndarray] | None = None
        self.taps: list[Callable[[np.ndarray, int], None]] = []
        self.flush_positions: list[int] = []
        self.hold_positions: list[int] = []
        """Where the speaker went silent for a hold (the first held block), and where it resumed."""
        self.release_positions: list[int] = []
        self.held = False
        self.played_audible: list[int] = []
        """Timeline positions of blocks the speaker played above -50 dBFS."""
        self._target = round(room.rate * target_ms / 1000)
        self._playout = np.zeros(0, dtype=np.int16)
        self._voices: list[tuple[int, np.ndarray]] = []
        self._pacer = SilenceSource(room.rate, 1, realtime=True)
        self._block = frame_samples(room.rate)
        self._chunker = FrameChunker(self._block, 1)
        self._ready: list[np.ndarray] = []
        self._cue: tuple[int, int, np.ndarray] | None = None
        self.voice_starts: list[int] = []
        """Where voices cued with :meth:`say_into_reply` started on the timeline."""

    # -- the human in the room ---------------------------------------------------
    def say(self, voice: np.ndarray, at: int | None = None) -> int:
        """Mix ``voice`` (mono int16 at the room's rate) into the microphone from ``at`` (default: now)."""
        start = self.position if at is None else at
        self._voices.append((start, voice.reshape(-1).astype(np.float64)))
        return start

    def say_into_reply(self, voice: np.ndarray, after: int, offset: int) -> None:
        """Mix ``voice`` in ``offset`` samples after the first audible block played past position ``after``.

        Decided on the audio timeline as that block plays, so a test coroutine running late (a loaded
        machine) cannot schedule the person in the past. :attr:`voice_starts` receives the start.
        """
        self._cue = (after, offset, voice)

    def _near(self, count: int) -> np.ndarray | None:
        if not self._voices:
            return None
        near = np.zeros(count)
        for start, voice in self._voices:
            lo, hi = max(start, self.position), min(start + voice.shape[0], self.position + count)
            if lo < hi:
                near[lo - self.position : hi - self.position] += voice[lo - start : hi - start]
        self._voices = [(s, v) for s, v in self._voices if s + v.shape[0] > self.position + count]
        return near

    # -- microphone (an AudioSource with a capture hook) -----------------------------
    async def read(self) -> np.ndarray | None:
        if await self._pacer.read() is None:
            return None
        count = self._block
        played = np.zeros(0, dtype=np.int16) if self.held else self._playout[:count]
        if not self.held:
            self._playout = self._playout[count:]
        if played.shape[0] < count:
            played = np.concatenate([played, np.zeros(count - played.shape[0], dtype=np.int16)])
        for tap in self.taps:
            tap(played.reshape(-1, 1), self.sample_rate)
        if float(np.sqrt(np.mean(played.astype(np.float64) ** 2))) > 32768 * 10 ** (-50 / 20):
            self.played_audible.append(self.position)
            if self._cue is not None and self.position > self._cue[0]:
                _, offset, voice = self._cue
                self._cue = None
                self.voice_starts.append(self.say(voice, at=self.position + offset))
        captured = self.room.microphone(played, self._near(count)).reshape(-1, 1)
        self.position += count
        if self.capture_processor is not None:  # as MicrophoneSource: process, then re-cut into 20 ms frames
            frames = self._chunker.push(self.capture_processor(captured, self.sample_rate))
            self._ready.extend(frames)
            captured = self._ready.pop(0) if self._ready else np.zeros((count, 1), dtype=np.int16)
        return captured

    def stop(self) -> None:
        self._pacer.stop()

    # -- speaker ---------------------------------------------------------------------
    def add_tap(self, tap: Callable[[np.ndarray, int], None]) -> None:
        self.taps.append(tap)

    def flush(self) -> None:
        self._playout = np.zeros(0, dtype=np.int16)
        self.flush_positions.append(self.position)
        self.held = False

    def hold(self, held: bool) -> None:
        if held != self.held:
            self.held = held
            (self.hold_positions if held else self.release_positions).append(self.position)

    async def play(self, pipe: Any) -> None:
        """What the audio-output node does with a speaker: attach the pipe's taps, play it until it ends."""
        for tap in pipe.playback_taps:
            self.add_tap(tap)
        for notify in pipe.on_speaker:
            notify()
        remove = pipe.add_flush_listener(self.flush)
        unhold = pipe.add_hold_listener(self.hold)
        resampler = Resampler(self.sample_rate, 1, in_rate=pipe.sample_rate)
        try:
            while (frame := await pipe.read()) is not None:
                block = resampler.process(frame, pipe.sample_rate).reshape(-1)
                self._playout = np.concatenate([self._playout, block])
                while self._playout.shape[0] > self._target and not self._pacer.stopped:
                    await asyncio.sleep(0.005)
        finally:
            remove()
            unhold()
