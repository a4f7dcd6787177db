"""A busy service (503 "slots in use", its one session slot still draining) is retried, no sooner than its Retry-After.

An independent Realtime server with a single session slot answers 503 while the
previous session drains (issue #21). The reconnection backoff must retry, and
wait at least as long as the service asked.
"""

from __future__ import annotations

import asyncio
import random
import re

import pytest

from audio.base.clock import FakeClock
from audio.session.backoff import Backoff, retriable
from audio.session.events import Notice, SessionState, StateChanged
from audio.server import FaultConfig
from audio.transports.service_http import ServiceRefused
from tests.realtime_session.conftest import WAIT, assert_released

BUSY = ServiceRefused("the Realtime service refused the call (503): slots in use", status=503, retry_after=7.0)


def test_a_retry_after_sets_the_least_wait_within_the_budget() -> None:
    clock = FakeClock()
    backoff = Backoff(clock, base=1.0, cap=30.0, budget=20.0, rng=random.Random(1))
    backoff.start()
    backoff.attempt()
    assert retriable(BUSY)
    assert backoff.next_delay(BUSY) == 7.0  # the schedule alone would wait 0.5..1 s
    assert 0.5 <= backoff.next_delay(ServiceRefused("x (503)", status=503)) <= 1.0  # no Retry-After: the schedule
    assert backoff.next_delay(ServiceRefused("x (503)", status=503, retry_after=25.0)) is None  # past the budget: give up
    assert not retriable(ServiceRefused("x (401)", status=401, retry_after=1.0))


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["webrtc", "websocket"])
async def test_a_dropped_session_reconnects_through_503s_after_their_retry_after(
    start_server, make_session, registry, transport: str
) -> None:
    server = await start_server()
    session, log = make_session(server, renew=True, transport=transport)
    session.renewal.backoff = Backoff(session.clock, base=0.05, cap=0.2, rng=random.Random(7))
    await session.connect()
    first_call = session.call_id or next(iter(server.calls))
    server.config.faults = FaultConfig(busy_connects=2, busy_retry_after=0.4)
    await server.calls[first_call].close("the slot is draining")
    await log.wait(lambda: session.connected and session.renewal.switches)
    waits = [float(m.group(1)) for n in log.of(Notice) if (m := re.search(r"reconnecting in ([\d.]+) s", n.message))]
    assert len(waits) == 2 and all(wait >= 0.4 for wait in waits), [n.message for n in log.of(Notice)]
    assert all("(503)" in n.message for n in log.of(Notice) if "reconnecting in" in n.message)
    assert session.renewal.switches[-1].attempts == 3
    assert not any(e.state is SessionState.ERROR for e in log.of(StateChanged))
    await session.disconnect()
    await asyncio.wait_for(session.wait_closed(), WAIT)
    await assert_released(session, registry)
