"""Every event either side produces, checked strictly against the official SDK's models.

Events are captured from real sessions against the local server (the server
records what it received and sent per call): voxflow's own ``RealtimeSession``
over WebRTC for push-to-talk, barge-in, text and VAD turns, transcription
(completed and failed), injected errors and rate limits; the SDK's WebSocket
client for out-of-band and text-only responses, retrieve/truncate/delete,
the idle timeout, and Whisper's transcription deltas and completion with
``logprobs`` (which no other event may carry, since no other session asks). Coverage is checked against the event types named in the
server's and the client's source, so a new event type cannot go unchecked.
"""

from __future__ import annotations

import asyncio
import base64
import re
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from openai import AsyncOpenAI
import pytest

from audio.wire.config import SessionConfig
from audio.session.events import AssistantAudio, PttState, ResponseDone, ResponseStarted
from audio.transports.secrets import EphemeralSecret
from audio.server import FaultConfig, LocalRealtimeServer, ServerConfig
from audio.server.calls import Call
from audio.session.session import RealtimeSession
from audio.io.sources import FileSource, SilenceSource
from tests.conformance.sdk_check import CLIENT_EVENTS, SERVER_EVENTS, client_mismatches, server_mismatches
from tests.realtime_server.client import RealtimeTestClient
from tests.real_speech import decode
from tests.realtime_server.recordings import POCKETSPHINX_DATA
from tests.realtime_session.conftest import EventLog, SequenceSource, steady_tone

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
LIBRIVOX = POCKETSPHINX_DATA / "librivox" / "sense_and_sensibility_01_austen_64kb-0880.wav"  # a real reader
WAIT = 20.0
LONG_REPLY = "This reply goes on and on so that there is time to interrupt it."


class BareSessionSecrets:
    """Mints with an empty session (as a token service with defaults would), so the client must send
    ``session.update`` to get its config: that event is then captured too."""

    label = "bare"

    def __init__(self, base_url: str) -> None:
        self._base_url = base_url

    async def mint(self, config: SessionConfig) -> EphemeralSecret:
        async with httpx.AsyncClient(base_url=self._base_url, timeout=WAIT) as http:
            minted = await http.post("/v1/realtime/client_secrets", json={"session": {"type": "realtime"}},
                                     headers={"Authorization": "Bearer sk-test"})
        minted.raise_for_status()
        return EphemeralSecret(minted.json()["value"], minted.json()["expires_at"])


def literal_types(paths: list[Path], known: dict[str, Any]) -> set[str]:
    """Event types named as string literals in ``paths`` that the SDK knows for that side."""
    text = "".join(path.read_text() for path in paths)
    return {name for name in re.findall(r'"([a-z_]+(?:\.[a-z_]+)*)"', text) if name in known}


async def until(predicate: Any, timeout: float = WAIT) -> Any:
    async def loop() -> Any:
        while not (result := predicate()):
            await asyncio.sleep(0.02)
        return result
    return await asyncio.wait_for(loop(), timeout)


async def voxflow_session(server: LocalRealtimeServer, registry: Any, source: Any, tools: Any = (),
                          **config: Any) -> tuple[RealtimeSession, EventLog]:
    session = RealtimeSession(SessionConfig.build(base_url=server.base_url, **config),
                              secret_provider=BareSessionSecrets(server.base_url), registry=registry,
                              input_source=source, tools=tools)
    log = EventLog()
    session.events.add_callback(log)
    await session.connect()
    return session, log


async def ptt_text_and_barge_in(registry: Any) -> list[Call]:
    """Push-to-talk turn, barge-in by PTT during the reply, a too-short tap, a typed turn; transcription on."""
    server = LocalRealtimeServer(ServerConfig(speech=False, reply="script",
                                              script=[LONG_REPLY, "Okay.", LONG_REPLY, "Fine."]))
    await server.start()
    try:
        session, log = await voxflow_session(server, registry, steady_tone(), vad="disabled",
                                             voice="cedar", instructions="Be brief.")
        assert await session.ptt_toggle() is PttState.TALKING
        await until(lambda: session.ptt.captured_ms >= 300)
        await session.ptt_toggle()
        await log.wait_for(AssistantAudio, lambda e: e.playing)
        await session.ptt_toggle()  # barge in: response.cancel + output_audio_buffer.clear + input clear
        await until(lambda: session.ptt.captured_ms >= 300)
        await session.ptt_toggle()
        await log.wait(lambda: len(log.of(ResponseDone)) >= 2)
        await session.send_text("hello there")
        await log.wait(lambda: len(log.of(ResponseStarted)) >= 3)
        await session.send_text("and again")  # while the reply runs: the client barges in first
        await log.wait(lambda: len(log.of(ResponseDone)) >= 4)
        call = next(iter(server.calls.values()))
        await until(lambda: "output_audio_buffer.stopped" in call.sent_types)  # the last reply played out
        await session.disconnect()
    finally:
        await server.stop()
    return list(server.ended_calls.values())


