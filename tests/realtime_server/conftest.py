"""Fixtures: a local server per test (port 0) and a factory of plain aiortc clients that closes them all."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from audio.server import LocalRealtimeServer, ServerConfig
from tests.realtime_server.client import RealtimeTestClient

ServerFactory = Callable[..., Awaitable[LocalRealtimeServer]]


@pytest.fixture
async def make_server() -> AsyncIterator[ServerFactory]:
    servers: list[LocalRealtimeServer] = []

    async def make(**settings: object) -> LocalRealtimeServer:
        server = LocalRealtimeServer(ServerConfig(**settings))  # type: ignore[arg-type]
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.stop()


@pytest.fixture
async def server(make_server: ServerFactory) -> LocalRealtimeServer:
    return await make_server()


@pytest.fixture
async def make_client() -> AsyncIterator[Callable[..., RealtimeTestClient]]:
    clients: list[RealtimeTestClient] = []

    def make(base_url: str, **kwargs: object) -> RealtimeTestClient:
        client = RealtimeTestClient(base_url, **kwargs)  # type: ignore[arg-type]
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.close()
