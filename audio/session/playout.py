"""The assistant's playing state, derived from the audio actually received, for transports without
``output_audio_buffer.*`` events (WebSocket, or a compatible server that omits them).

Every audible received frame extends the playout by its duration at real-time
speed (the speaker, a file sink or a recorder consume the pipe at that pace),
and so do quiet frames within a short hangover of audible ones (pauses inside a
reply); the state turns off when that time has passed or playback is flushed
(barge-in). Silence alone never counts: a WebRTC peer sends it between replies.
The echo guard, barge-in and the "input ended, last reply played" logic then
work as with the service's own playback events.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

import numpy as np

from audio.base.clock import Clock
from audio.dsp.levels import rms_dbfs
from audio.echo.echo_guard import AUDIBLE_DBFS
from audio.session.connection import Connection
from audio.session.media import MediaPaths

PLAYBACK_EVENTS_GRACE = 1.0  # seconds after the first received audio for output_audio_buffer.started
TAIL_SECONDS = 0.05  # the sink's own buffering after the last sample
HANGOVER_SECONDS = 0.5  # quiet frames this soon after audible ones are part of the reply (a pause)


def audible(pcm: np.ndarray) -> bool:
    return pcm.size > 0 and rms_dbfs(pcm) > AUDIBLE_DBFS


class Playout:
    def __init__(self, clock: Clock, sample_rate: int, on_change: Callable[[bool], None]) -> None:
        self._clock = clock
        self._rate = sample_rate
        self._on_change = on_change
        self.playing = False
        self._until = 0.0
        self._last_audible = float("-inf")
        self._wake = asyncio.Event()

    def received(self, pcm: np.ndarray) -> None:
        now = self._clock.monotonic()
        if audible(pcm):
            self._last_audible = now
        elif not self.playing or now - self._last_audible > HANGOVER_SECONDS:
            return  # silence between replies (WebRTC sends it all the time) is not playback
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
    """Wires a :class:`Playout` onto one connection's received audio; :meth:`stop` unwires it.

    The media paths may outlive the connection (a handover moves them to the
    next one), so everything hooked onto them is taken off again at ``stop``
    (the connection's release calls it).
    """

    def __init__(
        self,
        clock: Clock,
        media: MediaPaths,
        spawn: Callable[[Coroutine[Any, Any, Any], str], Any],
        state: PlayingState,
    ) -> None:
        self._clock, self._media, self._spawn, self._state = clock, media, spawn, state
        self._undo: list[Callable[[], None]] = []

    def _listen(self, listener: Callable[[np.ndarray], None]) -> None:
        self._media.playback_listeners.append(listener)
        self._undo.append(lambda: self._unlisten(listener))

    def _unlisten(self, listener: Callable[[np.ndarray], None]) -> None:
        if listener in self._media.playback_listeners:
            self._media.playback_listeners.remove(listener)

    def stop(self) -> None:
        undo, self._undo = self._undo, []
        for step in undo:
            step()

    def start(self) -> None:
        playout = Playout(self._clock, self._media.output_sample_rate, lambda playing: self._state.set_playing(playing))
        self._listen(playout.received)
        pipe = self._media.output_pipe
        if pipe is not None:
            self._undo.append(pipe.add_flush_listener(playout.flushed))
        self._spawn(playout.run(), "playout")

    def unless_reported(self, grace: float) -> None:
        """Start only if the server has not reported playback ``grace`` seconds after its first audio."""

        async def check() -> None:
            await self._clock.sleep(grace)
            if not self._state.saw_playback_events:
                self.start()

        def first_audio(pcm: np.ndarray) -> None:
            if not audible(pcm):
                return  # a WebRTC peer's silence between replies is not the reply's audio
            self._unlisten(first_audio)
            self._spawn(check(), "playback-events")

        self._listen(first_audio)


def follow_playout(clock: Clock, conn: Connection, state: PlayingState, grace: float = PLAYBACK_EVENTS_GRACE) -> None:
    """Where the live connection's playing state comes from; unwired when the connection is released."""
    assert conn.media is not None and conn.transport is not None
    follower = PlayoutFollower(clock, conn.media, conn.spawn, state)
    conn.cleanups.append(follower.stop)
    if conn.transport.server_playback:  # believe output_audio_buffer.* events, unless the server never sends them
        follower.unless_reported(grace)
    else:  # no such events: the playing state comes from the audio received
        follower.start()
