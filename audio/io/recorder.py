"""Stereo conversation recording: the user on the left, the assistant on the right, on one clock.

Every chunk comes with the clock time of its first sample, and is written at
that time on the session's clock, so the gap between a sound on the left and
its answer on the right is the gap that really passed; neither side is ever
moved relative to the other. A side that sent nothing for a while is silent
there.

The two sides' times differ in kind. The user's chunks are stamped with the
sending track's schedule (when each frame went out, silence frames and
restarts included): exact, so any space between two chunks is silence that
was sent, and is written as such. The assistant's are stamped as they are
handed to playback, and that jitters with the event loop by some
milliseconds either way. So a reply chunk less than ``jitter`` late joins
the audio before it (jitter must not punch holes into a voice), a later one
follows a pause, and an early one (a burst after a stall) plays on after the
audio before it. How far a side has strayed from its stamps (the median over
its last chunks) is made up in quiet chunks, by a few samples of silence put
in or left out where nobody can hear it: the reply stays where its stamps
say, within their jitter.

:meth:`StereoRecorder.cut_assistant` drops what was queued for playback but
never played (a barge-in flushed it). Audio up to the present is written as
both sides reach it; a side that has nothing is filled with silence up to
``idle_lag`` behind the clock (the user's a second: the track may catch up on
half a second of its schedule). The extension picks the file
(:mod:`audio.io.file_writers`): a WAV is valid on disk at every moment, a
FLAC or Ogg Opus is completed by ``close()``.
"""

from __future__ import annotations

import collections
import os
from pathlib import Path

import numpy as np

from audio.base.clock import Clock, SystemClock
from audio.dsp.formats import Resampler, as_frame, to_mono
from audio.io.file_writers import open_audio_writer

QUIET_PEAK = 100  # int16: a chunk never louder than this (-50 dBFS) is silence to the ear
STRAY_WINDOW = 16  # chunks over which a side's distance from its stamps is measured (about 0.3 s)


class _Side:
    """One channel: audio placed on the timeline but not written yet, and how far it strays from its stamps.

    Positions are samples on the recording's timeline; ``total`` is where the
    side's audio ends, ``total - pending_samples`` what has been written.
    """

    def __init__(self, rate: int, *, gap: int, steer: int, idle_lag: int) -> None:
        self.rate = rate
        self.gap = gap  # a chunk later than this after the side's end follows a pause
        self.steer = steer  # a median stray from the stamps this large is made up in quiet chunks
        self.idle_lag = idle_lag  # no chunk is stamped further back than this: silence may be filled in up to there
        self.resampler = Resampler(rate, 1)
        self.consumed = 0.0  # input samples given to the resampler (at ``rate``) since it started
        self.produced = 0  # samples it gave back
        self.pending: list[np.ndarray] = []
        self.pending_samples = 0
        self.total = 0
        self.strays: collections.deque[int] = collections.deque(maxlen=STRAY_WINDOW)  # stamp - where placed

    @property
    def written(self) -> int:
        return self.total - self.pending_samples

    def resample(self, mono: np.ndarray, rate: int) -> tuple[np.ndarray, int]:
        """``mono`` at the recording's rate, and how many samples the resampler holds back after it."""
        out = self.resampler.process(mono, rate).reshape(-1)
        self.consumed += mono.shape[0] * self.rate / rate
        self.produced += out.shape[0]
        return out, max(0, round(self.consumed - self.produced))

    def flush_resampler(self) -> None:
        """What the resampler still holds ends the audio before a pause."""
        self.append(self.resampler.flush().reshape(-1))
        self.consumed, self.produced = 0.0, 0

    def place(self, audio: np.ndarray, begins: int) -> None:
        """A chunk whose first sample belongs at ``begins``."""
        if begins - self.total > self.gap:
            self.pad_to(begins)
            self.strays.clear()
        else:
            self.strays.append(begins - self.total)
            if int(np.abs(audio).max(initial=0)) < QUIET_PEAK:
                audio = self._steered(audio)
        self.append(audio)

    def _steered(self, quiet: np.ndarray) -> np.ndarray:
        """A quiet chunk lengthened or shortened (by at most its length) towards where the stamps say."""
        stray = int(np.median(self.strays))  # > 0: the side runs early, < 0: late
        if abs(stray) < self.steer:
            return quiet
        move = max(-quiet.shape[0], min(stray, quiet.shape[0]))
        for k in range(len(self.strays)):  # the chunks placed so far sit ``move`` further on now
            self.strays[k] -= move
        if move > 0:  # longer by repeating its start: the quiet goes on as it was
            return np.concatenate([quiet[:move], quiet])
        return quiet[-move:]

    def append(self, audio: np.ndarray) -> None:
        if audio.shape[0]:
            self.pending.append(audio)
            self.pending_samples += audio.shape[0]
            self.total += audio.shape[0]

    def pad_to(self, position: int) -> None:
        if position > self.total:
            self.append(np.zeros(position - self.total, dtype=np.int16))

    def drop_after(self, position: int) -> None:
        """Forget the audio placed from ``position`` on that is not written yet."""
        keep = max(position, self.written) - self.written
        if keep >= self.pending_samples:
            return
        joined = np.concatenate(self.pending) if self.pending else np.zeros(0, dtype=np.int16)
        self.pending = [joined[:keep]] if keep else []
        self.total -= self.pending_samples - keep
        self.pending_samples = keep
        self.strays.clear()
        self.resampler = Resampler(self.rate, 1)
        self.consumed, self.produced = 0.0, 0

    def take(self, count: int) -> np.ndarray:
        """The next ``count`` samples to write (there are at least that many)."""
        parts, needed = [], count
        while needed:
            chunk = self.pending[0]
            if chunk.shape[0] <= needed:
                parts.append(self.pending.pop(0))
                needed -= chunk.shape[0]
            else:
                parts.append(chunk[:needed])
                self.pending[0] = chunk[needed:]
                needed = 0
        self.pending_samples -= count
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


