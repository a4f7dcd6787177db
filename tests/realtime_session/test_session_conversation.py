"""A whole VAD turn against the local server: audio both ways, transcript order, usage, latency, clean release."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from audio.dsp.levels import rms_dbfs
from audio.session.events import (
    AssistantAudio,
    ConnectionInfo,
    Levels,
    RateLimitsUpdated,
    ResponseDone,
    SessionState,
    SpeechStarted,
    SpeechStopped,
    StateChanged,
    TimerTick,
    TranscriptUpdated,
    TurnLatency,
)
from tests.realtime_session.conftest import WAIT, assert_released, utterance

pytestmark = pytest.mark.slow


async def test_vad_turn_end_to_end(start_server, make_session, registry) -> None:
    server = await start_server()
    session, log = make_session(server, source=utterance(), vad={"type": "server_vad"})
    await session.connect()
    assert session.state is SessionState.CONNECTED
    assert [e.state for e in log.of(StateChanged)] == [SessionState.CONNECTING, SessionState.CONNECTED]
    assert session.interpreter.effective_session.get("type") == "realtime"  # from session.created
    assert session.call_id and session.call_id.startswith("rtc_")
    info = log.of(ConnectionInfo)[-1]
    assert info.datachannel_state == "open" and info.call_id == session.call_id and info.vad == "server_vad"

    # the assistant's audio is a registered stream a downstream node can read
    pipe = registry.get(session.output_stream_id)
    loudest: list[float] = []

    async def listen() -> None:
        while (frame := await pipe.read()) is not None:
            loudest.append(rms_dbfs(frame))

    reader = asyncio.create_task(listen())

    done = await log.wait_for(ResponseDone)
    await log.wait_for(AssistantAudio, lambda e: not e.playing)
    assert log.of(SpeechStarted) and log.of(SpeechStopped)  # the recorded voice reached the server's VAD
    assert done.status == "completed" and done.usage.total_tokens > 0
    assert done.total_usage == done.usage == session.interpreter.total_usage
    limits = (await log.wait_for(RateLimitsUpdated)).limits
    assert limits and all(limit.name and limit.limit >= limit.remaining for limit in limits)

    latency = log.of(TurnLatency)
    assert len(latency) == 1 and 0 < latency[0].seconds < WAIT and session.interpreter.latency.last == latency[0].seconds
    assert max(loudest) > -40  # audible reply audio came out of the pipe
    assert any(level.output_rms_dbfs > -40 for level in log.of(Levels))
    assert any(level.input_rms_dbfs > -30 for level in log.of(Levels))

    entries = session.transcript.entries()
    assert [e.role for e in entries] == ["user", "assistant"] and all(e.final for e in entries)
    assert entries[1].text.startswith("You said:")
    assistant_updates = [u.entry.text for u in log.of(TranscriptUpdated) if u.entry.role == "assistant"]
    assert len(set(assistant_updates)) > 2  # streamed as deltas, growing
    assert all(b.startswith(a) for a, b in zip(assistant_updates, assistant_updates[1:], strict=False))
    first_user = next(u for u in log.of(TranscriptUpdated) if u.entry.role == "user")
    assert first_user.entry.pending and first_user.index == 0
    assert session.transcript.as_text().splitlines()[0].startswith("User: ")

    await log.wait_for(TimerTick, timeout=WAIT)
    await session.disconnect()
    assert session.state is SessionState.DISCONNECTED and log.of(StateChanged)[-1].reason == "disconnected"
    await asyncio.wait_for(reader, WAIT)  # the pipe ended with the session
    await assert_released(session, registry)
    assert len(session.transcript) == 2  # kept after the session


async def test_text_turn_and_reconnect(start_server, make_session, registry) -> None:
    server = await start_server(reply="script", script=["Short answer."])
    session, log = make_session(server, source=None)  # no input: recvonly
    await session.connect()
    await session.send_text("hello by keyboard")
    await log.wait_for(ResponseDone)
    texts = [(e.role, e.text) for e in session.transcript.entries()]
    assert texts[0] == ("user", "hello by keyboard") and texts[1][0] == "assistant"
    call = next(iter(server.calls.values()))
    assert call.received_types[-2:] == ["conversation.item.create", "response.create"]
    await session.disconnect()
    await assert_released(session, registry)

    await session.connect()  # same config, transcript kept
    assert session.state is SessionState.CONNECTED and len(session.transcript) == 2
    await session.disconnect()
    await assert_released(session, registry)


async def until_received(call, event_type: str) -> None:
    """Until the server has received a client event of ``event_type`` (20 s deadline)."""

    async def loop() -> None:
        while event_type not in call.received_types:
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), 20)


class MintWithOtherSettings:
    """A provider whose minted session differs from the session's config (like a service ignoring fields)."""

    label = "test"

    def __init__(self, base_url: str) -> None:
        from audio.transports.secrets import DirectSecretProvider

        self._inner = DirectSecretProvider("sk-test-key", base_url=base_url)

    async def mint(self, config):
        from audio.wire.config import SessionConfig

        return await self._inner.mint(SessionConfig(voice="alloy", vad="disabled", base_url=config.base_url))


async def test_session_update_only_when_the_minted_session_differs(start_server, make_session, registry) -> None:
    from audio.wire.config import SessionConfig
    from audio.session.session import RealtimeSession

    server = await start_server()
    same, _ = make_session(server, voice="cedar")
    await same.connect()
    # a typed turn as a marker: the channel is ordered, so an update sent on connect would arrive before it
    await same.send_text("marker")
    first = next(iter(server.calls.values()))
    await until_received(first, "response.create")
    assert first.received_types == ["conversation.item.create", "response.create"]  # minted right: nothing to update
    await same.disconnect()

    session = RealtimeSession(
        SessionConfig.build(base_url=server.base_url, voice="cedar", vad={"type": "server_vad"}, instructions="Hi."),
        secret_provider=MintWithOtherSettings(server.base_url),
        registry=registry,
    )
    log = []
    session.events.add_callback(log.append)
    await session.connect()
    call = next(iter(server.calls.values()))
    deadline = asyncio.get_running_loop().time() + 20
    while session.connection_info.voice != "cedar" and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert call.received_types == ["session.update"]
    update = call.received[0]["session"]
    assert update["type"] == "realtime" and "model" not in update
    assert update["audio"]["output"]["voice"] == "cedar" and update["instructions"] == "Hi."
    assert session.connection_info.voice == "cedar" and session.connection_info.vad == "server_vad"
    await session.disconnect()
    await assert_released(session, registry)


async def test_no_secret_in_logs(start_server, make_session, registry, caplog) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    server = await start_server(reply="script", script=["Fine."])
    session, log = make_session(server, source=utterance(), vad={"type": "server_vad"})
    await session.connect()
    await log.wait_for(ResponseDone)
    await session.disconnect()
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert text  # something was logged at DEBUG
    assert "sk-test-key" not in text and "ek_" not in text  # neither the key nor any minted secret
