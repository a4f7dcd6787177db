"""The assistant's playing state, derived from the audio actually received, wherever the server does not report it.

Every audible received frame extends the playout by its duration at real-time
speed (the speaker, a file sink or a recorder consume the pipe at that pace),
and so do quiet frames within a short hangover of audible ones (pauses inside a
reply); the state turns off when that time has passed or playback is flushed
(barge-in). Silence alone never counts: a WebRTC peer sends it between replies.
The echo guard, barge-in and the "input ended, last reply played" logic then
work as with the service's own playback events.

It runs on every connection from its first frame, so the first audible frame
of a reply, however short, turns the state on at once (issue #21: a 220 ms
reply never showed as playing when it waited a second for events). The
service's ``output_audio_buffer.*`` events, where it sends them (WebRTC), take
over from the first one on. Over WebRTC, after a flush, audio is the cut
reply's tail until it stops (a quiet frame, or nothing for ``RESIDUE_GAP``)
*and* a new response was created: what was still in flight from the cut reply
never turns the state back on. Over WebSocket each delta names its response,
and the cut reply's late deltas do not even reach playback (``reply_cuts.py``).
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
from audio.wire import protocol

TAIL_SECONDS = 0.05  # the sink's own buffering after the last sample
HANGOVER_SECONDS = 0.5  # quiet frames this soon after audible ones are part of the reply (a pause)
RESIDUE_GAP = 0.06  # no audio for this long after a flush: the cut reply's tail is over


def audible(pcm: np.ndarray) -> bool:
    return pcm.size > 0 and rms_dbfs(pcm) > AUDIBLE_DBFS


class Playout:
    """One connection's playing state as its received audio says (the rules: the module docstring)."""

    def __init__(self, clock: Clock, sample_rate: int, on_change: Callable[[bool], None], *, tail_rule: bool = True) -> None:
        self._clock = clock
        self._tail_rule = tail_rule  # False: a cut reply's audio never arrives here (dropped by its response id)
        self._rate = sample_rate
        self._on_change = on_change
        self.playing = False
        self._until = 0.0
        self._last_audible = float("-inf")
        self._last_received = float("-inf")
        self._wake = asyncio.Event()
        self._residue = False  # after a flush: audio is the cut reply's until it stopped and a response was created
        self._tail_over = self._new_response = False

    def received(self, pcm: np.ndarray) -> None:
        now = self._clock.monotonic()
        gap = now - self._last_received >= RESIDUE_GAP
        self._last_received = now
        loud = audible(pcm)
        if self._residue:
            self._tail_over = self._tail_over or gap or not loud
            if not (self._tail_over and self._new_response):
                return  # the tail of the reply that was cut, still in flight
            self._residue = False
        if loud:
            self._last_audible = now
        elif not self.playing or now - self._last_audible > HANGOVER_SECONDS:
            return  # silence between replies (WebRTC sends it all the time) is not playback
        self._until = max(self._until, now) + pcm.shape[0] / self._rate
        if not self.playing:
            self.playing = True
            self._on_change(True)
            self._wake.set()

    def response_started(self) -> None:
        """A response was created: after a flush, its audio is new (once the cut reply's tail is over)."""
        self._new_response = True

    def flushed(self) -> None:
        self._until = 0.0
        self._last_audible = float("-inf")
        self._residue, self._tail_over, self._new_response = self._tail_rule, False, False
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
    """The interpreter's side: whether the server reported playback, the playing state, and its server events."""

    saw_playback_events: bool
    assistant_playing: bool

    def set_playing(self, playing: bool, response_id: str | None = None) -> None: ...

    def add_listener(self, event_type: str, listener: Callable[[protocol.ServerEvent], None]) -> Callable[[], None]: ...


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

    def stop(self) -> None:
        undo, self._undo = self._undo, []
        for step in undo:
            step()

    def _unlisten(self, listener: Callable[[np.ndarray], None]) -> None:
        if listener in self._media.playback_listeners:
            self._media.playback_listeners.remove(listener)

    def _changed(self, playing: bool) -> None:
        """The received audio's verdict counts until the server reports playback itself."""
        if not self._state.saw_playback_events and playing != self._state.assistant_playing:
            self._state.set_playing(playing)

    def start(self, *, tail_rule: bool = True) -> None:
        playout = Playout(self._clock, self._media.output_sample_rate, self._changed, tail_rule=tail_rule)
        self._media.playback_listeners.append(playout.received)
        self._undo.append(lambda: self._unlisten(playout.received))
        def response_created(event: protocol.ServerEvent) -> None:
            playout.response_started()
            response_id = (event.get("response") or {}).get("id")
            if isinstance(response_id, str):
                self._media.cuts.seen(response_id)

        self._undo.append(self._state.add_listener(protocol.RESPONSE_CREATED, response_created))
        pipe = self._media.output_pipe
        if pipe is not None:
            self._undo.append(pipe.add_flush_listener(playout.flushed))
        self._spawn(playout.run(), "playout")


def follow_playout(clock: Clock, conn: Connection, state: PlayingState) -> None:
    """The live connection's playing state: from received audio, until the server reports playback itself."""
    assert conn.media is not None and conn.transport is not None
    follower = PlayoutFollower(clock, conn.media, conn.spawn, state)
    conn.cleanups.append(follower.stop)
    # where the reply arrives as events (no server playback: WebSocket), its audio names its response and a
    # cut reply's late deltas are dropped by id (reply_cuts.py); only a media track needs the tail rule
    follower.start(tail_rule=conn.transport.server_playback)
