"""Always-on sessions against the local server: renewal at the cap, reconnection after drops.

Renewal runs on a fake clock with a short cap; reconnection on the wall
clock with a fast backoff schedule. Each test checks what the *new* server
call received (the carried-over context), the transcript (every turn once, a
divider per switch) and that nothing is left behind.
"""

from __future__ import annotations

import asyncio
import random

import pytest

from audio.base.clock import FakeClock
from audio.base.errors import VoxflowError
from audio.session.backoff import Backoff
from audio.session.events import Notice, ResponseDone, SessionState, StateChanged
from audio.server import FaultConfig, LocalRealtimeServer, ServerConfig
from audio.io.sources import SilenceSource
from tests.realtime_session.conftest import WAIT, assert_released, our_tasks, utterance

pytestmark = [pytest.mark.slow]


def carried(call) -> list[tuple[str, str]]:
    """(role, text) of the conversation items a server call received."""
    items = [event["item"] for event in call.received if event.get("type") == "conversation.item.create"]
    return [(item["role"], item["content"][0]["text"]) for item in items]


async def received(server_of, session, count: int) -> list[tuple[str, str]]:
    """The carried items the session's current server call received, once ``count`` have arrived."""
    deadline = asyncio.get_running_loop().time() + WAIT
    while True:
        call = server_of().calls.get(session.call_id)
        items = carried(call) if call is not None else []
        if len(items) >= count or asyncio.get_running_loop().time() > deadline:
            return items
        await asyncio.sleep(0.02)


async def stop_for_good(server: LocalRealtimeServer) -> None:
    """Stop the server; a call a reconnection opened while it was shutting down goes too (as with a real restart)."""
    await server.stop()
    for call in list(server.calls.values()):
        await call.close("server stopped")


def turns(session) -> list[tuple[str, str]]:
    return [(e.role, e.text) for e in session.transcript.entries()]


def fast_backoff(session, **fields) -> None:
    session.renewal.backoff = Backoff(session.clock, base=0.05, cap=0.2, rng=random.Random(7), **fields)


async def test_renewal_at_the_cap_waits_for_the_reply_and_carries_the_context(start_server, make_session, registry) -> None:
    server = await start_server()
    clock = FakeClock()
    session, log = make_session(server, clock=clock, max_duration=0.2, renew=True)  # a 12 s cap
    minted: list[str | None] = []  # the live call when each secret was minted
    mint = session.secret_provider.mint

    async def recording_mint(config):
        minted.append(session.call_id if session.connected else None)
        return await mint(config)

    session.secret_provider.mint = recording_mint
    await session.connect()
    first_call, stream = session.call_id, session.output_stream_id
    await session.send_text("remember the number seven")
    await log.wait_for(ResponseDone)
    await clock.advance(1)
    await session.send_text("and the colour blue")
    await clock.advance(8.5)  # past the renewal point (cap - 3 s) while the second reply is under way
    await log.wait_for(ResponseDone, lambda e: len(log.of(ResponseDone)) >= 2)
    assert session.call_id == first_call  # the reply was not cut: still the first session
    while session.renewal.count == 0:
        await clock.advance(0.1)
        await asyncio.sleep(0.01)
    await log.wait(lambda: session.connected and session.call_id != first_call and session.renewal.switches)
    # made before break: the conversation never left ``connected``, the new call was opened while the old one talked
    assert [e.state for e in log.of(StateChanged)] == [SessionState.CONNECTING, SessionState.CONNECTED]
    assert session.renewal.switches[-1].ahead and session.renewal.handover.opened == 1
    assert await received(lambda: server, session, 4) == [(r, t) for r, t in turns(session) if r != "session"]
    roles = [r for r, _ in turns(session)]
    assert roles == ["user", "assistant", "user", "assistant", "session"]  # every turn once, then the divider
    assert "session renewed" in turns(session)[-1][1] and "4 turn(s) carried over" in turns(session)[-1][1]
    assert minted == [None, first_call]  # the new session was opened while the old one still talked
    assert session.output_stream_id == stream and len(registry) == 1  # downstream keeps reading the same stream
    await until(lambda: first_call in server.ended_calls)  # the old call is released just after the switch settled
    old = server.ended_calls[first_call]
    assert old.sent_types.count("response.done") == 2
    await session.disconnect()
    assert session.state is SessionState.DISCONNECTED
    await assert_released(session, registry)


async def until(predicate) -> None:
    deadline = asyncio.get_running_loop().time() + WAIT
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "the condition did not hold in time"
        await asyncio.sleep(0.01)


def heard(call) -> int:
    """Microphone samples (16 kHz) a server call has received."""
    return call.input.received_samples


