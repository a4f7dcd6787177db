"""Make-before-break: the next connection opens while the live one talks; at a turn boundary the microphone moves.

A renewal (``renewal.py``) must not leave the user talking into nothing for
the length of a handshake. :meth:`Handover.prepare` opens the next connection
alongside the live one -- secret, SDP or WebSocket handshake, event channel,
``session.update`` with the same settings -- negotiated to send audio but with
no track yet, so the service hears nothing from it, and what it sends back is
dropped (:class:`HeldPlayback`). Its server events are
not interpreted: its settings (``session.created``/``.updated``) and errors
are kept for when it is the live connection, anything else is dropped, so
nothing it says reaches the transcript.

At a turn boundary :meth:`Handover.activate` moves the media paths (the paced
microphone track and the playback stream) to it within one step of the event
loop, makes its generation the live one (the old connection's callbacks are
ignored from then on), replays the events it kept and starts its timer and
tasks. The caller then carries the recent conversation over and closes the
old connection. The audio gap is the time to move the track; at most the one
20 ms frame the old connection was already waiting for goes to it.

Opening may fail: the old connection goes on, the next try follows a
:class:`~audio.session.backoff.Backoff` schedule while the cap is ahead, and
without a connection ready the renewal breaks before it makes, as a
reconnection does.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from audio.base.errors import VoxflowError
from audio.wire import protocol
from audio.session.backoff import Backoff, retriable
from audio.session.connection import Connection
from audio.session.renewal_port import RenewalPort
from audio.transports.secrets import EphemeralSecret
from audio.session.session_sync import session_update_needed
from audio.transports.transport import AudioPaths, TransportCallbacks

log = logging.getLogger(__name__)

KEPT = frozenset({protocol.SESSION_CREATED, protocol.SESSION_UPDATED, protocol.ERROR})
"""What a connection opened ahead may say that matters once it is live: its settings, a refused update."""
MAX_KEPT = 20


class HeldPlayback:
    """The playback side of a connection opened ahead: what it receives is dropped until it is live.

    A WebRTC peer sends silence between replies, so without this the playback
    stream would get the new connection's frames on top of the old one's.
    """

    def __init__(self) -> None:
        self.live = False
        self._paths: AudioPaths | None = None
        self.sample_rate, self.channels = 24_000, 1

    def wrap(self, paths: AudioPaths) -> AudioPaths:
        """``paths`` with the receiving side held back."""
        self._paths = paths
        self.sample_rate, self.channels = paths.receive.sample_rate, paths.receive.channels
        return replace(paths, receive=self, on_received=self._received)

    def write(self, frame: np.ndarray) -> None:
        if self.live and self._paths is not None:
            self._paths.receive.write(frame)

    def _received(self, pcm: np.ndarray) -> None:
        if self.live and self._paths is not None and self._paths.on_received is not None:
            self._paths.on_received(pcm)

    def flush(self) -> None:
        if self.live and self._paths is not None:
            self._paths.receive.flush()

    def stop(self) -> None:
        """The playback stream belongs to the session, not to this connection."""


@dataclass(eq=False)
class Standby:
    """A connection opened ahead: not live, its events kept and its audio dropped until it is."""

    conn: Connection
    playback: HeldPlayback = field(default_factory=HeldPlayback)
    kept: list[str | bytes] = field(default_factory=list)
    created: dict[str, Any] = field(default_factory=dict)  # the session as session.created described it
    link: tuple[str, str] = ("new", "new")  # its last (link, event channel) state, for the connection panel
    call_id: str | None = None
    live: TransportCallbacks | None = None  # how the session follows it once it is the live connection


class Handover:
    """Opens the next connection ahead and makes it the live one (one per session, used by ``Renewal``)."""

    def __init__(self, session: RenewalPort) -> None:
        self.session = session
        self.standby: Standby | None = None  # open and ready, waiting for a turn boundary
        self.opened = 0  # connections opened ahead (for tests and the soak benchmark)

    @property
    def ready(self) -> bool:
        return self.standby is not None and not self.standby.conn.ended.is_set()

    def take(self) -> Connection | None:
        """The connection opened ahead, for the caller to release (the live one is ending)."""
        standby, self.standby = self.standby, None
        return standby.conn if standby is not None else None

    # ---------------------------------------------------------------- opening
    async def prepare(self, backoff: Backoff) -> bool:
        """Open the next connection, retried on ``backoff`` while the cap is ahead; True once it is ready."""
        session = self.session
        backoff.start()
        while True:
            attempt = backoff.attempt()
            try:
                self.standby = await self._open()
                self.opened += 1
                return True
            except VoxflowError as exc:
                error = exc
            reason = error.message
            delay = backoff.next_delay(error) if retriable(error) else None
            if delay is None or delay >= session.timer.remaining():
                session.warn(f"could not open the next session ahead ({reason}): it will be opened at the switch")
                return False
            session.warn(f"opening the next session ahead failed (attempt {attempt}: {reason}); trying again in {delay:.1f} s")
            await session.clock.sleep(delay)

    async def _open(self) -> Standby:
        session = self.session
        live = session.live_connection()
        if live is None or live.media is None:
            raise VoxflowError("the session is not connected")
        standby = Standby(Connection(session.lifecycle.reserve()))
        standby.live = session.connection_callbacks(standby.conn.generation)
        standby.conn.transport = session.new_transport(TransportCallbacks(
            on_message=lambda message: self._message(standby, message),
            on_state=lambda link, channel: self._state(standby, link, channel),
            on_closed=lambda reason, error: self._closed(standby, reason, error),
        ))
        timeout = session.config.connect_timeout
        try:
            secret = await session.secret_provider.mint(session.config)
            await asyncio.wait_for(self._handshake(standby, secret), timeout)
        except BaseException as exc:
            await standby.conn.release()
            if isinstance(exc, TimeoutError):
                raise VoxflowError(f"no answer from the Realtime service within {timeout:g} s") from None
            if isinstance(exc, Exception) and not isinstance(exc, VoxflowError):
                log.exception("opening the next session ahead failed")
                raise VoxflowError(f"connecting failed ({type(exc).__name__})") from None
            raise
        return standby

    async def _handshake(self, standby: Standby, secret: EphemeralSecret) -> None:
        conn, live = standby.conn, self.session.live_connection()
        media = live.media if live is not None else None
        assert conn.transport is not None and media is not None
        standby.call_id = await conn.transport.open(secret, standby.playback.wrap(media.paths(send_later=True))) or None
        await conn.wait_or_end(conn.transport.wait_open())
        await conn.wait_or_end(conn.created.wait())
        update = session_update_needed(self.session.config, standby.created)
        if update is not None:
            conn.transport.send(self.session.stamp(update))

    # ---------------------------------------------------------------- its callbacks
    def _live(self, standby: Standby) -> bool:
        return self.session.lifecycle.current(standby.conn.generation)

    def _message(self, standby: Standby, message: str | bytes) -> None:
        if self._live(standby) and standby.live is not None:
            standby.live.on_message(message)
            return
        event = protocol.parse_server_event(message)
        if isinstance(event, protocol.MalformedEvent) or event.type not in KEPT:
            return  # not a turn of this conversation (nothing was said to it yet): not for the transcript
        if event.type == protocol.SESSION_CREATED:
            session = event.get("session")
            standby.created = session if isinstance(session, dict) else {}
            standby.conn.created.set()
        if len(standby.kept) < MAX_KEPT:
            standby.kept.append(message)

    def _state(self, standby: Standby, link: str, channel: str) -> None:
        if self._live(standby) and standby.live is not None:
            standby.live.on_state(link, channel)
        else:
            standby.link = (link, channel)

    def _closed(self, standby: Standby, reason: str, error: bool) -> None:
        if self._live(standby) and standby.live is not None:
            standby.live.on_closed(reason, error)
            return
        standby.conn.transport_ended(reason, error)  # while opening: the handshake raises it
        if self.standby is standby:  # dropped while waiting for the boundary: the switch will break first
            log.info("the session opened ahead dropped: %s", reason)
            self.standby = None
            self.session.release_later(standby.conn)

    # ---------------------------------------------------------------- switching
    def activate(self) -> tuple[Connection, float]:
        """Make the connection opened ahead the live one; returns the old connection (to release) and the gap (s)."""
        session, standby = self.session, self.standby
        old = session.live_connection()
        assert standby is not None and old is not None and old.media is not None and old.transport is not None
        self.standby = None
        conn, media = standby.conn, old.media
        assert conn.transport is not None
        started = time.perf_counter()
        if media.send_track is not None:
            old.transport.move_send(None)
            conn.transport.move_send(media.send_track)
            media.input_moved()  # the new connection's input audio time starts here
        gap = time.perf_counter() - started
        conn.media, old.media = media, None  # the old connection's release leaves the track and the stream alone
        standby.playback.live = True
        session.adopt(conn, call_id=standby.call_id, link=standby.link, kept=standby.kept)
        return old, gap
