"""Over WebSocket, deltas of a reply the person cut in on can still arrive: they are neither played nor "playing".

A scripted WebSocket server on loopback plays the service's part in an exact
order no real server can be made to keep: a reply starts, the person barges in
(``speech_started``), three more deltas of the cut reply arrive, and the next
reply follows at once (as a typed turn's reply can). Every event is written with
``type`` last. The cut reply's late audio must not reach playback, and the next
reply must show as playing from its first delta.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import numpy as np
import websockets

from audio.session.events import AssistantAudio
from audio.session.session import RealtimeSession
from audio.transports.secrets import DirectSecretProvider
from audio.wire.config import SessionConfig
from tests.realtime_session.conftest import EventLog, assert_released

RATE = 24_000


def event(kind: str, **fields: Any) -> str:
    return json.dumps({**fields, "type": kind})  # type last, as pydantic dumps the SDK's models


def delta(response_id: str, ms: int = 100) -> str:
    t = np.arange(RATE * ms // 1000) / RATE
    pcm = (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype("<i2")
    return event("response.output_audio.delta", response_id=response_id, item_id=f"item_{response_id}",
                 output_index=0, content_index=0, delta=base64.b64encode(pcm.tobytes()).decode())


class ScriptedService:
    """A WebSocket endpoint that sends what the test queues, and records what the client sent."""

    def __init__(self) -> None:
        self.outgoing: asyncio.Queue[str] = asyncio.Queue()
        self.received: list[dict[str, Any]] = []
        self.server: Any = None

    async def handler(self, ws: Any) -> None:
        session = {"model": "gpt-realtime", "audio": {"input": {"turn_detection": {"type": "server_vad"}},
                                                       "output": {"voice": "marin"}}, "type": "realtime"}
        await ws.send(event("session.created", event_id="event_1", session=session))

        async def write() -> None:
            while True:
                await ws.send(await self.outgoing.get())

        writer = asyncio.ensure_future(write())
        try:
            async for message in ws:  # until the client closes
                self.received.append(json.loads(message))
        finally:
            writer.cancel()
            await asyncio.gather(writer, return_exceptions=True)

    def send(self, *messages: str) -> None:
        for message in messages:
            self.outgoing.put_nowait(message)


async def test_late_deltas_of_a_cut_reply_are_dropped_and_the_next_reply_plays(registry) -> None:
    service = ScriptedService()
    server = await websockets.serve(service.handler, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    base_url = f"http://127.0.0.1:{port}"
    session = RealtimeSession(SessionConfig.build(base_url=base_url, transport="websocket", vad={"type": "server_vad"}),
                              secret_provider=DirectSecretProvider("sk-test", base_url=base_url), registry=registry)
    log = EventLog()
    session.events.add_callback(log)
    written: list[tuple[bool, float]] = []  # (after the flush, ms) of every frame that reached playback
    flushed: list[bool] = []
    session.playback_listeners.append(lambda pcm: written.append((bool(flushed), 1000 * pcm.shape[0] / RATE)))
    try:
        await session.connect()
        session.output_pipe.add_flush_listener(lambda: flushed.append(True))
        transport = session._transport
        service.send(event("response.created", response={"id": "resp_1", "status": "in_progress"}),
                     *(delta("resp_1") for _ in range(5)))
        await log.wait_for(AssistantAudio, lambda e: e.playing)
        service.send(event("input_audio_buffer.speech_started", audio_start_ms=900, item_id="item_user"),
                     *(delta("resp_1") for _ in range(3)),  # sent before the service saw the cancel
                     event("response.created", response={"id": "resp_2", "status": "in_progress"}),
                     delta("resp_2"), delta("resp_2"))
        await log.wait(lambda: sum(ms for after, ms in written if after) >= 200)
        await log.wait(lambda: transport.audio_deltas_received == 10)
        assert transport.audio_deltas_dropped == 3
        assert round(sum(ms for after, ms in written if after)) == 200  # resp_2's audio only
        playing = [e.playing for e in log.of(AssistantAudio)]
        assert playing[:3] == [True, False, True], playing  # the flush stopped it; resp_2 started it at once
        assert any(e.get("type") == "conversation.item.truncate" and e.get("item_id") == "item_resp_1"
                   for e in service.received)  # the cut reply is truncated where it was heard
    finally:
        await session.disconnect()
        server.close()
        await server.wait_closed()
    await assert_released(session, registry)
