"""Audio sources that need no hardware: audio files, tones and silence.

Each yields 20 ms int16 frames (:class:`audio.dsp.frames.AudioSource`). By default
they are paced in real time on an injected :class:`~audio.base.clock.Clock`, so a
file plays like a microphone would speak; ``realtime=False`` hands frames out
as fast as the consumer reads (tests, benchmarks, offline runs). ``stop()``
ends a pending ``read()`` at once, so unregistering a stream ends its consumers.
"""

from __future__ import annotations

import abc
import asyncio
import math
import os
from pathlib import Path

import numpy as np

from audio.base.clock import Clock, SystemClock
from audio.io.file_decoder import AudioFileDecoder
from audio.dsp.formats import FrameChunker
from audio.dsp.frames import FRAME_MS, frame_samples
from audio.dsp.pacing import interrupt, interruptible_sleep

FULL_SCALE = 32767.0
_FRAME_SECONDS = FRAME_MS / 1000.0


class PacedSource(abc.ABC):
    """Shared pacing and stopping for generated and file sources.

    Subclasses implement ``_next_frame()`` (a full frame, or None at the end).
    With ``realtime`` on, frame *n* is handed out no earlier than
    ``start + n * 20 ms`` on the clock; a consumer that falls more than half a
    second behind restarts the schedule instead of receiving a burst.
    """

    def __init__(self, sample_rate: int, channels: int, *, realtime: bool, clock: Clock | None) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        self.realtime = realtime
        self.clock: Clock = clock or SystemClock()
        self.frame_samples = frame_samples(sample_rate)
        self.frames_read = 0
        self._stopped = False
        self._ended = False
        self._start: float | None = None
        self._scheduled = 0
        self._pacing_wait: asyncio.Task[object] | None = None
        self._interrupted = False
        self._ended_event = asyncio.Event()

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def ended(self) -> bool:
        """True once the source has no more audio (finished or stopped)."""
        return self._ended or self._stopped

    async def wait_ended(self) -> None:
        """Until the source has handed out its last frame or was stopped."""
        await self._ended_event.wait()

    async def read(self) -> np.ndarray | None:
        if self.ended:
            return None
        if self.realtime and not await self._wait_turn():
            return None
        frame = self._next_frame()
        if frame is None:
            self._ended = True
            self._close()
            self._ended_event.set()
            return None
        self.frames_read += 1
        return frame

    async def _wait_turn(self) -> bool:
        """Sleep until this frame is due; False when stopped meanwhile."""
        now = self.clock.monotonic()
        if self._start is None:
            self._start = now
            self._scheduled = 0
        due = self._start + self._scheduled * _FRAME_SECONDS
        if now - due > 0.5:  # the reader stalled: restart the schedule, no burst
            self._start, self._scheduled, due = now, 0, now
        self._scheduled += 1
        delay = due - now
        if delay <= 0:
            return not self._stopped
        return await interruptible_sleep(self, delay)

    @abc.abstractmethod
    def _next_frame(self) -> np.ndarray | None:
        """The next full frame, or None when the source has no more audio."""

    def _close(self) -> None:
        """Release files or buffers; called once when the source ends or stops."""

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        interrupt(self)
        if not self._ended:
            self._close()
        self._ended_event.set()


