"""``serve-realtime --metrics``: calls by transport, requests and errors by code, recognition time, from a real run."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry

from audio.metrics.realtime_server import RealtimeServerMetrics
from audio.server import LocalRealtimeServer, ServerConfig
from flow.headless import EXIT_OK, HeadlessOptions, HeadlessRun
from flow.loader import load_flow_text
from flow.options import RunOptions

ROOT = Path(__file__).resolve().parents[2]
FLOW = """
version: 1
name: One turn
nodes:
  - id: talk
    type: realtime-conversation
    provider: openai
    vad: server_vad
    transport: {transport}
"""


@pytest.mark.slow
@pytest.mark.timeout(90)
async def test_calls_requests_errors_and_recognition_of_real_runs() -> None:
    server = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Okay."]))
    registry = CollectorRegistry()
    RealtimeServerMetrics(registry).install(server)
    await server.start()

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    try:
        for transport in ("webrtc", "websocket"):
            options = RunOptions(input_file=ROOT / "tests/data/speech_how_are_you.wav", provider="openai", api_key="sk-test",
                                 base_url=server.base_url)
            runner = HeadlessRun(load_flow_text(FLOW.format(transport=transport), "one.yaml"), options,
                                 HeadlessOptions(max_duration=60), out=io.StringIO(), err=io.StringIO())
            assert await runner.run() == EXIT_OK
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            bad = await http.post("/v1/realtime/calls", content=b"x", headers={"content-type": "application/sdp"})
            gone = await http.post("/v1/realtime/calls/rtc_nope/hangup")
        assert (bad.status_code, gone.status_code) == (400, 404)
    finally:
        await server.stop()
    assert sample("voxflow_realtime_server_calls_total", transport="webrtc") == 1
    assert sample("voxflow_realtime_server_calls_total", transport="websocket") == 1
    assert sample("voxflow_realtime_server_active_calls") == 0
    assert sample("voxflow_realtime_server_http_requests_total", route="/v1/realtime/calls", method="POST", status="201") == 1
    # a standard key connects in one request (issue #21): no client secret is minted on either transport
    assert sample("voxflow_realtime_server_http_requests_total", route="/v1/realtime/client_secrets", method="POST", status="200") is None
    assert sample("voxflow_realtime_server_errors_total", code="invalid_offer") == 1
    assert sample("voxflow_realtime_server_errors_total", code="call_not_found") == 1
    recognised = sample("voxflow_realtime_server_recognition_seconds_count")
    assert recognised is not None and recognised >= 2
    assert (sample("voxflow_realtime_server_recognised_audio_seconds_total") or 0) > 1.0
