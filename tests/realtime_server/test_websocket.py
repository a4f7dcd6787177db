"""The WebSocket transport, driven by the official SDK's ``client.realtime.connect()``."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import numpy as np
import pytest
from openai import AsyncOpenAI
from websockets.exceptions import InvalidStatus

from tests.realtime_server.recordings import raw_recording

pytestmark = pytest.mark.slow

WAIT = 20.0


def sdk(server: Any, key: str = "sk-test") -> AsyncOpenAI:
    return AsyncOpenAI(api_key=key, base_url=server.base_url + "/v1", max_retries=0)


def speech_span_ms(samples: np.ndarray, rate: int = 24_000) -> tuple[int, int]:
    """First and last 20 ms frame of the recording louder than -40 dBFS (the default threshold's level)."""
    frame = rate // 50
    levels = [np.sqrt(np.mean(samples[i:i + frame].astype(float) ** 2)) for i in range(0, len(samples), frame)]
    loud = [i for i, level in enumerate(levels) if level >= 32768 * 10 ** (-40 / 20)]
    return loud[0] * 20, (loud[-1] + 1) * 20


async def until(connection: Any, type: str, seen: list[Any] | None = None) -> Any:
    async def loop() -> Any:
        async for event in connection:
            if seen is not None:
                seen.append(event)
            if event.type == type:
                return event
        raise AssertionError(f"the connection closed before {type}")
    return await asyncio.wait_for(loop(), WAIT)


async def test_session_update_and_a_text_turn_with_an_audio_reply(server) -> None:
    async with sdk(server).realtime.connect(model="gpt-realtime") as connection:
        created = await until(connection, "session.created")
        assert created.session.model == "gpt-realtime"
        await connection.session.update(session={"type": "realtime", "instructions": "Be brief.",
                                                  "audio": {"input": {"turn_detection": None},
                                                            "output": {"voice": "cedar"}}})
        updated = await until(connection, "session.updated")
        assert updated.session.audio.output.voice == "cedar" and updated.session.audio.input.turn_detection is None
        await connection.conversation.item.create(item={
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello there"}]})
        await connection.response.create()
        seen: list[Any] = []
        done = await until(connection, "response.done", seen)
        assert done.response.status == "completed"
        audio = b"".join(base64.b64decode(e.delta) for e in seen if e.type == "response.output_audio.delta")
        samples = np.frombuffer(audio, dtype="<i2")
        assert len(samples) > 24_000 * 0.5 and np.sqrt(np.mean(samples.astype(float) ** 2)) > 300
        transcript = [e for e in seen if e.type == "response.output_audio_transcript.done"][0].transcript
        assert transcript == "You said: hello there"
        assert not [e for e in seen if e.type.startswith("output_audio_buffer.")]  # WebRTC/SIP only
    call = next(iter(server.ended_calls.values()))
    assert call.link.kind == "websocket"


async def test_a_vad_turn_from_appended_audio_of_a_real_recording(server) -> None:
    speech = raw_recording()
    silence = np.zeros(24_000, dtype=np.int16)
    async with sdk(server).realtime.connect(model="gpt-realtime") as connection:
        await until(connection, "session.created")
        await connection.session.update(session={"type": "realtime", "audio": {"input": {
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 400},
            "transcription": {"model": "gpt-4o-mini-transcribe"}}}})
        await until(connection, "session.updated")
        audio = np.concatenate([silence[:12_000], speech, silence])
        for start in range(0, len(audio), 2400):  # 100 ms per append, as a microphone would
            chunk = audio[start:start + 2400].astype("<i2").tobytes()
            await connection.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
        seen: list[Any] = []
        await until(connection, "response.done", seen)
        types = [e.type for e in seen]
        assert types.index("input_audio_buffer.speech_started") < types.index("input_audio_buffer.speech_stopped") \
            < types.index("input_audio_buffer.committed") < types.index("response.created")
        started = next(e for e in seen if e.type == "input_audio_buffer.speech_started")
        stopped = next(e for e in seen if e.type == "input_audio_buffer.speech_stopped")
        onset_ms, end_ms = 500 + speech_span_ms(speech)[0], 500 + speech_span_ms(speech)[1]
        assert onset_ms - 600 <= started.audio_start_ms <= onset_ms  # prefix padding goes before the onset
        assert end_ms <= stopped.audio_end_ms <= end_ms + 800  # after the silence duration
        done = [e for e in seen if e.type == "conversation.item.input_audio_transcription.completed"]
        transcript = done[0] if done else await until(connection, "conversation.item.input_audio_transcription.completed")
        if server.speech_enabled:
            assert "forward" in transcript.transcript


async def test_two_turns_in_one_burst_of_appended_audio_leave_the_call_answering(make_server) -> None:
    """The second turn's speech starts in the same burst that committed the first: its response is cancelled before
    it ran, and must not block every later one (a reconnected client appends what was said during an outage)."""
    server = await make_server(speech=False)
    speech = raw_recording()
    gap = np.zeros(int(24_000 * 0.8), dtype=np.int16)  # longer than the 400 ms silence: two turns
    async with sdk(server).realtime.connect(model="gpt-realtime") as connection:
        await until(connection, "session.created")
        await connection.session.update(session={"type": "realtime", "audio": {"input": {
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 400}}}})
        await until(connection, "session.updated")
        burst = np.concatenate([gap, speech, gap, speech, gap, gap]).astype("<i2").tobytes()
        await connection.input_audio_buffer.append(audio=base64.b64encode(burst).decode())
        seen: list[Any] = []
        done = await until(connection, "response.done", seen)
        assert [e.type for e in seen].count("input_audio_buffer.committed") == 2, [e.type for e in seen]
        await connection.conversation.item.create(item={
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "still there?"}]})
        await connection.response.create()
        while done.response.status != "completed" or "still there" not in str(done.response.output):
            done = await until(connection, "response.done")


