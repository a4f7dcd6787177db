"""The latency budget: from a live session against the local server, and its parts on their own."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from audio.base.clock import FakeClock
from audio.dsp.pipe import AudioPipe
from audio.session.events import LatencyBudget, TurnLatency
from audio.session.latency_budget import sample
from audio.transports.transport import LinkStats
from audio.session.turn_latency import TurnLatencyMeter
from tests.realtime_session.conftest import WAIT, assert_released, utterance
from tui.session_view import SessionView
from tui.widgets.connection_panel import budget_line


@pytest.mark.slow
async def test_a_live_session_publishes_rtt_jitter_buffer_playout_and_turn_latency(start_server, make_session, registry) -> None:
    server = await start_server()
    session, log = make_session(server, source=utterance(), vad={"type": "server_vad"})
    await session.connect()
    pipe = registry.get(session.output_stream_id)

    async def listen() -> None:
        while await pipe.read() is not None:
            pass

    reader = asyncio.create_task(listen())
    turn = await log.wait_for(TurnLatency)
    budget = await log.wait_for(
        LatencyBudget, lambda b: b.network_rtt_ms is not None and b.turn_latency_ms is not None, timeout=WAIT
    )
    assert 0 <= budget.network_rtt_ms < 1000  # loopback: RTCP says milliseconds
    assert budget.turn_latency_ms == round(turn.seconds * 1000, 1)
    assert budget.jitter_buffer_ms is not None and budget.jitter_target_ms is not None
    assert 20 <= budget.jitter_target_ms <= 500  # at least one frame, bounded
    assert budget.playout_ms is not None and budget.playout_ms >= 0
    await session.disconnect()
    await asyncio.wait_for(reader, WAIT)
    await assert_released(session, registry)  # the budget task ends with the connection


class FakeLink:
    """Implements LinkStatsSource, as WebRtcTransport does."""

    async def link_stats(self) -> LinkStats:
        return LinkStats(rtt_ms=12.5, jitter_buffer_ms=20.0, jitter_target_ms=20.0, concealed_frames=3)


async def test_sample_takes_each_figure_from_its_owner() -> None:
    clock = FakeClock()
    meter = TurnLatencyMeter(clock, lambda event: None)
    pipe = AudioPipe(24000, 1)
    pipe.write(np.zeros((480 * 3, 1), dtype=np.int16))  # 60 ms queued in the pipe
    pipe.downstream_ms = lambda: 35.0  # and a speaker holding 35 ms
    budget = await sample(FakeLink(), pipe, meter)
    assert budget == LatencyBudget(12.5, 20.0, 20.0, 95.0, None, 3)
    meter.turn_ended()
    meter.reply_audio_started()
    await clock.advance(0.8)
    meter.played(np.full((480, 1), 8000, dtype=np.int16))
    budget = await sample(object(), pipe, meter)  # a transport without link stats (WebSocket)
    assert budget.turn_latency_ms == 800.0 and budget.network_rtt_ms is None and budget.jitter_buffer_ms is None


def test_panel_line_and_view() -> None:
    view = SessionView()
    budget = LatencyBudget(12.4, 20.0, 40.0, 35.0, 812.0, 2)
    view.apply(budget)
    assert view.budget is budget
    assert budget_line(budget) == "RTT 12 · jitter 20/40 · play 35 · turn 812 ms · 2 concealed"
    assert budget_line(LatencyBudget()) == "RTT – · jitter – · play – · turn – ms"


def test_headless_json_carries_the_budget() -> None:
    from flow.headless import event_json

    body = event_json(LatencyBudget(1.5, 20.0, 20.0, 40.0, None, 0), "talk")
    assert body == {"event": "latency_budget", "node": "talk", "network_rtt_ms": 1.5, "jitter_buffer_ms": 20.0,
                    "jitter_target_ms": 20.0, "playout_ms": 40.0, "turn_latency_ms": None, "concealed_frames": 0}
