"""Stopping the server finishes even when teardown cancelled a peer connection's close half-way.

aiortc's ``RTCPeerConnection.close`` makes a second caller wait for the first; if
the first was cancelled (an event loop tearing down after a failed test), that
wait never ended and ``LocalRealtimeServer.stop()`` hung forever.
"""

from __future__ import annotations

import asyncio

import pytest

from audio.server import webrtc_link

pytestmark = pytest.mark.slow


async def test_stop_finishes_after_a_cancelled_peer_close(make_server, make_client, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webrtc_link, "PEER_CLOSE_S", 0.5)
    server = await make_server(speech=False)
    client = make_client(server.base_url)
    await client.connect({"type": "realtime"})
    (call,) = server.calls.values()
    first_close = asyncio.ensure_future(call.link.pc.close())

    async def closing() -> None:
        while call.link.pc.signalingState != "closed":
            await asyncio.sleep(0.01)
    await asyncio.wait_for(closing(), 10)
    first_close.cancel()
    await asyncio.gather(first_close, return_exceptions=True)

    await asyncio.wait_for(server.stop(), 10)
    assert server.calls == {} and call.id in server.ended_calls
