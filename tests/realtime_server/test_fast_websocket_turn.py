"""One WebSocket text turn against the in-process local server, with its metrics: the server's fast-loop test.

No speech engines (a tone answers) and replies sent at once, so the whole
server path (routes, the call, its conversation, input audio, turns and
responses, the transcription settings check, the WebSocket link, the server's
events and its metrics exporter) runs in about a second, in the fast loop.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import httpx
import websockets
from prometheus_client import CollectorRegistry

from audio.metrics.address import parse_address
from audio.metrics.realtime_server import RealtimeServerMetrics
from audio.metrics.serving import ServerTelemetry
from audio.server.app import LocalRealtimeServer
from audio.server.config import ServerConfig

WAIT = 10.0


async def next_of(ws: Any, kind: str, seen: list[dict[str, Any]]) -> dict[str, Any]:
    async def loop() -> dict[str, Any]:
        while True:
            event = json.loads(await ws.recv())
            seen.append(event)
            if event["type"] == kind:
                return event
    return await asyncio.wait_for(loop(), WAIT)


async def test_a_text_turn_over_websocket_is_answered_and_counted() -> None:
    server = LocalRealtimeServer(ServerConfig(port=0, speech=False, websocket_burst=True, reply="script", script=["Okay."]))
    registry = CollectorRegistry()
    RealtimeServerMetrics(registry).install(server)
    telemetry = ServerTelemetry(parse_address("127.0.0.1:0"), registry, started=lambda: server.serving, what="test server")
    await server.start()
    telemetry.start()
    try:
        url = server.base_url.replace("http://", "ws://") + "/v1/realtime?model=gpt-realtime"
        seen: list[dict[str, Any]] = []
        async with websockets.connect(url, additional_headers={"Authorization": "Bearer sk-test"}) as ws:
            await next_of(ws, "session.created", seen)
            await ws.send(json.dumps({"type": "session.update", "session": {"type": "realtime", "audio": {"input": {
                "turn_detection": None, "transcription": {"model": "no-such-model"}}}}}))
            refused = await next_of(ws, "error", seen)
            assert "no-such-model" in refused["error"]["message"]  # refused as the service refuses it
            await ws.send(json.dumps({"type": "conversation.item.create", "item": {
                "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}}))
            await ws.send(json.dumps({"type": "response.create"}))
            done = await next_of(ws, "response.done", seen)
        assert done["response"]["status"] == "completed"
        audio = b"".join(base64.b64decode(e["delta"]) for e in seen if e["type"] == "response.output_audio.delta")
        assert len(audio) > 0
        transcript = [e["transcript"] for e in seen if e["type"] == "response.output_audio_transcript.done"]
        assert transcript == ["Okay."]
        async with httpx.AsyncClient() as http:
            health = await http.get(telemetry.exporter.url + "/healthz")
            assert health.status_code == 200 and health.json()["state"] == "serving"
            deadline = asyncio.get_running_loop().time() + WAIT
            while registry.get_sample_value("voxflow_realtime_server_calls_total", {"transport": "websocket"}) != 1:
                assert asyncio.get_running_loop().time() < deadline, "the call was never counted"
                await asyncio.sleep(0.02)
            assert "voxflow_realtime_server_calls_total" in (await http.get(telemetry.exporter.url + "/metrics")).text
    finally:
        await telemetry.close()
        await server.stop()
