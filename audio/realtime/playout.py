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
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import numpy as np

from audio.clock import Clock
from audio.realtime.media import MediaPaths

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


class PlayingState(Protocol):
    """The interpreter's side: whether the server reported playback, and the playing state to set."""

    saw_playback_events: bool

    def set_playing(self, playing: bool, response_id: str | None = None) -> None: ...


class PlayoutFollower:
    """Wires a :class:`Playout` onto one connection's received audio."""

    def __init__(
        self,
        clock: Clock,
        media: MediaPaths,
        spawn: Callable[[Coroutine[Any, Any, Any], str], Any],
        state: PlayingState,
    ) -> None:
        self._clock, self._media, self._spawn, self._state = clock, media, spawn, state

    def start(self) -> None:
        playout = Playout(self._clock, self._media.output_sample_rate, lambda playing: self._state.set_playing(playing))
        self._media.playback_listeners.append(playout.received)
        if self._media.output_pipe is not None:
            self._media.output_pipe.add_flush_listener(playout.flushed)
        self._spawn(playout.run(), "playout")

    def unless_reported(self, grace: float) -> None:
        """Start only if the server has not reported playback ``grace`` seconds after its first audio."""

        async def check() -> None:
            await self._clock.sleep(grace)
            if not self._state.saw_playback_events:
                self.start()

        def first_audio(pcm: np.ndarray) -> None:
            self._media.playback_listeners.remove(first_audio)
            self._spawn(check(), "playback-events")

        self._media.playback_listeners.append(first_audio)
