"""Every fault setting does what it promises, so client code can be tested against it."""

from __future__ import annotations

import asyncio
import json
import time

import pytest

from audio.base.clock import FakeClock
from audio.server import CallState, FaultConfig
from tests.realtime_server.client import WAIT

pytestmark = pytest.mark.slow

MANUAL = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
LONG_REPLY = ["This answer is cut in the middle by the drop fault."]


async def wait_closed(server, call_id: str) -> None:
    async def closed() -> None:
        while call_id not in server.ended_calls:
            await asyncio.sleep(0.02)
    await asyncio.wait_for(closed(), WAIT)


async def wait_peer_gone(client) -> None:
    async def gone() -> None:
        while client.pc.connectionState not in ("closed", "failed") and not client.closed.is_set():
            await asyncio.sleep(0.02)
    await asyncio.wait_for(gone(), WAIT)


async def test_sdp_error_status(make_server, make_client) -> None:
    server = await make_server(faults=FaultConfig(sdp_error_status=503))
    client = make_client(server.base_url)
    key = (await client.mint()).json()["value"]
    response = await client.offer(key)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "injected_fault"


async def test_garbage_sdp_with_201(make_server, make_client) -> None:
    server = await make_server(faults=FaultConfig(garbage_sdp=True))
    client = make_client(server.base_url)
    response = await client.offer((await client.mint()).json()["value"])
    assert response.status_code == 201
    assert response.headers["location"].startswith("/v1/realtime/calls/rtc_")
    assert not response.text.startswith("v=0")


async def test_answer_delay(make_server, make_client) -> None:
    server = await make_server(faults=FaultConfig(answer_delay_seconds=0.6))
    client = make_client(server.base_url)
    key = (await client.mint()).json()["value"]
    began = time.monotonic()
    response = await client.offer(key)
    assert response.status_code == 201
    assert time.monotonic() - began >= 0.6


async def test_malformed_event_after_session_created(make_server, make_client) -> None:
    server = await make_server(faults=FaultConfig(malformed_event=True))
    client = make_client(server.base_url)
    await client.connect()

    async def malformed() -> str:
        while True:
            for text in client.raw_messages:
                try:
                    json.loads(text)
                except ValueError:
                    return text
            await asyncio.sleep(0.02)
    await asyncio.wait_for(malformed(), WAIT)
    assert json.loads(client.raw_messages[0])["type"] == "session.created"


async def test_error_code_after_session_created(make_server, make_client) -> None:
    server = await make_server(faults=FaultConfig(error_code="server_error", error_when="session_created"))
    client = make_client(server.base_url)
    await client.connect()
    error = await client.next("error")
    assert error["error"]["code"] == "server_error"
    assert client.index("session.created") < client.index("error")


async def test_error_code_on_next_response(make_server, make_client) -> None:
    server = await make_server(faults=FaultConfig(error_code="rate_limit_exceeded", error_when="next_response"))
    client = make_client(server.base_url)
    await client.connect(MANUAL)
    client.send("response.create")
    error = await client.next("error")
    done = await client.next("response.done")
    assert error["error"]["code"] == "rate_limit_exceeded"
    assert done["response"]["status"] == "failed"
    start = len(client.events)
    client.send("response.create", response={"output_modalities": ["text"]})
    assert (await client.next("response.done", after=start))["response"]["status"] == "completed"


async def test_drop_after_seconds(make_server, make_client, fake_clock: FakeClock) -> None:
    server = await make_server(clock=fake_clock, faults=FaultConfig(drop_after_seconds=5))
    client = make_client(server.base_url)
    await client.connect()
    await fake_clock.advance(4)
    assert server.calls[client.call_id].state is CallState.OPEN
    await fake_clock.advance(1.5)
    await wait_closed(server, client.call_id)
    await wait_peer_gone(client)
    assert "error" not in client.types  # a drop says nothing


async def test_drop_mid_reply(make_server, make_client) -> None:
    server = await make_server(reply="script", script=LONG_REPLY, faults=FaultConfig(drop_mid_reply=True))
    client = make_client(server.base_url)
    await client.connect(MANUAL)
    client.send("response.create")
    await client.next("output_audio_buffer.started")
    await wait_closed(server, client.call_id)
    await wait_peer_gone(client)
    assert "response.done" not in client.types
    assert any(t == "response.output_audio_transcript.delta" for t in client.types)


async def test_expire_early_with_session_expired(make_server, make_client, fake_clock: FakeClock) -> None:
    server = await make_server(clock=fake_clock, faults=FaultConfig(expire_after_seconds=30))
    client = make_client(server.base_url)
    await client.connect()
    await fake_clock.advance(31)
    error = await client.next("error")
    assert error["error"]["code"] == "session_expired"
    await wait_closed(server, client.call_id)


async def test_session_cap(make_server, make_client, fake_clock: FakeClock) -> None:
    server = await make_server(clock=fake_clock, max_session_seconds=120)
    client = make_client(server.base_url)
    await client.connect()
    await fake_clock.advance(119)
    assert client.call_id in server.calls
    await fake_clock.advance(2)
    assert (await client.next("error"))["error"]["code"] == "session_expired"
    await wait_closed(server, client.call_id)