@pytest.mark.parametrize("transport", ["webrtc", "websocket"])
async def test_the_microphone_moves_to_the_call_opened_ahead(start_server, make_session, registry, transport) -> None:
    """Over the wire: the next call opens while the first hears the microphone; after the switch the next one hears it."""
    server = await start_server()
    session, log = make_session(server, source=SilenceSource(48_000, 1), vad={"type": "server_vad"}, renew=True,
                                max_duration=0.1, transport=transport)  # a 6 s cap: the next call opens from 4.5 s
    before: dict[str, int] = {}  # microphone samples each server call had heard the moment the switch began
    activate = session.renewal.handover.activate

    def activate_and_note():
        before.update({call_id: heard(call) for call_id, call in server.calls.items()})
        return activate()

    session.renewal.handover.activate = activate_and_note
    await session.connect()
    (first,) = server.calls  # the server's ids (a WebSocket session names no call id)
    await until(lambda: before)
    (second,) = set(before) - {first}
    assert before[first] > 0 and before[second] == 0  # both open; only the live one was sent the microphone
    await until(lambda: first in server.ended_calls and heard(server.calls.get(second) or server.ended_calls[second]) >= 8_000)
    assert session.renewal.switches[0].ahead and session.renewal.switches[0].gap_seconds < 0.05
    assert len(registry) == 1 and session.connected
    await session.disconnect()
    await assert_released(session, registry)


async def test_session_expired_renews_at_once(start_server, make_session, registry) -> None:
    server = await start_server(faults=FaultConfig(expire_after_seconds=0.5))
    session, log = make_session(server, renew=True)
    await session.connect()
    await session.send_text("hello there")
    await log.wait(lambda: session.renewal.switches)
    assert session.renewal.switches[0].kind == "renewal" and session.renewal.switches[0].gap_seconds < 1.0
    server.config.faults = FaultConfig()
    await log.wait(lambda: session.connected)
    assert ("user", "hello there") in await received(lambda: server, session, 1)
    await session.disconnect()
    await assert_released(session, registry)


async def test_connection_killed_mid_reply_reconnects(start_server, make_session, registry) -> None:
    server = await start_server(faults=FaultConfig(drop_mid_reply=True))
    session, log = make_session(server, source=utterance(), vad={"type": "server_vad"}, renew=True)
    await session.connect()
    first_call = session.call_id
    await log.wait(lambda: session.renewal.switches)
    await log.wait(lambda: session.connected)
    assert len(registry) == 1  # the playback stream was handed over, not leaked or lost
    assert any(e.state is SessionState.RECONNECTING and "attempt 1" in (e.reason or "") for e in log.of(StateChanged))
    assert not any(e.state is SessionState.ERROR for e in log.of(StateChanged))
    assert session.call_id != first_call
    roles = [r for r, _ in turns(session)]
    assert roles[:2] == ["user", "assistant"] and roles[-1] == "session"
    assert (await received(lambda: server, session, 2))[-1][0] == "assistant"  # the partial reply, as said so far
    await session.disconnect()
    await assert_released(session, registry)


@pytest.mark.parametrize("transport", ["webrtc", "websocket"])
async def test_a_drop_reconnects_without_renew(start_server, make_session, registry, transport) -> None:
    """Reconnection is on by default: no ``renew`` needed; nothing is opened ahead and the cap is not watched."""
    server = await start_server(faults=FaultConfig(drop_mid_reply=True))
    session, log = make_session(server, source=utterance(), vad={"type": "server_vad"}, transport=transport)
    assert not session.config.renew and session.config.reconnect
    await session.connect()
    first_call = next(iter(server.calls))
    await log.wait(lambda: session.renewal.switches and session.connected)
    assert session.renewal.switches[0].kind == "reconnection" and session.renewal.handover.opened == 0
    assert set(server.calls) - {first_call} and first_call in server.ended_calls
    assert not any(name.endswith("-renewal") for name in our_tasks())  # no renewal watch without renew
    assert turns(session)[-1][0] == "session" and "reconnected after 1 attempt(s)" in turns(session)[-1][1]
    assert len(registry) == 1
    await session.disconnect()
    await assert_released(session, registry)


async def test_session_expired_ends_a_session_without_renew(start_server, make_session, registry) -> None:
    """``session_expired`` is the service's cap, not a drop: without ``renew`` the session ends there."""
    server = await start_server(faults=FaultConfig(expire_after_seconds=0.5))
    session, log = make_session(server)
    await session.connect()
    await asyncio.wait_for(session.wait_closed(), WAIT)
    assert session.state is SessionState.DISCONNECTED and not session.renewal.switches
    await assert_released(session, registry)


