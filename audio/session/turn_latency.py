"""Turn latency: from the end of the user's turn to the first audible frame of the reply.

Fed by the interpreter (turn ended, reply audio started, user spoke again) and
by the playback path (each played frame); publishes :class:`TurnLatency` once
per turn. Audio of an older reply must not count, so a frame counts only after
the reply to the ended turn has started playing.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from audio.base.clock import Clock
from audio.dsp.levels import rms_dbfs
from audio.echo.echo_guard import AUDIBLE_DBFS
from audio.session.events import SessionEvent, TurnLatency


class TurnLatencyMeter:
    def __init__(self, clock: Clock, publish: Callable[[SessionEvent], None]) -> None:
        self._clock = clock
        self._publish = publish
        self._turn_end_at: float | None = None
        self._armed = False
        self.last: float | None = None

    def reset(self) -> None:
        self._turn_end_at, self._armed = None, False

    def turn_ended(self) -> None:
        self._turn_end_at, self._armed = self._clock.monotonic(), False

    def reply_audio_started(self) -> None:
        if self._turn_end_at is not None:
            self._armed = True

    def played(self, pcm: np.ndarray) -> None:
        if self._armed and self._turn_end_at is not None and rms_dbfs(pcm) > AUDIBLE_DBFS:
            self.last = max(0.0, self._clock.monotonic() - self._turn_end_at)
            self.reset()
            self._publish(TurnLatency(self.last))
