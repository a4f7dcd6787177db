"""Both transports end to end against the local server, and ``auto`` falling back when UDP is blocked.

The same flow of turns -- a real recorded voice turn (tests/data, VAD)
and a typed turn -- runs over WebRTC and over WebSocket; the session core is
the same, so the transcripts must be identical. Then UDP is made to fail with a
user-space shim (every datagram socket silently drops what it sends, as a
firewall would), and ``auto`` must give up on WebRTC and carry on over WebSocket.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from audio.wire.config import SessionConfig
from audio.session.events import AssistantAudio, ConnectionInfo, Notice, ResponseDone, SessionState
from audio.transports.secrets import DirectSecretProvider
from audio.server import LocalRealtimeServer, ServerConfig
from audio.session.session import RealtimeSession
from audio.io.sources import FileSource, SilenceSource
from tests.realtime_session.conftest import WAIT, EventLog, SequenceSource, assert_released

pytestmark = pytest.mark.slow

RECORDING = Path(__file__).resolve().parent.parent / "data" / "speech_weather_today.wav"


@pytest.fixture
async def speech_server():
    server = LocalRealtimeServer(ServerConfig(speech=True))
    await server.start()
    yield server
    await server.stop()


def session_for(server: LocalRealtimeServer, registry: Any, source: Any, **config: Any) -> tuple[RealtimeSession, EventLog]:
    session = RealtimeSession(
        SessionConfig.build(base_url=server.base_url, vad={"type": "server_vad"}, **config),
        secret_provider=DirectSecretProvider("sk-test-key", base_url=server.base_url),
        registry=registry,
        input_source=source,
    )
    log = EventLog()
    session.events.add_callback(log)
    return session, log


async def conversation(server: LocalRealtimeServer, registry: Any, transport: str) -> tuple[str, EventLog, RealtimeSession]:
    voice = SequenceSource(FileSource(RECORDING, sample_rate=48_000, channels=1), SilenceSource(48_000, 1, duration=60))
    session, log = session_for(server, registry, voice, transport=transport)
    await session.connect()
    await log.wait_for(ResponseDone, timeout=WAIT)
    await log.wait_for(AssistantAudio, lambda e: not e.playing)
    await session.send_text("and what about tomorrow")
    await log.wait(lambda: len(log.of(ResponseDone)) >= 2)
    await log.wait(lambda: not session.assistant_busy)
    text = session.transcript.as_text()
    await session.disconnect()
    assert session.state is SessionState.DISCONNECTED
    return text, log, session


async def test_webrtc_and_websocket_give_identical_transcripts(speech_server, registry) -> None:
    (over_webrtc, rtc_log, rtc), (over_websocket, ws_log, ws) = await asyncio.gather(  # two calls on one server
        conversation(speech_server, registry, "webrtc"), conversation(speech_server, registry, "websocket")
    )
    await assert_released(rtc, registry)
    await assert_released(ws, registry)
    assert over_webrtc == over_websocket
    lines = over_websocket.splitlines()
    assert len(lines) == 4 and "weather" in lines[0].lower() and lines[2] == "User: and what about tomorrow"
    assert rtc_log.of(ConnectionInfo)[-1].transport == "WebRTC"
    assert ws_log.of(ConnectionInfo)[-1].transport == "WebSocket"
    # over WebSocket there are no output_audio_buffer.* events: the playing state comes from the audio received
    playing = [event.playing for event in ws_log.of(AssistantAudio)]
    assert playing[:2] == [True, False] and playing.count(True) >= 2


@pytest.fixture
async def udp_blocked(monkeypatch: pytest.MonkeyPatch) -> None:
    loop = asyncio.get_running_loop()
    original = loop.create_datagram_endpoint

    async def create_datagram_endpoint(*args: Any, **kwargs: Any) -> Any:
        """Every UDP socket silently loses what it sends, as behind a firewall that blocks UDP."""
        transport, protocol = await original(*args, **kwargs)
        transport.sendto = lambda data, addr=None: None  # the protocol already holds this very transport
        return transport, protocol

    monkeypatch.setattr(loop, "create_datagram_endpoint", create_datagram_endpoint)


async def test_auto_falls_back_to_websocket_when_udp_is_blocked(udp_blocked, start_server, registry) -> None:
    server = await start_server(reply="script", script=["Over the fallback."])
    session, log = session_for(server, registry, None, transport="auto", fallback_after=1.5)
    await asyncio.wait_for(session.connect(), WAIT)
    notice = await log.wait_for(Notice, lambda n: "WebSocket" in n.message)
    assert "WebRTC did not connect" in notice.message and "UDP may be blocked" in notice.message
    assert session.connection_info.transport == "WebSocket"
    await session.send_text("are you there")
    done = await log.wait_for(ResponseDone)
    assert done.status == "completed"
    assert session.transcript.as_text().endswith("Assistant: Over the fallback.")
    await session.disconnect()
    await assert_released(session, registry)


async def test_auto_keeps_webrtc_when_it_connects(start_server, registry) -> None:
    server = await start_server()
    session, log = session_for(server, registry, None, transport="auto", fallback_after=10)
    await asyncio.wait_for(session.connect(), WAIT)
    assert session.connection_info.transport == "WebRTC" and not log.of(Notice)
    await session.disconnect()
    await assert_released(session, registry)


async def test_a_refused_websocket_key_is_a_clear_error(start_server, registry) -> None:
    from audio.base.errors import VoxflowError
    from audio.transports.secrets import EphemeralSecret

    class BogusKey:
        label = "bogus"

        async def mint(self, config: SessionConfig) -> EphemeralSecret:
            return EphemeralSecret("ek_not_minted_here", 1_900_000_000.0)

    server = await start_server()
    session, _ = session_for(server, registry, None, transport="websocket")
    session.secret_provider = BogusKey()
    with pytest.raises(VoxflowError) as info:
        await asyncio.wait_for(session.connect(), WAIT)
    assert "refused the WebSocket (401)" in str(info.value) and "session key was refused" in str(info.value)
    assert "ek_not_minted_here" not in str(info.value)
    assert session.state is SessionState.ERROR
    await assert_released(session, registry)
