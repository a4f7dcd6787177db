"""``/metrics``, ``/healthz`` and ``/livez`` on one address, served from a thread of their own.

Why a thread: a scrape renders every series; on the event loop that work
would sit between two audio frames. The thread only reads (prometheus_client's
metrics take their own locks; the health objects copy their state under
theirs), so the loop never waits for a scraper, and a stuck loop still
answers ``/livez`` -- with 503, which is the point of asking.

Answers: ``/metrics`` in Prometheus' text format (0.0.4, which every
Prometheus reads); ``/healthz`` and ``/livez`` as JSON
``{"status", "state", "reason"}`` with 200 or 503. Anything else is 404.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, disable_created_metrics
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from audio.base.errors import VoxflowError
from audio.metrics.address import MetricsAddress
from audio.metrics.health import HealthReport

log = logging.getLogger(__name__)

disable_created_metrics()  # no ``*_created`` twin per counter: half the bytes of every scrape, and nothing reads them

HealthSource = Callable[[], HealthReport]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: MetricsAddress, exporter: MetricsExporter) -> None:
        import socket

        self.address_family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
        self.exporter = exporter
        super().__init__((address.host, address.port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        exporter = self.server.exporter
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._send(200, CONTENT_TYPE_PLAIN_0_0_4, generate_latest(exporter.registry))
        elif path in ("/healthz", "/livez"):
            report = (exporter.ready if path == "/healthz" else exporter.live)()
            body = json.dumps(report.as_json()).encode()
            self._send(200 if report.ok else 503, "application/json", body)
        else:
            self._send(404, "application/json", b'{"error": "not found: try /metrics, /healthz or /livez"}')

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        """Scrapes every second would flood the log: nothing is logged per request."""


class MetricsExporter:
    """Serves ``registry`` and two health sources on ``address`` until :meth:`close`."""

    def __init__(self, address: MetricsAddress, registry: CollectorRegistry, *, ready: HealthSource, live: HealthSource) -> None:
        self.address = address
        self.registry = registry
        self.ready = ready
        self.live = live
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the metrics exporter is not started")
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        host = f"[{self.address.host}]" if ":" in self.address.host else self.address.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Bind and serve; a bad or busy address is a :class:`VoxflowError` (one line, what to change)."""
        if self._server is not None:
            return
        try:
            self._server = _Server(self.address, self)
        except OSError as error:
            raise VoxflowError(f"--metrics cannot listen on {self.address} ({error.strerror or error}).",
                               hint="Pick another port (0 for any free one) or an address this machine has.") from None
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2},
                                        name="voxflow-metrics", daemon=True)
        self._thread.start()
        log.info("metrics and health on %s (/metrics, /healthz, /livez)", self.url)

    def close(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> MetricsExporter:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
