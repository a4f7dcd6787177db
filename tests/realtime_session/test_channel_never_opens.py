"""A service that answers the SDP correctly but never completes the connection: the channel never opens.

The stand-in answers with a genuine aiortc SDP answer and then closes its peer,
so ICE/DTLS never finish and ``oai-events`` never opens. The session must give
up within its connect timeout (or on ICE failure), end in ``error`` with a
clear reason, release everything and be able to connect again elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import pytest
import uvicorn
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from audio.base.errors import VoxflowError
from audio.wire.config import SessionConfig
from audio.session.events import SessionState
from audio.transports.secrets import DirectSecretProvider
from audio.session.session import RealtimeSession
from tests.realtime_session.conftest import assert_released, utterance

pytestmark = pytest.mark.slow


async def client_secrets(request: Request) -> Response:
    return JSONResponse({"value": "ek_stand_in", "expires_at": int(time.time()) + 600, "session": {}})


async def calls(request: Request) -> Response:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    await pc.setRemoteDescription(RTCSessionDescription((await request.body()).decode(), "offer"))
    await pc.setLocalDescription(await pc.createAnswer())
    answer = pc.localDescription.sdp
    await pc.close()  # nobody will ever complete ICE/DTLS with the client
    return Response(answer, status_code=201, media_type="application/sdp",
                    headers={"Location": "/v1/realtime/calls/rtc_never"})


@contextlib.asynccontextmanager
async def stand_in() -> AsyncIterator[str]:
    app = Starlette(routes=[
        Route("/v1/realtime/client_secrets", client_secrets, methods=["POST"]),
        Route("/v1/realtime/calls", calls, methods=["POST"]),
    ])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


async def test_data_channel_never_opens(start_server, registry) -> None:
    async with stand_in() as base_url:
        session = RealtimeSession(
            SessionConfig.build(base_url=base_url, connect_timeout=2.0),
            secret_provider=DirectSecretProvider("sk-test-key", base_url=base_url),
            registry=registry,
            input_source=utterance(),
        )
        with pytest.raises(VoxflowError) as info:
            await asyncio.wait_for(session.connect(), 20)
    reason = str(info.value)
    assert "within 2 s" in reason or "failed" in reason
    assert session.state is SessionState.ERROR and session.reason == reason.splitlines()[0]
    await assert_released(session, registry)

    server = await start_server()
    session.config = SessionConfig.build(base_url=server.base_url)
    session.secret_provider = DirectSecretProvider("sk-test-key", base_url=server.base_url)
    await session.connect()
    assert session.state is SessionState.CONNECTED
    await session.disconnect()
    await assert_released(session, registry)