async def test_server_restart_on_the_same_port(start_server, make_session, registry) -> None:
    server = await start_server()
    port = int(server.base_url.rsplit(":", 1)[1])
    session, log = make_session(server, renew=True)
    fast_backoff(session)
    await session.connect()
    await session.send_text("before the restart")
    await log.wait_for(ResponseDone)
    await stop_for_good(server)
    failed = await log.wait_for(Notice, lambda e: "could not reach" in e.message)
    assert "reconnecting in" in failed.message
    again = LocalRealtimeServer(ServerConfig(speech=False, port=port))
    await again.start()
    try:
        await log.wait(lambda: session.connected and session.call_id in again.calls)
        await log.wait(lambda: session.renewal.switches and session.renewal.switches[-1].attempts >= 2)
        assert ("user", "before the restart") in await received(lambda: again, session, 2)
        await session.disconnect()
        await assert_released(session, registry)
    finally:
        await again.stop()


async def test_refused_credentials_are_not_retried(start_server, make_session, registry) -> None:
    server = await start_server()
    session, log = make_session(server, renew=True)
    fast_backoff(session)
    await session.connect()
    server.config.faults = FaultConfig(sdp_error_status=401)
    await server.calls[session.call_id].close("killed by the test")
    await asyncio.wait_for(session.wait_closed(), WAIT)
    assert session.state is SessionState.ERROR
    assert session.reason.startswith("not retried:") and "(401)" in session.reason
    assert session.renewal.backoff.attempts == 1
    await assert_released(session, registry)


async def test_gives_up_when_the_retries_are_spent(start_server, make_session, registry) -> None:
    server = await start_server()
    session, log = make_session(server, renew=True)
    fast_backoff(session, tries=3)
    await session.connect()
    server.config.faults = FaultConfig(sdp_error_status=500)  # a 5xx while connecting is worth retrying
    await server.calls[session.call_id].close("killed by the test")
    await asyncio.wait_for(session.wait_closed(), WAIT)
    assert session.state is SessionState.ERROR
    assert session.reason.startswith("gave up reconnecting after 3 attempt(s)") and "(500)" in session.reason
    assert [e.state for e in log.of(StateChanged)].count(SessionState.ERROR) == 1  # failed tries are not errors
    await assert_released(session, registry)


async def test_a_user_stop_while_reconnecting_ends_it_for_good(start_server, make_session, registry) -> None:
    server = await start_server()
    session, log = make_session(server, renew=True)
    session.renewal.backoff = Backoff(session.clock, base=30.0, rng=random.Random(7))  # a long wait after try 1
    await session.connect()
    server.config.faults = FaultConfig(sdp_error_status=500)
    await server.calls[session.call_id].close("killed by the test")
    await log.wait_for(Notice, lambda e: "reconnecting in" in e.message)
    await session.disconnect()
    assert session.state is SessionState.DISCONNECTED and session.reason == "disconnected"
    assert not session.renewal.switching and session.renewal.backoff.attempts == 1
    await asyncio.wait_for(session.wait_closed(), WAIT)
    await assert_released(session, registry)


async def test_the_first_connect_is_retried_too_but_not_a_refused_key(start_server, make_session, registry) -> None:
    server = await start_server(faults=FaultConfig(sdp_error_status=503))
    session, log = make_session(server, renew=True)
    fast_backoff(session)
    first = asyncio.ensure_future(session.renewal.connect_first())
    await log.wait_for(Notice, lambda e: "reconnecting in" in e.message and "(503)" in e.message)
    server.config.faults = FaultConfig()
    await asyncio.wait_for(first, WAIT)
    assert session.connected and session.renewal.backoff.attempts >= 2
    await session.disconnect()
    await assert_released(session, registry)

    server.config.faults = FaultConfig(sdp_error_status=401)
    with pytest.raises(VoxflowError, match=r"not retried: .*\(401\)"):
        await session.renewal.connect_first()
    assert session.state is SessionState.ERROR and session.renewal.backoff.attempts == 1
    await assert_released(session, registry)


async def test_connections_that_keep_dropping_at_once_spend_the_retries(start_server, make_session, registry) -> None:
    server = await start_server(faults=FaultConfig(drop_after_seconds=0.2))  # every call is cut 0.2 s after it opens
    session, log = make_session(server, renew=True)
    fast_backoff(session, tries=3)
    await session.connect()
    await asyncio.wait_for(session.wait_closed(), WAIT)
    assert session.state is SessionState.ERROR
    assert session.reason.startswith("gave up reconnecting after 3 attempt(s)") and "soon after it opened" in session.reason
    await assert_released(session, registry)
