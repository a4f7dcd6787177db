"""``serve-realtime --metrics``: the local Realtime server's calls, requests, errors and recognition time.

Calls and recognition come from the server's own events
(``LocalRealtimeServer.events``, :mod:`audio.server.events`); requests and
error codes from :class:`~audio.metrics.http_requests.RequestMetrics` around
its Starlette app. Install before the server starts (Starlette takes no
middleware once it has served).
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from audio.metrics.http_requests import RequestMetrics
from audio.server.events import CallClosed, CallOpened, ServerEvent, TurnRecognized

RECOGNITION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
PREFIX = "voxflow_realtime_server"


class RealtimeServerMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.http = RequestMetrics(registry, PREFIX, "local Realtime server")
        self.calls = Counter(f"{PREFIX}_calls", "Calls opened, by transport (webrtc, websocket).", ["transport"], registry=registry)
        self.active = Gauge(f"{PREFIX}_active_calls", "Calls open now.", registry=registry)
        self.recognition = Histogram(f"{PREFIX}_recognition_seconds", "Time to recognise one committed user turn.",
                                     buckets=RECOGNITION_BUCKETS, registry=registry)
        self.recognised_audio = Counter(f"{PREFIX}_recognised_audio_seconds", "Seconds of user audio recognised.", registry=registry)
        for transport in ("webrtc", "websocket"):
            self.calls.labels(transport)

    def install(self, server: Any) -> None:
        """Follow ``server`` (a :class:`~audio.server.LocalRealtimeServer` not started yet)."""
        server.events.add_callback(self.observe)
        server.app.add_middleware(_Middleware, metrics=self.http)

    def observe(self, event: ServerEvent) -> None:
        if isinstance(event, CallOpened):
            self.calls.labels(event.transport).inc()
            self.active.inc()
        elif isinstance(event, CallClosed):
            self.active.dec()
        elif isinstance(event, TurnRecognized):
            self.recognition.observe(event.seconds)
            self.recognised_audio.inc(event.audio_seconds)


class _Middleware:
    """Starlette's ``add_middleware`` shape around :meth:`RequestMetrics.middleware`."""

    def __init__(self, app: Any, metrics: RequestMetrics) -> None:
        self._counted = metrics.middleware(app)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._counted(scope, receive, send)