class CityWeather:
    """A tool as voxflow's flow nodes provide one (see audio/session/tools.py ``Tool``)."""

    name, description, confirm, node_id = "get_weather", "Current weather for a city.", False, None
    parameters = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}

    async def call(self, arguments: dict[str, Any]) -> str:
        return f"sunny in {arguments['city']}"

    def secrets(self) -> list[str]:
        return []


TOOL_RULES = """
- when: "(?i)weather.*(paris|london)"
  call: get_weather
  arguments: {city: "{1}"}
  say: "It is {tool_output}."
"""


async def tool_call(registry: Any) -> list[Call]:
    """A function call end to end: tools in the session, the call's events, its output item and the reply."""
    from audio.server.tool_script import ToolScript

    server = LocalRealtimeServer(ServerConfig(speech=False, rules=ToolScript.parse(TOOL_RULES)))
    await server.start()
    try:
        session, log = await voxflow_session(server, registry, steady_tone(), tools=[CityWeather()], vad="disabled")
        await session.send_text("What is the weather in Paris")
        await log.wait(lambda: any("sunny in Paris" in (e.text or "") for e in session.transcript.entries()
                                   if e.role == "assistant"))
        await session.disconnect()
    finally:
        await server.stop()
    return list(server.ended_calls.values())


async def vad_with_faults(registry: Any) -> list[Call]:
    """A VAD turn from a real recording over voxflow's WebSocket transport; an injected error and failing transcription."""
    server = LocalRealtimeServer(ServerConfig(speech=False, faults=FaultConfig(error_code="rate_limit_exceeded",
                                                                               fail_transcription=True)))
    await server.start()
    try:
        source = SequenceSource(FileSource(LIBRIVOX, sample_rate=48_000, channels=1),
                                SilenceSource(48_000, 1, duration=30))
        session, log = await voxflow_session(server, registry, source, vad={"type": "server_vad",
                                                                            "silence_duration_ms": 400},
                                             transport="websocket")
        await log.wait_for(ResponseDone)
        call = next(iter(server.calls.values()))
        await until(lambda: "conversation.item.input_audio_transcription.failed" in call.sent_types)
        await session.disconnect()
    finally:
        await server.stop()
    return list(server.ended_calls.values())


async def websocket_barge_in(registry: Any) -> list[Call]:
    """A typed turn over WebSocket while a reply sent whole (as the service may) still plays: voxflow truncates it."""
    server = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=[LONG_REPLY, "Okay."],
                                              websocket_burst=True))
    await server.start()
    try:
        session, log = await voxflow_session(server, registry, None, vad="disabled", transport="websocket")
        await session.send_text("tell me a story")
        await log.wait_for(ResponseDone)  # generated at once, still playing
        await session.send_text("stop there")
        call = next(iter(server.calls.values()))
        await until(lambda: "conversation.item.truncated" in call.sent_types)
        await log.wait(lambda: len(log.of(ResponseDone)) >= 2)
        await session.disconnect()
    finally:
        await server.stop()
    return list(server.ended_calls.values())


