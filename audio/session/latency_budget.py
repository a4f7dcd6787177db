"""The latency budget: network RTT, jitter buffer, playout and turn latency, sampled at a low rate.

Why: "it feels slow" needs a stage to blame. Each figure comes from the part
that owns it: the transport (RTCP round trip, the receive jitter buffer; only
transports that implement :class:`~audio.transports.transport.LinkStatsSource`), the playback pipe (and the
speaker reading it), and the turn-latency meter. Published as
:class:`~audio.session.events.LatencyBudget` once per ``BUDGET_INTERVAL``, so
the panel and ``--json`` show it without flooding either.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from audio.base.clock import Clock
from audio.dsp.pipe import AudioPipe
from audio.session.events import LatencyBudget, SessionEvent
from audio.session.turn_latency import TurnLatencyMeter
from audio.transports.transport import LinkStats, LinkStatsSource

BUDGET_INTERVAL = 1.0


async def sample(transport: Any, pipe: AudioPipe | None, latency: TurnLatencyMeter) -> LatencyBudget:
    link = await transport.link_stats() if isinstance(transport, LinkStatsSource) else LinkStats()
    return LatencyBudget(
        network_rtt_ms=link.rtt_ms,
        jitter_buffer_ms=link.jitter_buffer_ms,
        jitter_target_ms=link.jitter_target_ms,
        playout_ms=round(pipe.playout_ms, 1) if pipe is not None else None,
        turn_latency_ms=round(latency.last * 1000, 1) if latency.last is not None else None,
        concealed_frames=link.concealed_frames,
    )


async def run_latency_budget(
    clock: Clock,
    transport: Any,
    pipe: Callable[[], AudioPipe | None],
    latency: TurnLatencyMeter,
    publish: Callable[[SessionEvent], None],
    interval: float = BUDGET_INTERVAL,
) -> None:
    """Publish a budget every ``interval`` until cancelled (with the connection)."""
    while True:
        await clock.sleep(interval)
        publish(await sample(transport, pipe(), latency))
