"""A run as a long-lived service: metrics, health and systemd notifications wired to a flow engine.

The flow engine and its realtime sessions publish events; this subscribes to
them, beside the app or the headless runner:

* every session a realtime node publishes gets the client metrics
  (:class:`~audio.metrics.client.ClientMetrics`) and the readiness record
  (:class:`~audio.metrics.health.SessionReadiness`);
* under systemd (``NOTIFY_SOCKET``) it sends ``READY=1`` once the flow runs,
  ``STATUS=`` whenever the flow or a session changes state, ``WATCHDOG=1``
  every half ``WATCHDOG_USEC`` and ``STOPPING=1`` at the end;
* a heartbeat task on the event loop keeps ``/livez`` (and the watchdog)
  honest: a loop that stops running stops both.

``--metrics HOST:PORT`` adds the exporter (``/metrics``, ``/healthz``,
``/livez``). Times come from the run's clock, so tests drive it with a fake one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry

from audio.base.clock import Clock, SystemClock
from audio.base.pubsub import EventHub
from audio.base.redaction import redact
from audio.base.sd_notify import SdNotifier
from audio.metrics.address import MetricsAddress
from audio.metrics.client import ClientMetrics
from audio.metrics.exporter import MetricsExporter
from audio.metrics.health import DEFAULT_RECONNECT_BUDGET, Heartbeat, SessionReadiness
from audio.session.events import SessionEvent, StateChanged
from audio.session.live import LiveSession
from flow.events import FlowEvent, FlowFinished, FlowStarted, NodeEvent
from flow.turns import expects_reply

log = logging.getLogger(__name__)

BEAT_SECONDS = 1.0
STATUS_LIMIT = 200
"""systemctl shows one line of STATUS; a reason longer than this is cut."""


@dataclass
class ServiceSettings:
    """What ``voxflow run`` was asked to provide as a service (none of it by default)."""

    metrics: MetricsAddress | None = None
    reconnect_budget: float = DEFAULT_RECONNECT_BUDGET
    notifier: SdNotifier | None = None
    watchdog_seconds: float | None = None
    """Seconds between ``WATCHDOG=1`` pings (half of systemd's ``WATCHDOG_USEC``); None: no watchdog."""

    @property
    def wanted(self) -> bool:
        return self.metrics is not None or self.notifier is not None


class EngineEvents(Protocol):
    """What :class:`RunService` needs of an engine: its event hub (``FlowEngine`` and the app's engines have it)."""

    events: EventHub[FlowEvent]


class RunService:
    """Follows one run's engine(s); :meth:`start` before, :meth:`close` after. See the module docstring."""

    def __init__(self, settings: ServiceSettings, *, clock: Clock | None = None, registry: CollectorRegistry | None = None) -> None:
        self.settings = settings
        self.clock = clock or SystemClock()
        self.metrics = ClientMetrics(registry, self.clock)
        self.readiness = SessionReadiness(self.clock, settings.reconnect_budget)
        self.heartbeat = Heartbeat(self.clock)
        self.exporter = (MetricsExporter(settings.metrics, self.metrics.registry, ready=self.readiness.report,
                                         live=self.heartbeat.report) if settings.metrics is not None else None)
        self.notifier = settings.notifier
        self.watchdog_pings = 0
        self._flow_state = "starting"
        self._sessions: dict[str, str] = {}
        self._ready_sent = False
        self._detach: list[Callable[[], None]] = []
        self._beating: asyncio.Task[None] | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        """Bind the exporter (a busy address is a VoxflowError before the run starts) and say we are starting."""
        if self.exporter is not None:
            self.exporter.start()
        self._status()

    def watch(self, engine: EngineEvents) -> None:
        """Follow ``engine``'s events (the app makes a new engine per flow) and start the heartbeat if a loop runs."""
        self._detach.append(engine.events.add_callback(self._on_flow_event))
        self.ensure_beating()

    def ensure_beating(self) -> None:
        if self._beating is not None and not self._beating.done():
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._beating = loop.create_task(self._beat(), name="voxflow-heartbeat")

    async def stop_beating(self) -> None:
        task, self._beating = self._beating, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def close(self) -> None:
        """Stop serving and tell systemd we are stopping (idempotent)."""
        for detach in self._detach:
            detach()
        self._detach.clear()
        if self._beating is not None and not self._beating.done():
            self._beating.cancel()
        if self.exporter is not None:
            self.exporter.close()
        if self.notifier is not None:
            self.notifier.notify("STOPPING=1", self._status_line())
            self.notifier.close()
            self.notifier = None

    @contextlib.asynccontextmanager
    async def beating(self) -> AsyncIterator[RunService]:
        """The heartbeat for the duration of a block (the headless run)."""
        self.ensure_beating()
        try:
            yield self
        finally:
            await self.stop_beating()

    async def _beat(self) -> None:
        interval = self.settings.watchdog_seconds if self.notifier is not None else None
        tick = min(BEAT_SECONDS, interval) if interval else BEAT_SECONDS
        next_ping = self.clock.monotonic()
        while True:
            self.heartbeat.beat()
            now = self.clock.monotonic()
            if interval is not None and self.notifier is not None and now >= next_ping:
                self.notifier.notify("WATCHDOG=1")
                self.watchdog_pings += 1
                next_ping = now + interval
            await self.clock.sleep(tick)

    # ------------------------------------------------------------------ events
    def _on_flow_event(self, event: FlowEvent) -> None:
        if isinstance(event, FlowStarted):
            self._flow_state = "running"
            self.readiness.flow_running(True)
            if not self._ready_sent and self.notifier is not None:
                self._ready_sent = True
                self.notifier.notify("READY=1", self._status_line())
            else:
                self._status()
        elif isinstance(event, FlowFinished):
            self._flow_state = "stopped" if event.stopped else ("finished" if event.ok else "failed")
            self.readiness.flow_running(False)
            self._status()
        elif isinstance(event, NodeEvent) and isinstance(event.payload, LiveSession):
            self._attach(event.node_id, event.payload)

    def _attach(self, node_id: str, session: LiveSession) -> None:
        self.readiness.new_session(node_id)
        self.readiness.session_state(node_id, session.state, session.reason)
        self._sessions[node_id] = session.state.value
        self._detach.append(self.metrics.attach(node_id, session.events, expect_reply=expects_reply(session)))
        self._detach.append(session.events.add_callback(lambda event: self._on_session_event(node_id, event)))
        self._status()

    def _on_session_event(self, node_id: str, event: SessionEvent) -> None:
        if isinstance(event, StateChanged):
            self.readiness.session_state(node_id, event.state, event.reason)
            self._sessions[node_id] = event.state.value + (f" ({event.reason})" if event.reason else "")
            self._status()

    # ------------------------------------------------------------------ systemd
    def _status_line(self) -> str:
        parts = [f"flow {self._flow_state}"] + [f"session {node}: {state}" for node, state in sorted(self._sessions.items())]
        line = redact("; ".join(parts))
        return "STATUS=" + (line if len(line) <= STATUS_LIMIT else line[: STATUS_LIMIT - 1] + "…")

    def _status(self) -> None:
        if self.notifier is not None:
            self.notifier.notify(self._status_line())