class SilenceSource(PacedSource):
    """Digital silence, forever or for ``duration`` seconds."""

    def __init__(
        self,
        sample_rate: int = 48000,
        channels: int = 1,
        duration: float | None = None,
        realtime: bool = True,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(sample_rate, channels, realtime=realtime, clock=clock)
        self.duration = duration
        self._total = None if duration is None else round(duration * sample_rate)
        self._emitted = 0
        self._frame = np.zeros((self.frame_samples, channels), dtype=np.int16)

    @property
    def progress(self) -> float:
        if not self._total:
            return 0.0
        return min(1.0, self._emitted / self._total)

    def _take(self) -> int:
        """How many samples the next frame carries (0 at the end)."""
        if self._total is None:
            return self.frame_samples
        return max(0, min(self.frame_samples, self._total - self._emitted))

    def _next_frame(self) -> np.ndarray | None:
        count = self._take()
        if count == 0:
            return None
        self._emitted += count  # a short last frame is padded: it is silence either way
        return self._frame.copy()


class ToneSource(SilenceSource):
    """A sine tone at ``frequency`` Hz with its peak at ``level_dbfs``; phase-continuous across frames."""

    def __init__(
        self,
        frequency: float = 440.0,
        level_dbfs: float = -12.0,
        sample_rate: int = 48000,
        channels: int = 1,
        duration: float | None = None,
        realtime: bool = True,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(sample_rate, channels, duration, realtime, clock)
        if not 0 < frequency < sample_rate / 2:
            raise ValueError(f"tone frequency must be between 0 and {sample_rate / 2:g} Hz")
        self.frequency = frequency
        self.level_dbfs = level_dbfs
        self._amplitude = FULL_SCALE * 10 ** (level_dbfs / 20.0)
        self._step = 2.0 * math.pi * frequency / sample_rate
        self._indices = np.arange(self.frame_samples, dtype=np.float64)

    def _next_frame(self) -> np.ndarray | None:
        count = self._take()
        if count == 0:
            return None
        phase = (self._emitted % self.sample_rate) * self._step  # bounded: whole cycles per second
        wave = np.sin(phase + self._indices * self._step) * self._amplitude
        if count < self.frame_samples:
            wave[count:] = 0.0
        self._emitted += count
        mono = np.rint(wave).astype(np.int16).reshape(-1, 1)
        return mono if self.channels == 1 else np.ascontiguousarray(np.repeat(mono, self.channels, axis=1))


class FileSource(PacedSource):
    """Plays any audio file FFmpeg decodes, converted to the requested rate and channels; optionally loops.

    Decoding is incremental (:class:`~audio.io.file_decoder.AudioFileDecoder`), so
    a long recording costs one block of memory, and a file that holds no
    playable audio fails here, with one line saying what to do.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        sample_rate: int | None = None,
        channels: int | None = None,
        realtime: bool = True,
        loop: bool = False,
        clock: Clock | None = None,
    ) -> None:
        self.path = Path(path)
        self._decoder = AudioFileDecoder(self.path, sample_rate=sample_rate, channels=channels)
        super().__init__(self._decoder.sample_rate, self._decoder.channels, realtime=realtime, clock=clock)
        self.loop = loop
        self.file_sample_rate = self._decoder.file_sample_rate
        self.file_channels = self._decoder.file_channels
        self._chunker = FrameChunker(self.frame_samples, self.channels)
        self._pending: list[np.ndarray] = []
        self._file_done = False
        self.loops = 0

    @property
    def duration(self) -> float | None:
        """Length of the file in seconds (one pass), from its header; None when the file does not say."""
        return self._decoder.duration

    @property
    def progress(self) -> float:
        """How much of the file has been handed out, 0..1 (of the current pass when looping)."""
        if self._ended:
            return 1.0
        duration = self._decoder.duration
        if self.loop or not duration:
            return self._decoder.progress
        return min(1.0, self.frames_read * self.frame_samples / self.sample_rate / duration)

    def _next_frame(self) -> np.ndarray | None:
        while not self._pending:
            if self._file_done:
                return None
            block = self._decoder.read()
            if block is not None:
                self._pending.extend(self._chunker.push(block))
                continue
            if self.loop and self._decoder.position > 0:  # a pass that decoded nothing would loop forever
                self._decoder.rewind()
                self.loops += 1
                continue
            tail = self._decoder.flush()
            if tail.shape[0]:
                self._pending.extend(self._chunker.push(tail))
            last = self._chunker.drain(pad=True)
            if last is not None:
                self._pending.append(last)
            self._file_done = True
        return self._pending.pop(0)

    def _close(self) -> None:
        self._decoder.close()
