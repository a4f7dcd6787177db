"""Service telemetry: Prometheus metrics, health and liveness for runs and servers that stay up for weeks.

What it owns:

* :mod:`.client` -- the client's metrics, kept as a *subscriber* of each realtime
  session's published events (``audio/session/events.py``), beside the app and
  the headless runner; it never drives or polls a session;
* :mod:`.reasons` -- free-text reasons (a drop, a renewal) folded into a few
  label values, so no label can grow without bound;
* :mod:`.health` -- readiness (``/healthz``: the flow runs, each session is
  connected or reconnecting within its budget) and liveness (``/livez``: the
  event loop still beats);
* :mod:`.exporter` -- ``/metrics``, ``/healthz`` and ``/livez`` on one
  ``HOST:PORT`` (:mod:`.address`), served from a thread so a scrape never waits
  on the audio event loop;
* :mod:`.http_requests` -- an ASGI middleware counting a server's requests and
  errors by code; :mod:`.realtime_server` and :mod:`.token_service` -- the two
  servers' own series.

What it may import: ``audio.base``, ``audio.session`` (events, transcript
order) and, for the server metrics, the servers' public event types
(``audio.server.events``, ``audio.tokens.service``); never ``flow``, ``tui`` or
textual. Wiring a run's engine to these (which sessions exist, when the flow
runs) is ``flow/service.py``'s job.
"""

from __future__ import annotations

from audio.metrics.address import MetricsAddress, parse_address
from audio.metrics.client import ClientMetrics
from audio.metrics.exporter import MetricsExporter
from audio.metrics.health import Heartbeat, HealthReport, SessionReadiness, serving

__all__ = [
    "ClientMetrics",
    "HealthReport",
    "Heartbeat",
    "MetricsAddress",
    "MetricsExporter",
    "SessionReadiness",
    "parse_address",
    "serving",
]
