"""A real Prometheus scrapes a headless run against the local server every second; what it stored matches the run.

Prometheus (Debian's ``prometheus``) runs on loopback with its storage in a
temp dir. The run talks to the local Realtime server about four recorded
utterances; afterwards the test asks Prometheus' HTTP API for the turn counts
and the turn-latency histogram as of a scrape after the run ended, and checks
them against the run's transcript and the latencies the session published.
``promtool check metrics`` lints the exposition.
"""

from __future__ import annotations

import asyncio
import io
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from audio.metrics.address import MetricsAddress
from audio.metrics.client import TURN_LATENCY_BUCKETS
from audio.session.events import TurnLatency
from audio.server import LocalRealtimeServer, ServerConfig
from flow.events import NodeEvent
from flow.headless import EXIT_OK, HeadlessOptions, HeadlessRun
from flow.loader import load_flow_text
from flow.options import RunOptions
from flow.service import RunService, ServiceSettings
from tests.headless.test_always_on import write_input

PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
DEADLINE = 30.0

FLOW = """
version: 1
name: Scraped
nodes:
  - id: talk
    type: realtime-conversation
    provider: openai
    vad: server_vad
  - id: notes
    type: preview-output
edges:
  - from: talk.transcript
    to: notes.text
"""

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path(PROMETHEUS).exists(), reason="prometheus is not installed: apt-get install prometheus"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Prometheus:
    def __init__(self, tmp: Path, target: str) -> None:
        self.port = free_port()
        config = tmp / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                          f"scrape_configs:\n  - job_name: voxflow\n    static_configs:\n      - targets: ['{target}']\n")
        self.process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=open(tmp / "prometheus.log", "wb"))
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.process.returncode}")
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("prometheus did not become ready")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def exporter_port() -> int:
    return free_port()


@pytest.fixture
def prometheus(tmp_path: Path, exporter_port: int) -> Iterator[Prometheus]:
    server = Prometheus(tmp_path, f"127.0.0.1:{exporter_port}")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


async def query(http: httpx.AsyncClient, expr: str) -> list[dict]:
    answer = await http.get("/api/v1/query", params={"query": expr})
    answer.raise_for_status()
    return answer.json()["data"]["result"]


async def scraped_after(http: httpx.AsyncClient, moment: float) -> float:
    """Wait until Prometheus holds a scrape taken after ``moment`` (epoch s); its timestamp."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        result = await query(http, 'timestamp(voxflow_turns_total{role="user"})')
        if result and float(result[0]["value"][1]) > moment:
            return float(result[0]["value"][1])
        await asyncio.sleep(0.2)
    raise AssertionError("prometheus took no scrape after the run ended")


@pytest.mark.timeout(150)
async def test_prometheus_scrapes_turns_and_latency_that_match_the_transcript(
        tmp_path: Path, prometheus: Prometheus, exporter_port: int) -> None:
    server = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Okay."]))
    await server.start()
    service = RunService(ServiceSettings(metrics=MetricsAddress("127.0.0.1", exporter_port)))
    service.start()
    latencies: list[float] = []
    try:
        flow = load_flow_text(FLOW, "scraped.yaml")
        options = RunOptions(input_file=write_input(tmp_path / "in.wav"), provider="openai", api_key="sk-test",
                             base_url=server.base_url)
        runner = HeadlessRun(flow, options, HeadlessOptions(max_duration=90), out=io.StringIO(), err=io.StringIO())

        def follow(event: object) -> None:
            if isinstance(event, NodeEvent) and hasattr(event.payload, "events"):
                event.payload.events.add_callback(lambda e: latencies.append(e.seconds) if isinstance(e, TurnLatency) else None)

        runner.engine.events.add_callback(follow)
        service.watch(runner.engine)
        async with service.beating():
            code = await runner.run()
        ended = time.time()
        assert code == EXIT_OK, runner.err.getvalue()  # type: ignore[attr-defined]

        entries = runner.transcript_entries()
        users = [e for e in entries if e.role == "user" and e.final]
        replies = [e for e in entries if e.role == "assistant" and e.final]
        assert len(users) == 4 and len(replies) == 4, entries
        assert len(latencies) == len(replies)

        async with httpx.AsyncClient(base_url=prometheus.url) as http:
            at = await scraped_after(http, ended)

            async def value(expr: str) -> float:
                result = await query(http, f"{expr} @ {at}")
                assert len(result) == 1, (expr, result)
                return float(result[0]["value"][1])

            assert await value('voxflow_turns_total{role="user"}') == len(users)
            assert await value('voxflow_turns_total{role="assistant"}') == len(replies)
            assert await value("voxflow_lost_turns_total") == 0
            assert await value("voxflow_turn_latency_seconds_count") == len(latencies)
            assert await value("voxflow_turn_latency_seconds_sum") == pytest.approx(sum(latencies), abs=1e-6)
            for bound in TURN_LATENCY_BUCKETS:
                stored = await value(f'voxflow_turn_latency_seconds_bucket{{le="{bound}"}}')
                assert stored == sum(1 for seconds in latencies if seconds <= bound), bound
            assert await value('up{job="voxflow"}') == 1

        assert service.exporter is not None
        exposition = httpx.get(f"{service.exporter.url}/metrics").text
        lint = subprocess.run([PROMTOOL, "check", "metrics"], input=exposition, capture_output=True, text=True)
        assert lint.returncode == 0 and not lint.stdout.strip() and not lint.stderr.strip(), lint.stdout + lint.stderr
    finally:
        service.close()
        await server.stop()
