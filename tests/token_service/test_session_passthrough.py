"""Every SDK-valid session field goes through the token service to client_secrets; model, voice, instructions
and the owner's organisation stay policed. The upstream is the local Realtime server over real HTTP, and the
minted secret is opened with the SDK's own WebSocket client to read the session the service minted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from openai import AsyncOpenAI
from openai.types.realtime import RealtimeSessionCreateRequestParam

from audio.server import LocalRealtimeServer, ServerConfig
from audio.tokens.crypto import Keyring

from .conftest import OWNER_KEY, SESSION, USER_KEY, Factory, client_for, seed_owner

GA_SESSION: RealtimeSessionCreateRequestParam = {
    "type": "realtime",
    "instructions": "Answer in one sentence.",
    "tools": [{"type": "function", "name": "lookup", "description": "Look a word up.",
               "parameters": {"type": "object", "properties": {"word": {"type": "string"}}}}],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "truncation": {"type": "retention_ratio", "retention_ratio": 0.8},
    "include": ["item.input_audio_transcription.logprobs"],
    "reasoning": {"effort": "low"},
    "max_output_tokens": 500,
    "audio": {
        "input": {"noise_reduction": {"type": "near_field", "strength": 0.4},
                  "turn_detection": {"type": "server_vad", "idle_timeout_ms": 7000}},
        "output": {"voice": "ash", "speed": 1.2},
    },
}


@pytest.fixture
async def realtime_server() -> AsyncIterator[LocalRealtimeServer]:
    server = LocalRealtimeServer(ServerConfig(speech=False, api_key=OWNER_KEY))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def minted_session(server: LocalRealtimeServer, secret: str) -> Any:
    client = AsyncOpenAI(api_key=secret, base_url=server.base_url + "/v1", max_retries=0)
    async with client.realtime.connect(model="gpt-realtime") as connection:
        event = await asyncio.wait_for(connection.recv(), 20)
        assert event.type == "session.created"
        return event.session


async def test_every_sdk_session_field_reaches_client_secrets(sqlite_url: str, make_service: Factory,
                                                               keyring: Keyring, realtime_server) -> None:
    service = await make_service(sqlite_url, transport=httpx.AsyncHTTPTransport(),
                                 openai_base_url=realtime_server.base_url)
    token = await seed_owner(service.store, keyring)
    async with client_for(service) as client:
        answer = await client.post(SESSION, json={"shareToken": token, "voice": "cedar", "session": GA_SESSION})
    assert answer.status_code == 200, answer.text
    session = await minted_session(realtime_server, answer.json()["clientSecret"])
    assert session.audio.output.voice == "ash" and session.audio.output.speed == 1.2  # session wins over 'voice'
    assert session.audio.input.noise_reduction.strength == 0.4
    assert session.audio.input.turn_detection.idle_timeout_ms == 7000
    assert session.audio.input.transcription.model == "gpt-4o-mini-transcribe"  # the top-level default stays
    assert session.reasoning.effort == "low" and session.parallel_tool_calls is True
    assert session.truncation.retention_ratio == 0.8 and session.tools[0].name == "lookup"
    assert session.include == ["item.input_audio_transcription.logprobs"] and session.max_output_tokens == 500
    assert session.instructions == "Answer in one sentence."


@pytest.mark.parametrize(("mode", "session", "problem"), [
    ("user", {"type": "realtime", "invented": 1}, "unknown field"),
    ("user", {"type": "realtime", "model": "gpt realtime; drop"}, "session.model"),
    ("user", {"type": "realtime", "instructions": "x" * 8001}, "session.instructions"),
    ("user", {"type": "realtime", "audio": {"output": {"voice": "Robot Voice"}}}, "session.audio.output.voice"),
    ("user", {"type": "realtime", "audio": {"output": {"voice": {"id": "../etc"}}}}, "PolicedCustomVoice.id"),
    ("user", {"type": "realtime", "audio": {"input": {"noise_reduction": {"strength": 3}}}}, "strength"),
    ("shared", {"type": "realtime", "prompt": {"id": "pmpt_owner"}}, "session.prompt"),
    ("shared", {"type": "realtime", "tracing": "auto"}, "session.tracing"),
    ("shared", {"type": "realtime", "tools": [{"type": "mcp", "server_label": "x", "server_url": "https://x"}]},
     "session.tools"),
])
async def test_policed_fields_are_refused_with_a_reason(sqlite_url: str, make_service: Factory, keyring: Keyring,
                                                        mode: str, session: dict[str, Any], problem: str) -> None:
    service = await make_service(sqlite_url)
    token = await seed_owner(service.store, keyring)
    body = {"shareToken": token} if mode == "shared" else {"apiKeys": {"openai": USER_KEY}}
    async with client_for(service) as client:
        answer = await client.post(SESSION, json={**body, "session": session})
    assert answer.status_code == 400 and problem in answer.json()["error"], answer.text


async def test_the_owner_only_fields_pass_with_the_callers_own_key(sqlite_url: str, make_service: Factory,
                                                                    realtime_server) -> None:
    service = await make_service(sqlite_url, transport=httpx.AsyncHTTPTransport(),
                                 openai_base_url=realtime_server.base_url)
    async with client_for(service) as client:
        answer = await client.post(SESSION, json={"apiKeys": {"openai": OWNER_KEY}, "session": {
            "type": "realtime", "prompt": {"id": "pmpt_mine", "variables": {"a": "b"}}, "tracing": "auto"}})
    assert answer.status_code == 200, answer.text
    session = await minted_session(realtime_server, answer.json()["clientSecret"])
    assert session.prompt.id == "pmpt_mine" and session.tracing == "auto"
