"""Is the service still there? A link is alive while something arrives from it.

A peer that vanishes (its process killed, the network cut) sends nothing more,
and neither UDP nor a TCP connection that saw no FIN says so: before this
watch only ICE consent (30 s) noticed, so a kill left half a minute of dead
air. The watch declares the link dead after :data:`DEADLINE` seconds in which
*nothing* arrived from the peer, the rule libwebrtc applies behind the W3C
``iceConnectionState`` "disconnected" (``WEAK_CONNECTION_RECEIVE_TIMEOUT``,
2.5 s). Each transport says what counts as hearing the peer (WebRTC: any
datagram on its DTLS transport, so RTP, RTCP and SCTP alike; WebSocket: any
frame, and any TCP segment the kernel counted) and how to ask it for an answer
when it has been quiet for :data:`PROBE_AFTER` (an SCTP HEARTBEAT, a WebSocket
ping): a healthy peer that has nothing to say, a quiet assistant, still
answers, so silence on the wire never looks like death. Why these signals and
not others: docs/always-on.md.

Only time during which this process ran counts: a poll that comes more than
:data:`MAX_STEP` after the previous one means our own event loop stalled (load,
a long GC), and packets may be waiting unread in our socket, so the stall adds
at most ``MAX_STEP`` of silence. A dead peer is then noticed after the stall plus the
deadline, and a stall of this process does not make a live one dead. A
transport may ask for a longer deadline while the silence may be its own
recovery (``patience``: a WebSocket whose TCP was retransmitting, ``tcp_segments.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from audio.base.clock import Clock

log = logging.getLogger(__name__)

DEADLINE = 2.5
"""Seconds without a packet from the peer after which the link is dead (libwebrtc's receive timeout)."""
PROBE_AFTER = 1.0
"""A peer quiet this long is asked for an answer..."""
PROBE_EVERY = 0.1
"""...and asked again this often until it answers: fifteen questions before the deadline, so with 20 % loss
each way (a question and its answer both get through with probability 0.64) a quiet spell goes unanswered
for the whole deadline with probability 0.36 ** 15 = 2e-7. A healthy quiet peer answers the first question
(about one a second); a peer that streams (RTP every 20 ms) is never asked at all."""
POLL = 0.05
"""How often the watch looks; a dead link is reported within ``DEADLINE + 2 * POLL`` of its last packet."""
EPSILON = 1e-9  # silence is a sum of poll steps: 10 * 0.1 must reach 1.0
MAX_STEP = 0.5
"""A poll later than this after the previous one: this process stalled; the stall counts as this much silence.
Half a second is no risk to a live link (a streaming peer's silence is 20 ms, a quiet one's about a second
before it answers) and keeps a loaded machine's ordinary lateness counting as the time it is."""


class Verdict(enum.Enum):
    ALIVE = "alive"
    PROBE = "probe"  # ask the peer for an answer
    DEAD = "dead"


class LinkWatch:
    """The rule, on injected time: :meth:`heard` whenever the peer is heard, :meth:`tick` every poll."""

    def __init__(self, *, deadline: float = DEADLINE, probe_after: float = PROBE_AFTER,
                 probe_every: float = PROBE_EVERY, max_step: float = MAX_STEP,
                 patience: Callable[[], float] | None = None) -> None:
        self.deadline = deadline
        self.patience = patience
        """A longer deadline the transport asks for while silence may be its own recovery (TCP after loss)."""
        self.probe_after = probe_after
        self.probe_every = probe_every
        self.max_step = max_step
        self.silent = 0.0
        """Seconds of silence counted since the peer was last heard."""
        self.longest = 0.0
        """The longest silence counted so far (a link that rode through an outage shows it here)."""
        self.probes = 0
        """Questions asked over the watch's life."""
        self.unanswered = 0
        """Questions asked since the peer was last heard."""
        self.stalls = 0
        """Polls that came late enough to be counted as a stall of this process."""
        self._heard = False
        self._last_tick: float | None = None
        self._next_probe = probe_after

    def heard(self) -> None:
        """Something arrived from the peer (a packet, a frame, an answer)."""
        self._heard = True

    def tick(self, now: float) -> Verdict:
        """One poll at ``now`` (monotonic seconds): what to do."""
        step = 0.0 if self._last_tick is None else max(0.0, now - self._last_tick)
        self._last_tick = now
        if self._heard:
            self._heard = False
            self.silent = 0.0
            self.unanswered = 0
            self._next_probe = self.probe_after
            return Verdict.ALIVE
        if step > self.max_step:
            self.stalls += 1
            step = self.max_step
        self.silent += step
        self.longest = max(self.longest, self.silent)
        deadline = max(self.deadline, self.patience()) if self.patience is not None else self.deadline
        if self.silent >= deadline - EPSILON:
            return Verdict.DEAD
        if self.silent >= self._next_probe - EPSILON:
            self._next_probe = self.silent + self.probe_every
            self.probes += 1
            self.unanswered += 1
            return Verdict.PROBE
        return Verdict.ALIVE


@dataclass(frozen=True)
class LinkLost:
    """The watch's finding: nothing from the peer for ``silent`` seconds, ``unanswered`` questions asked."""

    silent: float
    signal: str  # what was listened for, e.g. "no RTP, RTCP or SCTP heartbeat answer"
    unanswered: int

    @property
    def reason(self) -> str:
        """The one line the session shows (state reason, transcript divider, headless progress)."""
        return f"the link to the service is dead: {self.signal} for {self.silent:.1f} s"


async def watch_link(
    watch: LinkWatch,
    *,
    clock: Clock,
    signal: str,
    probe: Callable[[], Awaitable[None]],
    lost: Callable[[LinkLost], None],
    count: Callable[[], Awaitable[int]] | None = None,
    poll: float = POLL,
) -> None:
    """Run ``watch`` until the link is dead, then call ``lost`` once and return; cancel it to stop watching.

    ``count`` (optional) is a counter of what arrived from the peer, read every
    poll; a change is hearing it (the WebRTC transport's packet count). Each
    ``probe`` runs as its own task (waiting for an answer must not hold the
    watch up); those still running when the watch ends are cancelled.
    """
    probes: set[asyncio.Task[None]] = set()

    async def read(previous: int) -> int:
        assert count is not None
        try:
            return await count()
        except Exception as exc:  # a closing connection: nothing heard
            log.debug("reading the link's packet count failed (%s)", type(exc).__name__)
            return previous

    last = await read(0) if count is not None else 0
    watch.tick(clock.monotonic())
    try:
        while True:
            await clock.sleep(poll)
            if count is not None:
                now_count = await read(last)
                if now_count != last:
                    last = now_count
                    watch.heard()
            verdict = watch.tick(clock.monotonic())
            if verdict is Verdict.PROBE:
                task = asyncio.get_running_loop().create_task(_quietly(probe), name="voxflow-realtime-link-probe")
                probes.add(task)
                task.add_done_callback(probes.discard)
            elif verdict is Verdict.DEAD:
                found = LinkLost(watch.silent, signal, watch.unanswered)
                log.warning("%s (%d question(s) unanswered, %d stall(s) of this process discounted)",
                            found.reason, found.unanswered, watch.stalls)
                lost(found)
                return
    finally:
        for task in list(probes):
            task.cancel()
        for task in list(probes):
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def _quietly(probe: Callable[[], Awaitable[None]]) -> None:
    """A probe that fails (the link is closing) is simply an unanswered question."""
    try:
        await probe()
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.debug("a liveness probe failed (%s)", type(exc).__name__)
