"""The assistant's playing state, derived from the audio actually received, for transports without
``output_audio_buffer.*`` events (WebSocket, or a compatible server that omits them).

Every received frame extends the playout by its duration at real-time speed
(the speaker, a file sink or a recorder consume the pipe at that pace); the
state turns off when that time has passed or playback is flushed (barge-in).
The echo guard, barge-in and the "input ended, last reply played" logic then
work as with the service's own playback events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from audio.clock import Clock

TAIL_SECONDS = 0.05  # the sink's own buffering after the last sample


class Playout:
    def __init__(self, clock: Clock, sample_rate: int, on_change: Callable[[bool], None]) -> None:
        self._clock = clock
        self._rate = sample_rate
        self._on_change = on_change
        self.playing = False
        self._until = 0.0
        self._wake = asyncio.Event()

    def received(self, pcm: np.ndarray) -> None:
        now = self._clock.monotonic()
        self._until = max(self._until, now) + pcm.shape[0] / self._rate
        if not self.playing:
            self.playing = True
            self._on_change(True)
            self._wake.set()

    def flushed(self) -> None:
        self._until = 0.0
        if self.playing:
            self.playing = False
            self._on_change(False)

    async def run(self) -> None:
        """Turn the state off when the received audio has played out (a connection task)."""
        while True:
            if not self.playing:
                self._wake.clear()
                await self._wake.wait()
                continue
            left = self._until + TAIL_SECONDS - self._clock.monotonic()
            if left > 0:
                await self._clock.sleep(left)
                continue
            self.playing = False
            self._on_change(False)
