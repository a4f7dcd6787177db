"""The caller's ear: the run's recorder, with the caller listening in on the assistant's side.

The session writes the reply into the recording at the clock time each piece
plays (:class:`~audio.session.Recorder`; a WebSocket reply that arrives faster
than real time is placed where it will play, a barge-in cuts what was queued).
That is exactly when a person on the line hears it, so the caller hears it
there too: it waits for the voice it hears, on the recording's clock, not for
the service's events, which can run seconds ahead on a loaded machine. The
caller's own side is written as each frame is sent, a little after it was
handed out (the sending track holds a few); counting those frames tells the
caller when its turns really began and ended on the recording.
"""

from __future__ import annotations

import numpy as np

from audio.base.clock import Clock
from audio.session import Recorder
from flow.scenarios.caller import Caller


class CallerEar:
    """A :class:`~audio.session.Recorder` that writes through to ``recorder`` and tells ``caller`` what plays when."""

    def __init__(self, recorder: Recorder, caller: Caller, clock: Clock) -> None:
        self._recorder = recorder
        self._caller = caller
        self._clock = clock
        self._frames = 0

    def write_user(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        """One frame the caller handed out, as it is sent: each frame once, in order (the track's hook)."""
        self._recorder.write_user(pcm, rate, at)
        self._caller.sent_frame(self._frames, rate, self._clock.monotonic() if at is None else at)
        self._frames += 1

    def write_assistant(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        self._recorder.write_assistant(pcm, rate, at)
        self._caller.heard(pcm, rate, self._clock.monotonic() if at is None else at)

    def cut_assistant(self, at: float | None = None) -> None:
        self._recorder.cut_assistant(at)
        self._caller.cut(self._clock.monotonic() if at is None else at)


_: type[Recorder] = CallerEar