async def test_cancel_ends_the_reply_midway(server) -> None:
    async with sdk(server).realtime.connect(model="gpt-realtime") as connection:
        await until(connection, "session.created")
        await connection.session.update(session={"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        await until(connection, "session.updated")
        await connection.conversation.item.create(item={
            "type": "message", "role": "user",
            "content": [{"type": "input_text", "text": "please tell me a long story about the sea and the sky"}]})
        await connection.response.create()
        await until(connection, "response.output_audio.delta")
        await connection.response.cancel()
        done = await until(connection, "response.done")
        assert done.response.status == "cancelled"
        assert done.response.status_details.reason == "client_cancelled"
        await connection.response.cancel()
        error = await until(connection, "error")
        assert error.error.code == "response_cancel_not_active"


@pytest.mark.parametrize("key", ["sk-wrong", "ek_unknown"])
async def test_an_unauthorised_connection_gets_the_service_error_shape(make_server, key: str) -> None:
    server = await make_server(api_key="sk-right")
    with pytest.raises(InvalidStatus) as refused:
        async with sdk(server, key).realtime.connect(model="gpt-realtime") as connection:
            await until(connection, "session.created")
    response = refused.value.response
    assert response.status_code == 401
    import json
    body = json.loads(response.body)
    assert set(body["error"]) == {"type", "code", "message", "param", "event_id"}
    assert body["error"]["code"] == "invalid_api_key"


async def test_an_ephemeral_key_opens_its_minted_session(make_server) -> None:
    server = await make_server(api_key="sk-right")
    client = sdk(server, "sk-right")
    secret = await client.realtime.client_secrets.create(session={
        "type": "realtime", "instructions": "Minted.", "audio": {"output": {"voice": "ash"}}})
    async with sdk(server, secret.value).realtime.connect(model="gpt-realtime") as connection:
        created = await until(connection, "session.created")
        assert created.session.instructions == "Minted." and created.session.audio.output.voice == "ash"


async def test_the_url_chooses_a_standard_keys_session(server) -> None:
    async with sdk(server).realtime.connect(model="gpt-realtime-mini") as connection:
        assert (await until(connection, "session.created")).session.model == "gpt-realtime-mini"
    async with sdk(server).realtime.connect(extra_query={"intent": "transcription"}) as connection:
        assert (await until(connection, "session.created")).session.type == "transcription"
    with pytest.raises(InvalidStatus) as refused:
        async with sdk(server).realtime.connect(call_id="rtc_elsewhere") as connection:
            await until(connection, "session.created")
    assert refused.value.response.status_code == 400


async def test_speech_during_a_reply_interrupts_it_as_over_webrtc(make_server) -> None:
    server = await make_server(speech=False, reply="script", script=["A reply long enough to be interrupted. " * 3])
    async with sdk(server).realtime.connect(model="gpt-realtime") as connection:
        await until(connection, "session.created")
        await connection.session.update(session={"type": "realtime", "audio": {"input": {
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 400, "create_response": False}}}})
        await until(connection, "session.updated")
        await connection.conversation.item.create(item={
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "talk to me"}]})
        await connection.response.create()
        await until(connection, "response.output_audio.delta")
        speech = raw_recording()
        for start in range(0, len(speech), 2400):
            chunk = speech[start:start + 2400].astype("<i2").tobytes()
            await connection.input_audio_buffer.append(audio=base64.b64encode(chunk).decode())
        seen: list[Any] = []
        done = await until(connection, "response.done", seen)
        assert "input_audio_buffer.speech_started" in [e.type for e in seen]
        assert done.response.status == "cancelled" and done.response.status_details.reason == "turn_detected"
        assert not [e for e in seen if e.type.startswith("output_audio_buffer.")]