async def webrtc_edges() -> list[Call]:
    """``output_audio_buffer.clear`` with nothing playing, before and after a response (raw aiortc client)."""
    server = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Okay."]))
    await server.start()
    client = RealtimeTestClient(server.base_url)
    try:
        await client.connect({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        client.send("output_audio_buffer.clear")
        client.send("conversation.item.create", item={
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]})
        client.send("response.create")
        await client.next("output_audio_buffer.stopped")
        client.send("output_audio_buffer.clear")
        await client.next("output_audio_buffer.cleared")
    finally:
        await client.close()
        await server.stop()
    return list(server.ended_calls.values())


async def sdk_over_websocket() -> list[Call]:
    """Out-of-band and text-only responses, retrieve/truncate/delete, rule errors, idle timeout."""
    server = LocalRealtimeServer(ServerConfig(speech=False))
    await server.start()
    try:
        client = AsyncOpenAI(api_key="sk-test", base_url=server.base_url + "/v1", max_retries=0)
        async with client.realtime.connect(model="gpt-realtime") as connection:
            seen: list[Any] = []

            async def wait(type: str, count: int = 1) -> Any:
                async def loop() -> Any:
                    while sum(e.type == type for e in seen) < count:
                        seen.append(await connection.recv())
                    return [e for e in seen if e.type == type][count - 1]
                return await asyncio.wait_for(loop(), WAIT)

            await connection.session.update(session={"type": "realtime", "audio": {"input": {
                "turn_detection": {"type": "server_vad", "idle_timeout_ms": 5000}}}})
            await wait("session.updated")
            silence = base64.b64encode(np.zeros(24_000 * 6, dtype="<i2").tobytes()).decode()
            await connection.input_audio_buffer.append(audio=silence)  # 6 s without speech
            await wait("input_audio_buffer.timeout_triggered")
            await wait("response.done")
            await connection.session.update(session={"type": "realtime", "audio": {"input": {
                "turn_detection": None, "noise_reduction": {"type": "near_field", "strength": 0.5}}}})
            await wait("session.updated", 2)
            await connection.conversation.item.create(item={
                "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]})
            user = (await wait("conversation.item.added")).item
            await connection.response.create()
            assistant = (await wait("response.done", 2)).response.output[0]
            await connection.response.create(response={
                "conversation": "none", "metadata": {"topic": "summary"}, "output_modalities": ["text"],
                "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "sum up"}]}]})
            await wait("response.done", 3)
            await connection.conversation.item.retrieve(item_id=assistant.id)
            await wait("conversation.item.retrieved")
            await connection.conversation.item.truncate(item_id=assistant.id, content_index=0, audio_end_ms=200)
            await wait("conversation.item.truncated")
            await connection.conversation.item.truncate(item_id=user.id, content_index=0, audio_end_ms=0)
            await wait("error")
            await connection.conversation.item.delete(item_id=user.id)
            await wait("conversation.item.deleted")
    finally:
        await server.stop()
    return list(server.ended_calls.values())


async def whisper_transcription_with_logprobs() -> list[Call]:
    """A session with ``include: logprobs`` hears a real reader through Whisper: deltas, then completed."""
    server = LocalRealtimeServer(ServerConfig())
    await server.start()
    try:
        client = AsyncOpenAI(api_key="sk-test", base_url=server.base_url + "/v1", max_retries=0)
        async with client.realtime.connect(model="gpt-realtime") as connection:
            await connection.session.update(session={  # type: ignore[arg-type,misc]
                "type": "realtime", "include": ["item.input_audio_transcription.logprobs"],
                "audio": {"input": {"turn_detection": None, "transcription": {"model": "gpt-4o-transcribe",
                                                                              "language": "en"}}}})
            speech = decode(LIBRIVOX, 24_000)
            await connection.input_audio_buffer.append(audio=base64.b64encode(speech.astype("<i2").tobytes()).decode())
            await connection.input_audio_buffer.commit()
            async def completed() -> Any:
                while (event := await connection.recv()).type != "conversation.item.input_audio_transcription.completed":
                    assert event.type != "error", event
                return event
            done = await asyncio.wait_for(completed(), WAIT)
            assert done.logprobs and all(entry.logprob <= 0 for entry in done.logprobs)
    finally:
        await server.stop()
    return list(server.ended_calls.values())


async def test_every_event_either_side_produces_conforms_to_the_sdk(registry) -> None:
    voxflow_calls = [*await ptt_text_and_barge_in(registry), *await vad_with_faults(registry), *await tool_call(registry),
                     *await websocket_barge_in(registry)]
    sdk_calls = [*await sdk_over_websocket(), *await webrtc_edges(), *await whisper_transcription_with_logprobs()]
    sent = [event for call in [*voxflow_calls, *sdk_calls] for event in call.sent]
    received_from_voxflow = [event for call in voxflow_calls for event in call.received]
    received_from_sdk = [event for call in sdk_calls for event in call.received]

    assert server_mismatches(sent) == []
    transcripts = [event for event in sent if event["type"].startswith("conversation.item.input_audio_transcription.")
                   and event["type"] != "conversation.item.input_audio_transcription.failed"]
    with_logprobs = [event for event in transcripts if "logprobs" in event]
    assert with_logprobs and len(with_logprobs) < len(transcripts)  # present when asked for, absent otherwise
    assert all(event["logprobs"] for event in with_logprobs)
    assert client_mismatches(received_from_voxflow) == []
    assert client_mismatches(received_from_sdk) == []

    server_types = literal_types(sorted((ROOT / "audio/server").glob("*.py")), SERVER_EVENTS) | {"error"}
    assert server_types - {event["type"] for event in sent} == set()
    client_sources = [p for package in ("session", "transports", "wire") for p in sorted((ROOT / "audio" / package).rglob("*.py"))]
    client_types = literal_types(client_sources, CLIENT_EVENTS)
    assert client_types and client_types - {event["type"] for event in received_from_voxflow} == set()
