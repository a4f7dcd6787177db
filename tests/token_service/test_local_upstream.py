"""The local Realtime server as a real upstream, and voxflow's own client end to end.

The token service mints secrets at the local server's ``client_secrets``
route over real HTTP; then the session core's ``TokenServiceProvider`` gets
a secret from the token service and a ``RealtimeSession`` connects to the
local server with it over real WebRTC on loopback.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

from audio.tokens.app import create_app
from audio.tokens.crypto import Keyring
from audio.server import LocalRealtimeServer, ServerConfig

from .conftest import OWNER_KEY, SESSION, USER_KEY, Factory, client_for, seed_owner, serving

WAIT = 20.0


@pytest.fixture
async def realtime_server() -> AsyncIterator[LocalRealtimeServer]:
    server = LocalRealtimeServer(ServerConfig(speech=False, api_key=OWNER_KEY, reply="script", script=["Hello from the local server."]))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_mints_at_the_local_server(sqlite_url: str, make_service: Factory, keyring: Keyring, realtime_server: LocalRealtimeServer) -> None:
    service = await make_service(sqlite_url, transport=httpx.AsyncHTTPTransport(), openai_base_url=realtime_server.base_url)
    token = await seed_owner(service.store, keyring)
    async with client_for(service) as client:
        owner = await client.post(SESSION, json={"shareToken": token, "runId": "local-1", "voice": "cedar", "vad": {"type": "none"}})
        wrong_key = await client.post(SESSION, json={"apiKeys": {"openai": USER_KEY}})
    assert owner.status_code == 200, owner.text
    secret = owner.json()["clientSecret"]
    assert secret.startswith("ek_") and owner.json()["expiresAt"] > 0
    assert wrong_key.status_code == 502 and USER_KEY not in wrong_key.text
    # the minted secret really opens a call at the local server
    async with httpx.AsyncClient(base_url=realtime_server.base_url) as http:
        refused = await http.post("/v1/realtime/calls", content=b"v=0\r\n", headers={"Authorization": "Bearer ek_not_minted", "Content-Type": "application/sdp"})
    assert refused.status_code == 401


@pytest.mark.slow
async def test_token_service_provider_connects_a_session(sqlite_url: str, make_service: Factory, keyring: Keyring, realtime_server: LocalRealtimeServer) -> None:
    from audio.wire.config import SessionConfig
    from audio.session.events import ResponseDone, SessionState
    from audio.transports.secrets import TokenServiceProvider
    from audio.session.session import RealtimeSession
    from audio.base.registry import AudioRegistry
    from tests.realtime_session.conftest import EventLog

    service = await make_service(sqlite_url, transport=httpx.AsyncHTTPTransport(), openai_base_url=realtime_server.base_url)
    token = await seed_owner(service.store, keyring)
    async with serving(create_app(service), log_level="warning") as token_service_url:
        provider = TokenServiceProvider(token_service_url, share_token=token, run_id="e2e-run")
        registry = AudioRegistry()
        session = RealtimeSession(
            SessionConfig.build(base_url=realtime_server.base_url, vad="disabled", voice="cedar"),
            secret_provider=provider,
            registry=registry,
        )
        log = EventLog()
        session.events.add_callback(log)
        try:
            await asyncio.wait_for(session.connect(), WAIT)
            assert session.state is SessionState.CONNECTED
            await session.send_text("hello through the token service")
            await log.wait_for(ResponseDone, timeout=WAIT)
            assert any(entry.role == "assistant" for entry in session.transcript.entries())
        finally:
            await session.disconnect()
            registry.clear()
    [row] = await service.store.list_executions()
    assert (row.outcome, row.run_id, row.client_ip, row.owner_name) == ("ok", "e2e-run", "127.0.0.1", "alice")