def g711(samples_8k: np.ndarray, codec: str) -> bytes:
    """G.711 bytes of 8 kHz int16 samples, coded by PyAV (the test's own encoder)."""
    import av

    encoder = av.CodecContext.create(codec, "w")
    encoder.sample_rate, encoder.layout, encoder.format = 8000, "mono", "s16"  # type: ignore[attr-defined]
    frame = av.AudioFrame.from_ndarray(samples_8k.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 8000
    return b"".join(bytes(packet) for packet in encoder.encode(frame))  # type: ignore[attr-defined]


async def test_g711_in_and_out(server) -> None:
    import av

    kind, codec = "audio/pcmu", "pcm_mulaw"  # A-law takes the same path (see test_audio_out)

    speech = g711(raw_recording(rate=8000), codec)
    async with sdk(server).realtime.connect(model="gpt-realtime") as connection:
        await until(connection, "session.created")
        await connection.session.update(session={"type": "realtime", "audio": {
            "input": {"format": {"type": kind}, "turn_detection": {"type": "server_vad", "silence_duration_ms": 400},
                      "transcription": {"model": "gpt-4o-mini-transcribe"}},
            "output": {"format": {"type": kind}}}})
        await until(connection, "session.updated")
        audio = g711(np.zeros(4000, np.int16), codec) + speech + g711(np.zeros(8000, np.int16), codec)
        for start in range(0, len(audio), 800):  # 100 ms of 8 kHz G.711 per append
            await connection.input_audio_buffer.append(audio=base64.b64encode(audio[start:start + 800]).decode())
        seen: list[Any] = []
        await until(connection, "response.done", seen)
        assert "input_audio_buffer.speech_stopped" in [e.type for e in seen]
        heard = [e for e in seen if e.type == "conversation.item.input_audio_transcription.completed"]
        heard = heard or [await until(connection, "conversation.item.input_audio_transcription.completed")]
        if server.speech_enabled:
            assert "forward" in heard[0].transcript  # the recording decoded as what it is
        reply = b"".join(base64.b64decode(e.delta) for e in seen if e.type == "response.output_audio.delta")
        decoder = av.CodecContext.create(codec, "r")
        decoder.sample_rate, decoder.layout = 8000, "mono"  # type: ignore[attr-defined]
        samples = np.concatenate([f.to_ndarray().reshape(-1) for f in decoder.decode(av.Packet(reply))])
        assert len(reply) == len(samples) > 8000 * 0.4  # one byte per 8 kHz sample, at least 0.4 s
        assert np.sqrt(np.mean(samples.astype(float) ** 2)) > 300
        voiced = samples.astype(float)
        assert np.corrcoef(voiced[:-1], voiced[1:])[0, 1] > 0.5  # smooth audio, not bytes of another format
