"""A bad network on demand: seeded loss, delay and outages, for RTP packets or a whole link; timeline replay.

There is no netem here, so the receive path is tested and benchmarked with a
user-space link model: each packet is dropped with probability ``loss`` or
delayed by ``jitter ± jitter`` seconds (uniform, so 0..2*jitter; packets whose
delays differ by more than a frame arrive reordered), and every packet is
dropped during an ``outage`` (a cut network; times in seconds from the plan's
start). The same seeded plan drives the aiortc hooks (real packets, real
time: ``adaptive_receive.impair`` for one receiver's RTP, :func:`impair_link`
for everything a peer connection sends and receives) and :func:`replay` (a
packet timeline on simulated time), so all see the same link.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import Any

from audio.dsp.jitter import AdaptiveJitterBuffer, Conceal, Play


@dataclass(frozen=True)
class Impairment:
    loss: float = 0.0
    jitter: float = 0.0
    seed: int = 0
    outages: tuple[tuple[float, float], ...] = ()
    """(start, end) seconds from the plan's start during which every packet is lost."""

    def plan(self) -> LinkPlan:
        return LinkPlan(self)

    def cut(self, at: float) -> bool:
        """Whether the link is down ``at`` seconds from the plan's start."""
        return any(start <= at < end for start, end in self.outages)


class LinkPlan:
    """Decides, packet by packet and reproducibly, what the link does."""

    def __init__(self, impairment: Impairment) -> None:
        self.impairment = impairment
        self._rng = random.Random(impairment.seed)
        self.dropped = 0
        self.passed = 0

    def delay(self, at: float | None = None) -> float | None:
        """Seconds to hold the next packet (sent ``at`` seconds from the start, if outages matter), or None to drop it."""
        imp = self.impairment
        lost = self._rng.random() < imp.loss
        jitter = imp.jitter + self._rng.uniform(-imp.jitter, imp.jitter) if imp.jitter else 0.0
        if lost or (at is not None and imp.cut(at)):
            self.dropped += 1
            return None
        self.passed += 1
        return jitter


@dataclass(frozen=True)
class ReplayResult:
    played: int
    concealed: int
    late: int
    skipped: int
    dropped_by_link: int
    wait_p50_ms: float
    wait_p95_ms: float
    target_ms: float


def replay(
    buffer: AdaptiveJitterBuffer,
    impairment: Impairment,
    frames: int,
    *,
    send_jitter: Iterable[float] | None = None,
    frame: float = 0.02,
) -> ReplayResult:
    """Send ``frames`` packets every ``frame`` s through the link into ``buffer``, on simulated time.

    The buffer is popped at each of its deadlines, exactly as the aiortc
    adapter does on the real clock; ``send_jitter`` optionally adds per-packet
    sender lateness (e.g. a loaded event loop). The payloads are empty, i.e.
    silence, so every frame offered for shrinking (``Play.shrink``) is dropped.
    """
    plan = impairment.plan()
    extra = iter(send_jitter) if send_jitter is not None else None
    arrivals: list[tuple[float, int]] = []
    for i in range(frames):
        delay = plan.delay()
        lateness = next(extra, 0.0) if extra is not None else 0.0
        if delay is not None:
            arrivals.append((i * frame + lateness + delay, i))
    arrivals.sort()
    for arrival, i in arrivals:
        _pop_until(buffer, arrival)
        buffer.push(i % 65536, (i * buffer.frame_samples) % (1 << 32), b"", arrival)
    while buffer.buffered:  # play out what is left, but conceal nothing past the last packet
        deadline = buffer.next_deadline()
        assert deadline is not None
        _pop_until(buffer, deadline + 1e-9)
    stats = buffer.stats
    return ReplayResult(
        played=stats.played,
        concealed=stats.concealed,
        late=stats.late,
        skipped=stats.skipped,
        dropped_by_link=plan.dropped,
        wait_p50_ms=stats.wait_percentile(50),
        wait_p95_ms=stats.wait_percentile(95),
        target_ms=stats.target_ms,
    )


def _pop_until(buffer: AdaptiveJitterBuffer, until: float) -> list[Play | Conceal]:
    out: list[Play | Conceal] = []
    while (deadline := buffer.next_deadline()) is not None and deadline < until:
        for item in buffer.pop(deadline):
            if isinstance(item, Play) and item.shrink:
                buffer.shrunk()  # a silent payload: the receive path drops it to shrink
            else:
                out.append(item)
    return out


def impair_link(pc: Any, inbound: Impairment, outbound: Impairment | None = None,
                *, now: Callable[[], float] = time.monotonic) -> tuple[LinkPlan, LinkPlan]:
    """Drop what an aiortc peer connection receives and sends (``outbound``: the same link unless given), from now on.

    Everything under DTLS goes through it (RTP, RTCP, the data channel's SCTP);
    ICE's own STUN checks do not (aioice answers them below), which matters
    only for ICE consent, 30 s. Loss and outages only: delay is not applied
    here (``adaptive_receive.impair`` delays one receiver's RTP). It replaces
    the ICE transports' ``_recv``/``_send`` (aiortc internals, pinned in
    pyproject.toml), so it is a tool for tests and benchmarks, never for a
    user's session. Returns the (inbound, outbound) plans, whose counters
    say what was dropped.
    """
    ice_transports: dict[int, Any] = {}
    dtls = [transceiver.receiver.transport for transceiver in pc.getTransceivers()]
    if pc.sctp is not None:
        dtls.append(pc.sctp.transport)
    for transport in dtls:
        ice_transports[id(transport.transport)] = transport.transport
    start = now()
    rx = inbound.plan()
    tx = (outbound if outbound is not None else replace(inbound, seed=inbound.seed + 1)).plan()  # its own draws
    for ice in ice_transports.values():
        for name in ("_recv", "_send"):
            if not callable(getattr(ice, name, None)):
                raise RuntimeError(f"aiortc's RTCIceTransport has no {name}: impair_link needs the pinned aiortc")
        _hook(ice, rx, tx, start, now)
    return rx, tx


def _hook(ice: Any, rx: LinkPlan, tx: LinkPlan, start: float, now: Callable[[], float]) -> None:
    receive, send = ice._recv, ice._send

    async def impaired_receive() -> bytes:
        while True:
            data = await receive()
            if rx.delay(now() - start) is not None:
                return data

    async def impaired_send(data: bytes) -> None:
        if tx.delay(now() - start) is not None:
            await send(data)

    ice._recv, ice._send = impaired_receive, impaired_send
