"""A bad network on demand: seeded loss and delay for RTP packets, and timeline replay.

There is no netem here, so the receive path is tested and benchmarked with a
user-space link model: each packet is dropped with probability ``loss`` or
delayed by ``jitter ± jitter`` seconds (uniform, so 0..2*jitter; packets whose
delays differ by more than a frame arrive reordered). The same seeded plan
drives the aiortc hook (real packets, real time) and :func:`replay`
(a packet timeline on simulated time), so both see the same link.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass

from audio.dsp.jitter import AdaptiveJitterBuffer, Conceal, Play


@dataclass(frozen=True)
class Impairment:
    loss: float = 0.0
    jitter: float = 0.0
    seed: int = 0

    def plan(self) -> LinkPlan:
        return LinkPlan(self)


class LinkPlan:
    """Decides, packet by packet and reproducibly, what the link does."""

    def __init__(self, impairment: Impairment) -> None:
        self.impairment = impairment
        self._rng = random.Random(impairment.seed)
        self.dropped = 0
        self.passed = 0

    def delay(self) -> float | None:
        """Seconds to hold the next packet, or None to drop it."""
        imp = self.impairment
        lost = self._rng.random() < imp.loss
        jitter = imp.jitter + self._rng.uniform(-imp.jitter, imp.jitter) if imp.jitter else 0.0
        if lost:
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
