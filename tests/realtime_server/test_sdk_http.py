"""The official SDK as an HTTP client of the local server: client secrets, calls (both shapes), hangup, SIP routes."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from openai import AsyncOpenAI

from tests.conformance.sdk_check import CLIENT_SECRET, mismatches

FULL_SESSION: dict[str, Any] = {
    "type": "realtime",
    "model": "gpt-realtime",
    "instructions": "You are a ship's computer.",
    "output_modalities": ["audio"],
    "max_output_tokens": 800,
    "tools": [{"type": "function", "name": "get_weather", "description": "The weather in a city.",
               "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}],
    "tool_choice": "auto",
    "parallel_tool_calls": False,
    "tracing": {"workflow_name": "voxflow-tests", "group_id": "g1", "metadata": {"run": "1"}},
    "truncation": {"type": "retention_ratio", "retention_ratio": 0.5},
    "include": ["item.input_audio_transcription.logprobs"],
    "prompt": {"id": "pmpt_123", "version": "2", "variables": {"city": "Paris"}},
    "reasoning": {"effort": "low"},
    "audio": {
        "input": {
            "format": {"type": "audio/pcm", "rate": 24000},
            "noise_reduction": {"type": "far_field", "strength": 0.7},
            "transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"},
            "turn_detection": {"type": "server_vad", "idle_timeout_ms": 6000, "silence_duration_ms": 600},
        },
        "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": {"id": "voice_1234"}, "speed": 1.1},
    },
}


def sdk(server: Any, key: str = "sk-test") -> AsyncOpenAI:
    return AsyncOpenAI(api_key=key, base_url=server.base_url + "/v1", max_retries=0)


async def offer_sdp() -> tuple[RTCPeerConnection, str]:
    """A real aiortc offer (data channel + audio), as a browser or voxflow would make."""
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.createDataChannel("oai-events")
    pc.addTransceiver("audio", direction="sendrecv")
    await pc.setLocalDescription(await pc.createOffer())
    return pc, pc.localDescription.sdp


async def test_client_secrets_with_a_full_ga_session(server) -> None:
    client = sdk(server)
    raw = await client.realtime.client_secrets.with_raw_response.create(
        expires_after={"anchor": "created_at", "seconds": 120}, session=FULL_SESSION)
    assert mismatches(raw.http_response.json(), CLIENT_SECRET, "client_secrets") == []
    secret = raw.parse()
    assert secret.value.startswith("ek_")
    session = secret.session
    assert session.type == "realtime" and session.reasoning.effort == "low"
    assert session.audio.input.noise_reduction.strength == 0.7
    assert session.audio.input.turn_detection.idle_timeout_ms == 6000
    assert session.audio.output.voice == "voice_1234"  # the response model declares a string
    assert session.truncation.retention_ratio == 0.5 and session.tracing.workflow_name == "voxflow-tests"
    assert session.prompt.variables == {"city": "Paris"} and session.tools[0].name == "get_weather"
    assert "parallel_tool_calls" not in raw.http_response.json()["session"]  # accepted; the response omits it

    manual = await client.realtime.client_secrets.create(session={
        "type": "realtime", "audio": {"input": {"turn_detection": None}}})
    assert manual.session.audio.input.turn_detection is None

    transcription = await client.realtime.client_secrets.with_raw_response.create(session={
        "type": "transcription", "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"},
                                                     "noise_reduction": {"type": "near_field"}}}})
    assert mismatches(transcription.http_response.json(), CLIENT_SECRET, "client_secrets") == []
    assert transcription.parse().session.type == "transcription"


async def test_client_secrets_refuses_what_the_service_refuses(server) -> None:
    client = sdk(server)
    with pytest.raises(openai.BadRequestError) as refused:
        await client.realtime.client_secrets.create(session={"type": "realtime", "reasoning": {"effort": "max"}})
    assert refused.value.body["param"] == "session.reasoning.effort"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError) as refused:
        await client.realtime.client_secrets.create(session={"type": "realtime", "invented": 1})  # type: ignore[typeddict-unknown-key]
    assert refused.value.body["code"] == "unknown_parameter"  # type: ignore[index]


async def test_calls_with_an_ephemeral_key_then_hangup(server) -> None:
    secret = await sdk(server).realtime.client_secrets.create(session=FULL_SESSION)
    pc, sdp = await offer_sdp()
    try:
        answer = await sdk(server, secret.value).realtime.calls.with_raw_response.create(sdp=sdp)
        assert answer.http_response.status_code == 201
        assert answer.http_request.headers["content-type"].startswith("application/sdp")  # raw SDP, no session
        call_id = answer.http_response.headers["location"].rsplit("/", 1)[-1]
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer.http_response.text, type="answer"))
        assert server.calls[call_id].session["reasoning"] == {"effort": "low"}
        await sdk(server).realtime.calls.hangup(call_id)
        assert call_id in server.ended_calls and call_id not in server.calls
        with pytest.raises(openai.NotFoundError) as gone:
            await sdk(server).realtime.calls.hangup(call_id)
        assert gone.value.body["code"] == "call_not_found"  # type: ignore[index]
    finally:
        await pc.close()


async def test_calls_with_a_standard_key_sends_multipart_with_the_session(server) -> None:
    pc, sdp = await offer_sdp()
    try:
        answer = await sdk(server).realtime.calls.with_raw_response.create(sdp=sdp, session={
            "type": "realtime", "instructions": "Multipart.", "audio": {"output": {"voice": "sage"}}})
        assert answer.http_request.headers["content-type"].startswith("multipart/form-data")
        assert answer.http_response.status_code == 201
        call_id = answer.http_response.headers["location"].rsplit("/", 1)[-1]
        session = server.calls[call_id].session
        assert session["instructions"] == "Multipart." and session["audio"]["output"]["voice"] == "sage"
        await sdk(server).realtime.calls.hangup(call_id)
    finally:
        await pc.close()


async def test_accept_reject_refer_answer_with_the_service_error_shape(server) -> None:
    client = sdk(server)
    for attempt in (
        client.realtime.calls.accept("rtc_unknown", type="realtime"),
        client.realtime.calls.reject("rtc_unknown", status_code=486),
        client.realtime.calls.refer("rtc_unknown", target_uri="tel:+14155550123"),
    ):
        with pytest.raises(openai.NotFoundError) as refused:
            await attempt
        assert refused.value.response.headers["content-type"] == "application/json"
        body = json.loads(refused.value.response.text)
        assert set(body["error"]) == {"type", "code", "message", "param", "event_id"}
        assert body["error"]["code"] == "call_not_found"
