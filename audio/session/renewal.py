"""Always-on sessions: renewal before the cap and reconnection after a drop.

A Realtime session lasts at most 60 minutes and a network hiccup ends it. The
:class:`Renewal` supervisor moves the conversation to a new connection instead
of ending it: after a drop with ``reconnect`` (on by default), before the cap
with ``renew`` (opt-in):

* **renewal** -- ``lead`` seconds before the cap (or at once when the service
  sends ``session_expired``) it waits for a turn boundary (nobody speaking, no
  reply generating or playing, no turn waiting for its transcription, the
  service quiet for a moment), so no reply and no user turn is cut, then
  switches;
* **reconnection** -- a connection that drops (ICE failure, event channel
  closed, server gone) is replaced at once, and failed attempts are retried on
  the :class:`~audio.session.backoff.Backoff` schedule; credentials refused
  and invalid requests are never retried.

A renewal is make-before-break (:mod:`audio.session.handover`): in the last
minute the next connection is opened alongside the live one, and at the turn
boundary the microphone track and the playback stream move to it and the old
one is closed. A reconnection (and a renewal with nothing opened ahead: the
opening failed, or ``session_expired`` came first) breaks before it makes: it
closes the old connection, keeps the playback stream (downstream nodes keep
reading the same pipe) and connects again with the same config (so the
instructions carry over). Either way the new session gets the recent
conversation as text items (:mod:`audio.session.carry_over`), sent when it
becomes the live one, and the transcript gets a divider entry. A switch that
breaks first reports ``renewing`` / ``reconnecting (attempt n)`` meanwhile;
the session only ends (``wait_closed``) when a switch gives up. Each switch's
audio gap (wall time during which no connection could send the microphone)
is kept in :attr:`Renewal.switches`.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass, replace

from audio.base.errors import VoxflowError
from audio.session.backoff import Backoff, retriable
from audio.session.carry_over import ID_PREFIX, carried_items
from audio.session.connection import Connection
from audio.session.handover import Handover
from audio.session.outage_buffer import OutageReport
from audio.session.renewal_port import RenewalPort
from audio.session.events import (
    PttState,
    SessionEvent,
    SessionState,
    SpeechStarted,
    SpeechStopped,
    StateChanged,
    TranscriptEntry,
)

log = logging.getLogger(__name__)

QUIET_SECONDS = 0.5
"""A turn boundary needs this long without server events (a commit's reply may be about to start)."""
REPLY_SECONDS = 5.0
"""A user turn this recent with no reply after it is still open."""
POLL_SECONDS = 0.05
STABLE_SECONDS = 10.0
"""A connection that drops sooner than this after opening does not reset the retry count."""
MAX_LEAD_SECONDS = 60.0


def renewal_lead(limit_seconds: float) -> float:
    """How long before the cap a renewal starts looking for a turn boundary: a minute, less for short caps."""
    return min(MAX_LEAD_SECONDS, limit_seconds * 0.25)


@dataclass(frozen=True)
class Switch:
    """One completed move to a new connection."""

    kind: str  # "renewal" or "reconnection"
    reason: str
    attempts: int
    gap_seconds: float  # wall time without a connection able to send
    ahead: bool = False  # made before break: the new connection was opened while the old one talked
    outage: OutageReport | None = None  # broke first: what the microphone heard meanwhile, and what was sent


class Renewal:
    """The session's renewal and reconnection supervisor (one per session, with ``renew`` or ``reconnect``)."""

    def __init__(self, session: RenewalPort, backoff: Backoff | None = None) -> None:
        self.session = session
        self.backoff = backoff or Backoff(session.clock)
        self.switches: collections.deque[Switch] = collections.deque(maxlen=100)
        self.count = 0
        self.speaking = False
        self._task: asyncio.Task[None] | None = None
        self._again: tuple[str, str] | None = None
        self.handover = Handover(session)
        self._connected_at: float | None = None  # clock time of the last successful connect
        session.events.add_callback(self._follow)

    @property
    def switching(self) -> bool:
        return self._task is not None and not self._task.done()

    async def wait(self) -> None:
        """Until the running switch (if any) has finished or given up."""
        if self._task is not None and not self._task.done():
            await asyncio.wait({self._task})

    def _follow(self, event: SessionEvent) -> None:
        if isinstance(event, SpeechStarted):
            self.speaking = True
        elif isinstance(event, SpeechStopped) or (isinstance(event, StateChanged) and event.state is not SessionState.CONNECTED):
            self.speaking = False

    # ---------------------------------------------------------------- when
    def at_boundary(self) -> bool:
        """Nobody is mid-turn: a switch now cuts neither a reply nor a user turn."""
        session = self.session
        if self.speaking or session.assistant_busy or session.ptt_state is not PttState.OFF:
            return False
        entries = [entry for entry in session.transcript.entries() if entry.role != "session"]
        if session.config.transcription_model and any(entry.pending for entry in entries):
            return False
        last = entries[-1] if entries else None
        if last is not None and last.role == "user" and session.transcript.now() - (last.end or last.start) < REPLY_SECONDS:
            return False  # a user turn waiting for its reply
        return session.clock.monotonic() - session.last_server_activity() >= QUIET_SECONDS

    async def watch(self) -> None:
        """Per connection: from ``lead`` before the cap, open the next one, then switch at the first turn boundary.

        At the cap at the latest; without a connection opened ahead the switch breaks first.
        """
        session = self.session
        timer = session.timer
        await session.clock.sleep(max(0.0, timer.limit - renewal_lead(timer.limit) - timer.elapsed()))
        await self.handover.prepare(replace(self.backoff, attempts=0, _started=None))
        while not self.at_boundary() and timer.remaining() > 0:
            await session.clock.sleep(POLL_SECONDS)
        self.start("renewal", f"renewing before the {timer.limit:g} s cap")

    # ---------------------------------------------------------------- switching
    def start(self, kind: str, reason: str) -> None:
        """Begin a switch (``renewal`` or ``reconnection``); during one, a new drop makes it go round again."""
        if self.switching:
            self._again = (kind, reason)
            return
        self._task = asyncio.get_running_loop().create_task(self._switch(kind, reason), name="voxflow-realtime-switch")

    async def cancel(self) -> None:
        """The user stopped: end the running switch (the session stays disconnected)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.session.drop_kept_playback()
        self.session.drop_held_input()

    async def _switch(self, kind: str, reason: str) -> None:
        session = self.session
        while True:
            self._again = None
            self.count += 1
            if kind == "renewal" and self.handover.ready:
                entries = session.transcript.entries()  # at the boundary: every turn is complete
                old, gap = self.handover.activate()
                await self._settle(kind, reason, entries, 1, gap, ahead=True)
                await self._release_old(old)
            else:
                started = time.perf_counter()
                state = SessionState.RENEWING if kind == "renewal" else SessionState.RECONNECTING
                session.hold_input()  # what the person says meanwhile goes to the next connection
                session.keep_playback(flush=kind != "renewal")  # a drop resets playback; a renewal is at a boundary
                await session.end_connection(state, reason)
                entries = session.transcript.entries()  # after the teardown: a cut reply is final, as said so far
                attempts = await self._connect(kind, reason)
                if attempts is None:
                    return
                if self._again is not None:  # dropped again while settling: round again
                    kind, reason = self._again
                    continue
                await self._settle(kind, reason, entries, attempts, time.perf_counter() - started)
            if self._again is None:
                return
            kind, reason = self._again

    async def _settle(self, kind: str, reason: str, entries: list[TranscriptEntry], attempts: int, gap: float, *,
                      ahead: bool = False) -> None:
        """The new connection is live: give it the conversation so far and what was said meanwhile; mark the switch."""
        session = self.session
        items = carried_items(entries, self.count)
        session.send_carried(items, ID_PREFIX)
        count = self.count
        what = "session renewed" if kind == "renewal" else f"reconnected after {attempts} attempt(s)"
        text = f"{what} ({reason}); {len(items)} turn(s) carried over"
        session.transcript.add_divider(f"switch_{count}", text)  # before what was said meanwhile, which follows it
        outage = None if ahead else await session.resume_input()
        if outage is not None and outage.text():
            session.transcript.add_divider(f"switch_{count}", f"{text}; {outage.text()}")
        self.switches.append(Switch(kind, reason, attempts, gap, ahead, outage))
        log.info("%s, audio gap %.6f s (%s)%s", what, gap, reason, f"; {outage}" if outage is not None else "")

    async def _release_old(self, old: Connection) -> None:
        """Close the connection the session has moved away from (its tasks, its transport; not the moved media)."""
        self._connected_at = self.session.clock.monotonic()
        await self.session.release(old)

    async def connect_first(self) -> None:
        """The first connect, retried like a reconnection (a kiosk booting while the network is down).

        Raises :class:`VoxflowError` with the reason when it gives up (credentials refused: at once).
        """
        if await self._connect("first", "") is None:
            raise VoxflowError(self.session.reason or "connecting failed")

    async def _connect(self, kind: str, reason: str) -> int | None:
        """Connect again, retrying on the backoff schedule; the number of tries, or None (gave up, state ``error``)."""
        session = self.session
        backoff = self.backoff
        last = reason
        clock = session.clock
        if kind == "reconnection" and self._connected_at is not None and clock.monotonic() - self._connected_at < STABLE_SECONDS:
            # the last connection dropped soon after it opened: keep counting, and wait, instead of starting over
            delay = backoff.next_delay()
            if delay is None:
                self._give_up(f"gave up reconnecting after {backoff.attempts} attempt(s): {last} (each connection dropped soon after it opened)")
                return None
            await clock.sleep(delay)
        else:
            backoff.start()
        while True:
            attempt = backoff.attempt()
            if attempt > 1 or kind == "reconnection":
                session.report_state(SessionState.RECONNECTING, f"attempt {attempt}: {last}")
            try:
                await session.connect(failure_state=SessionState.RECONNECTING)
                self._connected_at = clock.monotonic()
                return attempt
            except VoxflowError as exc:
                last = exc.message
                if not retriable(exc):
                    self._give_up(f"not retried: {last}")
                    return None
                delay = backoff.next_delay(exc)
                if delay is None:
                    self._give_up(f"gave up reconnecting after {attempt} attempt(s): {last}")
                    return None
                session.warn(f"reconnecting in {delay:.1f} s (attempt {attempt} failed: {last})")
                await session.clock.sleep(delay)

    def _give_up(self, reason: str) -> None:
        self.session.drop_kept_playback()
        self.session.drop_held_input()
        self.session.report_state(SessionState.ERROR, reason)
