"""The 60-minute cap on a fake clock, session_expired from the server, and every failure path.

Each failure must end in ``error`` or ``disconnected`` with a clear reason,
keep the transcript so far, leave nothing in the registry and allow
``connect()`` again.
"""

from __future__ import annotations

import asyncio

import pytest

from audio.base.clock import FakeClock
from audio.base.errors import VoxflowError
from audio.session.events import (
    AssistantAudio,
    Notice,
    ResponseDone,
    SessionErrorEvent,
    SessionState,
    StateChanged,
    TimerTick,
)
from audio.server import FaultConfig
from tests.realtime_session.conftest import assert_released, utterance

pytestmark = pytest.mark.slow


async def test_sixty_minute_cap_and_warning(start_server, make_session, registry) -> None:
    server = await start_server()
    clock = FakeClock()
    session, log = make_session(server, clock=clock)
    await session.connect()
    await asyncio.sleep(0)
    await clock.advance(3539)
    assert not any(e.warning for e in log.of(TimerTick)) and not log.of(Notice)
    tick = log.of(TimerTick)[-1]
    assert (tick.elapsed, tick.remaining) == (3539, 61)
    await clock.advance(1)
    assert log.of(TimerTick)[-1].warning and log.of(Notice)[-1].level == "warning"
    assert log.of(Notice)[-1].message == "60 s left before the 60 min limit"
    assert session.state is SessionState.CONNECTED
    await clock.advance(60)
    ended = await log.wait_for(StateChanged, lambda e: e.state is SessionState.DISCONNECTED)
    assert ended.reason == "maximum session duration (60 min) reached"
    assert len(log.of(TimerTick)) == 3600
    await assert_released(session, registry)


async def test_configured_cap_is_named(start_server, make_session, registry) -> None:
    server = await start_server()
    clock = FakeClock()
    session, log = make_session(server, clock=clock, max_duration=2)
    await session.connect()
    await asyncio.sleep(0)
    await clock.advance(120)
    ended = await log.wait_for(StateChanged, lambda e: e.state is SessionState.DISCONNECTED)
    assert ended.reason == "maximum session duration (2 min) reached"
    await assert_released(session, registry)


async def test_server_session_expired(start_server, make_session, registry) -> None:
    server = await start_server(faults=FaultConfig(expire_after_seconds=0.3))
    session, log = make_session(server)
    await session.connect()
    ended = await log.wait_for(StateChanged, lambda e: e.state is SessionState.DISCONNECTED)
    assert "maximum session duration" in ended.reason and "session_expired" in ended.reason
    assert log.of(SessionErrorEvent)[-1].fatal
    await assert_released(session, registry)


async def reconnect_ok(server, session, registry) -> None:
    server.config.faults = FaultConfig()
    await session.connect()
    assert session.state is SessionState.CONNECTED
    await session.disconnect()
    await assert_released(session, registry)


@pytest.mark.parametrize(
    ("faults", "expected"),
    [
        (FaultConfig(sdp_error_status=401), "refused the call (401): Injected fault"),
        (FaultConfig(sdp_error_status=500), "refused the call (500): Injected fault"),
        (FaultConfig(garbage_sdp=True), "SDP that cannot be used"),
    ],
    ids=["401", "500", "garbage-sdp"],
)
async def test_handshake_failures(start_server, make_session, registry, faults, expected) -> None:
    server = await start_server(faults=faults)
    session, log = make_session(server, source=utterance())
    with pytest.raises(VoxflowError) as info:
        await session.connect()
    assert expected in str(info.value) and "sk-test-key" not in str(info.value)
    assert session.state is SessionState.ERROR and expected in session.reason
    assert log.of(StateChanged)[-1] == StateChanged(SessionState.ERROR, session.reason)
    await assert_released(session, registry)
    await reconnect_ok(server, session, registry)


async def test_no_answer_within_connect_timeout(start_server, make_session, registry) -> None:
    server = await start_server(faults=FaultConfig(answer_delay_seconds=2.0))
    session, _ = make_session(server, connect_timeout=0.5)
    with pytest.raises(VoxflowError, match="no answer from the Realtime service within 0.5 s"):
        await session.connect()
    assert session.state is SessionState.ERROR
    await assert_released(session, registry)
    await asyncio.sleep(1.6)  # let the delayed answer go by
    await reconnect_ok(server, session, registry)


async def test_connection_dropped_mid_reply(start_server, make_session, registry) -> None:
    server = await start_server(faults=FaultConfig(drop_mid_reply=True))
    session, log = make_session(server, source=utterance(), vad={"type": "server_vad"}, reconnect=False)  # a drop ends it
    await session.connect()
    await log.wait_for(AssistantAudio, lambda e: e.playing)
    ended = await log.wait_for(StateChanged, lambda e: e.state in (SessionState.DISCONNECTED, SessionState.ERROR))
    assert ended.reason and ("closed" in ended.reason or "failed" in ended.reason)
    entries = session.transcript.entries()
    assert [e.role for e in entries][:2] == ["user", "assistant"]  # kept, the partial reply made final
    assert entries[1].final and entries[1].text
    await assert_released(session, registry)
    await reconnect_ok(server, session, registry)
    assert len(session.transcript) >= 2


async def test_malformed_event_is_skipped(start_server, make_session, registry, caplog) -> None:
    server = await start_server(faults=FaultConfig(malformed_event=True), reply="script", script=["Fine."])
    session, log = make_session(server)
    await session.connect()
    await session.send_text("still there?")
    done = await log.wait_for(ResponseDone)
    assert done.status == "completed" and session.state is SessionState.CONNECTED
    assert any("malformed server event" in record.getMessage() for record in caplog.records)
    await session.disconnect()
    assert session.state is SessionState.DISCONNECTED
    await assert_released(session, registry)
    await reconnect_ok(server, session, registry)


async def test_recoverable_error_event_keeps_the_session(start_server, make_session, registry) -> None:
    server = await start_server(faults=FaultConfig(error_code="rate_limit_exceeded"))
    session, log = make_session(server)
    await session.connect()
    error = await log.wait_for(SessionErrorEvent)
    assert error.code == "rate_limit_exceeded" and not error.fatal
    assert session.state is SessionState.CONNECTED
    await session.disconnect()
    await assert_released(session, registry)


async def test_disconnect_while_connecting(start_server, make_session, registry) -> None:
    server = await start_server(faults=FaultConfig(answer_delay_seconds=1.0))
    session, log = make_session(server, source=utterance())
    connecting = asyncio.create_task(session.connect())
    await log.wait_for(StateChanged, lambda e: e.state is SessionState.CONNECTING)
    await asyncio.sleep(0.2)
    await session.disconnect()
    assert session.state is SessionState.DISCONNECTED and session.reason == "disconnected"
    with pytest.raises(VoxflowError, match="connecting was stopped"):
        await connecting
    await assert_released(session, registry)
    await asyncio.sleep(1.0)  # the delayed answer goes by
    await reconnect_ok(server, session, registry)
