"""Stereo conversation recording: the user on the left, the assistant on the right.

The two sides arrive independently (microphone frames as they are captured,
the assistant's audio as it is received) and either may fall silent for a
while without sending anything. Each chunk is placed on one timeline read from
the injected clock: a chunk that arrives after a gap is preceded by silence,
and a side that sends nothing is filled with silence as time passes, so the
channels stay aligned. The extension picks the file (:mod:`audio.io.file_writers`):
a WAV is valid on disk at every moment, a FLAC or Ogg Opus is completed by
``close()``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from audio.base.clock import Clock, SystemClock
from audio.dsp.formats import Resampler, as_frame, to_mono
from audio.io.file_writers import open_audio_writer


class _Side:
    """One channel: its resampler, audio waiting to be written, and its timeline position."""

    def __init__(self, rate: int) -> None:
        self.resampler = Resampler(rate, 1)
        self.pending: list[np.ndarray] = []
        self.pending_samples = 0
        self.total = 0  # samples placed on the timeline (written + pending)

    def append(self, mono: np.ndarray) -> None:
        if mono.shape[0]:
            self.pending.append(mono.reshape(-1))
            self.pending_samples += mono.shape[0]
            self.total += mono.shape[0]

    def pad_to(self, position: int) -> None:
        """Fill with silence up to ``position``; audio still inside the resampler goes first."""
        if position > self.total:
            self.append(self.resampler.flush())
        if position > self.total:
            self.append(np.zeros(position - self.total, dtype=np.int16))

    def take(self, count: int) -> np.ndarray:
        joined = np.concatenate(self.pending) if len(self.pending) > 1 else self.pending[0]
        head, rest = joined[:count], joined[count:]
        self.pending = [rest] if rest.shape[0] else []
        self.pending_samples = rest.shape[0]
        return head


class StereoRecorder:
    """Writes user audio (left) and assistant audio (right) time-aligned into one stereo file.

    ``jitter`` (seconds) is how far a side may lag the clock before its next
    chunk is preceded by silence. Both sides are paced streams (20 ms frames,
    silence included), so a late chunk is almost always event-loop jitter, not
    a pause: padding it would push every later chunk back for good and the
    channels would drift apart. Only a lag longer than ``jitter`` means the side
    really stopped; ``idle_lag`` is how far behind the clock a
    silent side is filled in, leaving room for late chunks.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: int = 24000,
        clock: Clock | None = None,
        *,
        jitter: float = 0.3,
        idle_lag: float = 0.25,
    ) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.clock: Clock = clock or SystemClock()
        self._writer = open_audio_writer(self.path, sample_rate, 2, what="recording")
        self._start = self.clock.monotonic()
        self._jitter = round(jitter * sample_rate)
        self._idle_lag = round(idle_lag * sample_rate)
        self._user = _Side(sample_rate)
        self._assistant = _Side(sample_rate)

    @property
    def closed(self) -> bool:
        return self._writer.closed

    @property
    def duration(self) -> float:
        """Seconds written to the file so far."""
        return self._writer.duration

    def _now(self) -> int:
        return round((self.clock.monotonic() - self._start) * self.sample_rate)

    def write_user(self, pcm: np.ndarray, rate: int) -> None:
        self._write(self._user, self._assistant, pcm, rate)

    def write_assistant(self, pcm: np.ndarray, rate: int) -> None:
        self._write(self._assistant, self._user, pcm, rate)

    def _write(self, side: _Side, other: _Side, pcm: np.ndarray, rate: int) -> None:
        if self._writer.closed:
            return
        block = as_frame(pcm)
        if not block.shape[0]:
            return
        now = self._now()
        began = now - round(block.shape[0] * self.sample_rate / rate)  # the chunk ends now
        if side.total < began - self._jitter:
            side.pad_to(began)
        side.append(side.resampler.process(to_mono(block), rate))
        other.pad_to(now - self._idle_lag)
        self._emit()

    def _emit(self) -> None:
        count = min(self._user.pending_samples, self._assistant.pending_samples)
        if count <= 0:
            return
        stereo = np.column_stack([self._user.take(count), self._assistant.take(count)])
        self._writer.write(stereo)

    def close(self) -> None:
        """Write what is still held (the shorter side padded with silence) and finish the file."""
        if self._writer.closed:
            return
        for side in (self._user, self._assistant):
            side.append(side.resampler.flush())
        end = max(self._user.total, self._assistant.total)
        self._user.pad_to(end)
        self._assistant.pad_to(end)
        self._emit()
        self._writer.close()

    stop = close
