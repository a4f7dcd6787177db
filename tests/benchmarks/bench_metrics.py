"""Benchmark: what ``--metrics`` costs when Prometheus scrapes ``/metrics`` every second during a session.

    python tests/benchmarks/bench_metrics.py [--seconds 20]

A headless run talks to the local Realtime server (in this process, real
aiortc WebRTC on loopback) about the four ALSA recordings of
``tests/headless/test_always_on.py``, with the client metrics attached and the
exporter on loopback. An external scraper (``curl`` in a shell loop, as
Prometheus would be: another process) asks for ``/metrics`` every second.
The exporter's request handler is wrapped to add up the CPU time of the thread
that serves each request (``time.thread_time``), so the figure is the scrape's
own cost, not the session's. Also: the CPU the metrics' event subscriber
costs, from the session's event count and a replay of the same events.

Target: scraping every second costs < 0.5 % of a core during a session.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from prometheus_client import CollectorRegistry  # noqa: E402

from audio.metrics import exporter as exporter_module  # noqa: E402
from audio.metrics.address import MetricsAddress  # noqa: E402
from audio.metrics.client import ClientMetrics  # noqa: E402
from audio.server import LocalRealtimeServer, ServerConfig  # noqa: E402
from flow.events import NodeEvent  # noqa: E402
from flow.headless import HeadlessOptions, HeadlessRun  # noqa: E402
from flow.loader import load_flow_text  # noqa: E402
from flow.options import RunOptions  # noqa: E402
from flow.service import RunService, ServiceSettings  # noqa: E402
from tests.headless.test_always_on import write_input  # noqa: E402

FLOW = """
version: 1
name: Bench
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


class HandlerCpu:
    """Adds up the serving thread's CPU time of every request."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.requests = 0
        self.bytes = 0
        original = exporter_module._Handler.handle
        meter = self

        def handle(handler: exporter_module._Handler) -> None:
            started = time.thread_time()
            try:
                original(handler)
            finally:
                meter.seconds += time.thread_time() - started
                meter.requests += 1

        exporter_module._Handler.handle = handle  # type: ignore[method-assign]


async def main(seconds: float) -> None:
    print(f"load average at start: {os.getloadavg()}")
    meter = HandlerCpu()
    server = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Okay."]))
    await server.start()
    service = RunService(ServiceSettings(metrics=MetricsAddress("127.0.0.1", 0)))
    service.start()
    assert service.exporter is not None
    events: list[object] = []
    scraper = subprocess.Popen(["bash", "-c", f"while true; do curl -s -o /dev/null {service.exporter.url}/metrics; sleep 1; done"])
    try:
        with tempfile.TemporaryDirectory() as tmp:
            flow = load_flow_text(FLOW, "bench.yaml")
            options = RunOptions(input_file=write_input(Path(tmp) / "in.wav"), provider="openai", api_key="sk-test",
                                 base_url=server.base_url)
            runner = HeadlessRun(flow, options, HeadlessOptions(max_duration=seconds + 60), out=io.StringIO(), err=io.StringIO())

            def follow(event: object) -> None:
                if isinstance(event, NodeEvent) and hasattr(event.payload, "events"):
                    event.payload.events.add_callback(events.append)

            runner.engine.events.add_callback(follow)
            service.watch(runner.engine)
            wall = time.monotonic()
            cpu = time.process_time()
            async with service.beating():
                code = await runner.run()
            wall = time.monotonic() - wall
            cpu = time.process_time() - cpu
        size = len(exporter_module.generate_latest(service.metrics.registry))
    finally:
        scraper.terminate()
        scraper.wait()
        service.close()
        await server.stop()
    print(f"run exit {code}; session {wall:.1f} s wall, process CPU {cpu:.2f} s ({cpu / wall * 100:.1f} % of a core)")
    print(f"scrapes: {meter.requests}, {size} bytes each; serving thread CPU {meter.seconds * 1000:.1f} ms in all, "
          f"{meter.seconds / max(1, meter.requests) * 1000:.3f} ms per scrape")
    print(f"=> scraping every second costs {meter.seconds / wall * 100:.3f} % of a core (target < 0.5 %)")

    replay = ClientMetrics(CollectorRegistry())
    from audio.base.pubsub import EventHub

    hub: EventHub[object] = EventHub()
    replay.attach("talk", hub)  # type: ignore[arg-type]
    started = time.process_time()
    for _ in range(20):
        for event in events:
            hub.publish(event)
    subscriber = (time.process_time() - started) / 20
    print(f"metrics subscriber: {len(events)} session events, {subscriber * 1000:.2f} ms CPU for the session's events "
          f"({subscriber / wall * 100:.3f} % of a core)")
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    asyncio.run(main(parser.parse_args().seconds))
