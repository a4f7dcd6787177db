"""A playback-aware echo gate, so the assistant does not hear (and interrupt) itself.

On open speakers with server-side VAD the microphone picks up the assistant's
own voice and the service takes it for the user barging in (docs/PROTOCOL.md
§7). Browsers run acoustic echo cancellation; for Python the candidate bindings
on PyPI (``speexdsp`` 0.1.1 from 2018, ``webrtc-audio-processing`` 0.1.3 from
2019) are unmaintained source-only packages that do not build here, so voxflow
uses this gate instead:

* every frame the speaker plays is noted with its level and time;
* the echo estimate is the loudest playback level within ``window`` seconds
  (covering the speaker-to-microphone delay and room tail), scaled by the
  speaker-to-microphone coupling: a conservative ``coupling_db`` at first,
  then, once ``learn_frames`` gated frames were seen, learned from them (the
  loudest observed mic/playback ratio over ``learn_window`` seconds plus a
  ``safety_db`` allowance; waiting for enough frames keeps a quiet onset from
  teaching it an optimistic value);
* while that estimate is above silence, a microphone frame passes only when it
  is ``margin`` louder than the estimate; once the user gets through, the gate
  holds open for ``hangover`` seconds so the quieter ends of words pass too;
  gated frames become silence (the track keeps running).

The cost: while the assistant speaks, a user must talk clearly louder than its
echo to barge in. With push-to-talk or headphones the gate is idle.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from audio.base.clock import Clock
from audio.dsp.levels import rms_dbfs

AUDIBLE_DBFS = -60.0
"""Quieter than this counts as silence (no echo to expect, nothing learned)."""


class EchoGuard:
    """Gates microphone frames against what the speaker played recently."""

    def __init__(
        self,
        clock: Clock,
        *,
        window: float = 0.6,
        coupling_db: float = -6.0,
        margin_db: float = 6.0,
        hangover: float = 0.3,
        learn_window: float = 3.0,
        learn_frames: int = 25,
        safety_db: float = 3.0,
        min_coupling_db: float = -45.0,
        enabled: bool = True,
    ) -> None:
        self._clock = clock
        self.window = window
        self.coupling_db = coupling_db
        self.margin_db = margin_db
        self.hangover = hangover
        self.learn_window = learn_window
        self.learn_frames = learn_frames
        self.safety_db = safety_db
        self.min_coupling_db = min_coupling_db
        self.enabled = enabled
        self._observed: deque[tuple[float, float]] = deque()  # (time, mic minus playback dB) of gated frames
        self._played: deque[tuple[float, float]] = deque()  # (time, level dBFS)
        self._open_until = float("-inf")
        self.frames_gated = 0
        self.frames_passed = 0

    def note_playback(self, frame: np.ndarray) -> None:
        """A frame the speaker is playing (called by the output pump)."""
        level = rms_dbfs(frame)
        if level > AUDIBLE_DBFS:
            self._played.append((self._clock.monotonic(), level))

    def reset(self) -> None:
        """Playback was flushed (barge-in, cleared buffer): no echo is coming."""
        self._played.clear()
        self._open_until = float("-inf")

    def _playback_peak(self) -> float | None:
        now = self._clock.monotonic()
        while self._played and self._played[0][0] < now - self.window:
            self._played.popleft()
        return max(level for _, level in self._played) if self._played else None

    def coupling(self) -> float:
        """Speaker-to-microphone gain in dB: learned from gated frames, else the conservative default."""
        now = self._clock.monotonic()
        while self._observed and self._observed[0][0] < now - self.learn_window:
            self._observed.popleft()
        if len(self._observed) < self.learn_frames:
            return self.coupling_db
        learned = max(ratio for _, ratio in self._observed) + self.safety_db
        return min(self.coupling_db, max(self.min_coupling_db, learned))

    def echo_estimate_dbfs(self) -> float | None:
        """The loudest echo expected right now, or ``None`` when the speaker has been quiet."""
        peak = self._playback_peak()
        return None if peak is None else peak + self.coupling()

    def process(self, frame: np.ndarray) -> np.ndarray:
        """The frame itself when it is (probably) the user, else silence of the same shape."""
        if not self.enabled:
            return frame
        estimate = self.echo_estimate_dbfs()
        if estimate is None:
            return frame
        now = self._clock.monotonic()
        level = rms_dbfs(frame)
        if level >= estimate + self.margin_db:
            self._open_until = now + self.hangover
        if now <= self._open_until:
            self.frames_passed += 1
            return frame
        peak = self._playback_peak()
        if peak is not None and level > AUDIBLE_DBFS:
            self._observed.append((now, level - peak))
        self.frames_gated += 1
        return np.zeros_like(frame)