class StereoRecorder:
    """Writes user audio (left) and assistant audio (right) into one stereo file, each at its own time.

    ``jitter`` (seconds): how late a reply chunk may come and still join the
    audio before it. ``steer``: how far the reply may stray from its stamps
    before quiet chunks make it up. ``idle_lag``: how far behind the clock a
    side with nothing is filled with silence: no chunk comes stamped earlier
    than that (the sending track, behind its schedule, catches up for at most
    half a second; then it starts the schedule over). ``origin``: the clock
    time of the recording's first sample (default: now; the session passes
    its own).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        sample_rate: int = 24000,
        clock: Clock | None = None,
        *,
        origin: float | None = None,
        jitter: float = 0.06,
        steer: float = 0.002,
        idle_lag: tuple[float, float] = (1.0, 0.25),
    ) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.clock: Clock = clock or SystemClock()
        self._writer = open_audio_writer(self.path, sample_rate, 2, what="recording")
        self.origin = self.clock.monotonic() if origin is None else origin
        user_lag, assistant_lag = (round(lag * sample_rate) for lag in idle_lag)
        steer_samples = round(steer * sample_rate)
        self._user = _Side(sample_rate, gap=max(1, sample_rate // 1000), steer=steer_samples, idle_lag=user_lag)  # 1 ms
        self._assistant = _Side(sample_rate, gap=round(jitter * sample_rate), steer=steer_samples, idle_lag=assistant_lag)

    @property
    def closed(self) -> bool:
        return self._writer.closed

    @property
    def duration(self) -> float:
        """Seconds written to the file so far."""
        return self._writer.duration

    def _position(self, at: float) -> int:
        return round((at - self.origin) * self.sample_rate)

    def write_user(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        """A chunk the user's side sent; ``at``: the clock time it was sent (default: now)."""
        self._write(self._user, pcm, rate, at)

    def write_assistant(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        """A chunk of the assistant's audio; ``at``: the clock time it was handed to playback (default: now)."""
        self._write(self._assistant, pcm, rate, at)

    def cut_assistant(self, at: float | None = None) -> None:
        """Playback was flushed at ``at`` (default: now): what was queued behind it was never heard."""
        if not self._writer.closed:
            self._assistant.drop_after(self._position(self.clock.monotonic() if at is None else at))

    def _write(self, side: _Side, pcm: np.ndarray, rate: int, at: float | None) -> None:
        if self._writer.closed:
            return
        block = as_frame(pcm)
        if not block.shape[0]:
            return
        start = self._position(self.clock.monotonic() if at is None else at)
        if start - side.total > side.gap:
            side.flush_resampler()  # the audio before the pause ends with what the filter held
        audio, held = side.resample(to_mono(block), rate)
        if audio.shape[0]:
            # the output covers the input up to what the resampler still holds
            side.place(audio, start + round(block.shape[0] * self.sample_rate / rate) - held - audio.shape[0])
        self._emit()

    def _emit(self) -> None:
        """Write what both sides have up to now (a side with nothing filled with silence up to its ``idle_lag`` ago)."""
        now = self._position(self.clock.monotonic())
        for side in (self._user, self._assistant):
            if side.total < now - side.idle_lag:
                side.flush_resampler()
                side.pad_to(now - side.idle_lag)
                side.strays.clear()
        count = min(self._user.total, self._assistant.total, now) - self._user.written
        if count > 0:
            self._writer.write(np.column_stack([self._user.take(count), self._assistant.take(count)]))

    def close(self) -> None:
        """Write what is still held (the shorter side padded with silence) and finish the file."""
        if self._writer.closed:
            return
        for side in (self._user, self._assistant):
            side.flush_resampler()
        end = max(self._user.total, self._assistant.total)
        for side in (self._user, self._assistant):
            side.pad_to(end)
        count = end - self._user.written
        if count > 0:
            self._writer.write(np.column_stack([self._user.take(count), self._assistant.take(count)]))
        self._writer.close()

    stop = close
