"""A server's own telemetry endpoint: ``serve-realtime --metrics`` and ``serve-tokens --metrics``.

The exporter on its address, ready while the server serves, live while a
heartbeat task keeps beating on the server's event loop. ``async with`` it
around the serving.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from prometheus_client import CollectorRegistry

from audio.base.clock import Clock, SystemClock
from audio.metrics.address import MetricsAddress
from audio.metrics.exporter import MetricsExporter
from audio.metrics.health import Heartbeat, serving

BEAT_SECONDS = 1.0


class ServerTelemetry:
    def __init__(self, address: MetricsAddress, registry: CollectorRegistry, *, started: Callable[[], bool], what: str,
                 clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()
        self.heartbeat = Heartbeat(self.clock)
        self.exporter = MetricsExporter(address, registry, ready=serving(started, what), live=self.heartbeat.report)
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Bind (a VoxflowError for a bad address) and beat."""
        self.exporter.start()
        self._task = asyncio.get_running_loop().create_task(self._beat(), name="voxflow-metrics-heartbeat")

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.exporter.close()

    async def _beat(self) -> None:
        while True:
            self.heartbeat.beat()
            await self.clock.sleep(BEAT_SECONDS)
