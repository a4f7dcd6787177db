"""Session fixtures for the echo tests: a local server that speaks (eSpeak), and the realtime session fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from audio.server import LocalRealtimeServer, ServerConfig
from tests.realtime_session.conftest import make_session  # noqa: F401  (fixture)


@pytest.fixture
async def start_server() -> AsyncIterator[Callable[..., Any]]:
    servers: list[LocalRealtimeServer] = []

    async def start(**fields: Any) -> LocalRealtimeServer:
        server = LocalRealtimeServer(ServerConfig(**fields))
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()
