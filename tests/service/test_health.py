"""/healthz and /livez: readiness from the flow and session states within the reconnect budget, liveness from
the event loop's heartbeat; served over real HTTP by the exporter."""

from __future__ import annotations

import asyncio
import io
import time

import httpx
import pytest
from prometheus_client import CollectorRegistry

from audio.base.clock import FakeClock
from audio.base.errors import VoxflowError
from audio.metrics.address import MetricsAddress
from audio.metrics.exporter import MetricsExporter
from audio.metrics.health import Heartbeat, SessionReadiness
from audio.session.events import SessionState
from audio.server import LocalRealtimeServer, ServerConfig
from flow.headless import HeadlessOptions, HeadlessRun
from flow.loader import load_flow_text
from flow.options import RunOptions
from flow.service import RunService, ServiceSettings
from tests.realtime_session.test_renewal import stop_for_good

DEADLINE = 40.0


def test_readiness_follows_the_flow_and_the_reconnect_budget() -> None:
    clock = FakeClock()
    ready = SessionReadiness(clock, reconnect_budget=30.0)
    assert (ready.report().ok, ready.report().state) == (False, "starting")
    ready.flow_running(True)
    ready.session_state("talk", SessionState.CONNECTING)
    assert not ready.report().ok and "has not connected yet" in ready.report().reason
    ready.session_state("talk", SessionState.CONNECTED)
    assert ready.report().ok and ready.report().state == "connected"
    clock._now = 100.0
    ready.session_state("talk", SessionState.RECONNECTING, "attempt 1: could not reach the service")
    clock._now = 129.0
    report = ready.report()
    assert report.ok and report.state == "reconnecting" and "29 s, within its 30 s budget" in report.reason
    ready.session_state("talk", SessionState.RECONNECTING, "attempt 2: could not reach the service")  # the budget runs on
    clock._now = 131.0
    report = ready.report()
    assert not report.ok and "31 s, past its 30 s budget: attempt 2" in report.reason
    ready.session_state("talk", SessionState.CONNECTED)
    assert ready.report().ok
    ready.session_state("talk", SessionState.ERROR, "gave up reconnecting")
    assert not ready.report().ok and ready.report().reason == "session talk ended: gave up reconnecting"
    ready.flow_running(False)
    assert ready.report().state == "finished"


def test_liveness_goes_stale_without_beats() -> None:
    clock = FakeClock()
    heart = Heartbeat(clock, stale_after=10.0)
    clock._now = 9.0
    assert heart.report().ok
    clock._now = 11.0
    assert not heart.report().ok and heart.report().state == "stuck"
    heart.beat()
    assert heart.report().ok


def test_exporter_serves_metrics_health_and_404() -> None:
    clock = FakeClock()
    ready = SessionReadiness(clock)
    heart = Heartbeat(clock)
    with MetricsExporter(MetricsAddress("127.0.0.1", 0), CollectorRegistry(), ready=ready.report, live=heart.report) as exporter:
        with httpx.Client(base_url=exporter.url) as http:
            health = http.get("/healthz")
            assert health.status_code == 503 and health.json() == {"status": "unhealthy", "state": "starting",
                                                                    "reason": "the flow has not started yet"}
            ready.flow_running(True)
            assert http.get("/healthz").json()["status"] == "ok"
            assert http.get("/livez").status_code == 200
            clock._now = 60.0
            assert http.get("/livez").status_code == 503
            assert http.get("/metrics").headers["content-type"].startswith("text/plain; version=0.0.4")
            assert http.get("/nope").status_code == 404
        with pytest.raises(VoxflowError, match="cannot listen"):
            MetricsExporter(MetricsAddress("127.0.0.1", exporter.port), CollectorRegistry(), ready=ready.report,
                            live=heart.report).start()


FLOW = """
version: 1
name: Kiosk
nodes:
  - id: mic
    type: audio-input
    source: silence
  - id: talk
    type: realtime-conversation
    provider: openai
    vad: server_vad
    renew: true
  - id: notes
    type: preview-output
edges:
  - from: mic.audio
    to: talk.audio-in
  - from: talk.transcript
    to: notes.text
"""


async def _wait_health(http: httpx.AsyncClient, want_ok: bool, state: str) -> dict:
    deadline = time.monotonic() + DEADLINE
    seen = None
    while time.monotonic() < deadline:
        answer = await http.get("/healthz")
        seen = answer.json()
        if (answer.status_code == 200) == want_ok and seen["state"] == state:
            return seen
        await asyncio.sleep(0.1)
    raise AssertionError(f"/healthz never became {'ok' if want_ok else 'unhealthy'} {state}; last: {seen}")


@pytest.mark.slow
@pytest.mark.timeout(120)
async def test_healthz_fails_past_the_budget_while_the_server_is_gone_and_recovers() -> None:
    server = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Okay."]))
    await server.start()
    port = int(server.base_url.rsplit(":", 1)[1])
    servers = [server]
    service = RunService(ServiceSettings(metrics=MetricsAddress("127.0.0.1", 0), reconnect_budget=1.0))
    service.start()
    try:
        flow = load_flow_text(FLOW, "kiosk.yaml")
        options = RunOptions(provider="openai", api_key="sk-test", base_url=server.base_url)
        runner = HeadlessRun(flow, options, HeadlessOptions(max_duration=100), out=io.StringIO(), err=io.StringIO())
        service.watch(runner.engine)
        async with service.beating():
            run = asyncio.ensure_future(runner.run())
            assert service.exporter is not None
            async with httpx.AsyncClient(base_url=service.exporter.url) as http:
                await _wait_health(http, True, "connected")
                await stop_for_good(server)
                gone = await _wait_health(http, False, "reconnecting")
                assert "past its 1 s budget" in gone["reason"], gone
                assert (await http.get("/livez")).status_code == 200  # alive, just not ready
                again = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Okay."], port=port))
                await again.start()
                servers.append(again)
                back = await _wait_health(http, True, "connected")
                assert back["reason"] == "session talk is connected"
            await runner.engine.stop()
            await asyncio.wait_for(run, 30)
    finally:
        service.close()
        for each in servers:
            await each.stop()
