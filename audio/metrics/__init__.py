"""Service telemetry: Prometheus metrics, health and liveness for runs and servers that stay up for weeks.

The client's metrics as one more *subscriber* of a session's events (beside the app and the headless
runner; it never drives or polls a session), reasons folded into a few label values, readiness
(``/healthz``) and liveness (``/livez``), the exporter serving both and ``/metrics`` from a thread so a
scrape never waits on the audio loop, and the servers' own series. Wiring a run to these is
``flow/service.py``'s job.

May import: ``audio.base``, ``audio.server``, ``audio.session``, ``audio.tokens``.
Public names: ``__all__`` below; other packages import these names only.
"""

from __future__ import annotations

from audio.base.exports import lazy_exports

_HOMES = {
    "ClientMetrics": "client",
    "DEFAULT_RECONNECT_BUDGET": "health",
    "HealthReport": "health",
    "Heartbeat": "health",
    "MetricsAddress": "address",
    "MetricsExporter": "exporter",
    "parse_address": "address",
    "RealtimeServerMetrics": "realtime_server",
    "ServerTelemetry": "serving",
    "SessionReadiness": "health",
    "TokenServiceMetrics": "token_service",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
