"""``serve-tokens --metrics``: the token service's requests, errors, sessions minted and rate-limit refusals.

Outcomes come from the service's own events (``TokenService.outcomes``: the
same words as the execution log); requests and error statuses from
:class:`~audio.metrics.http_requests.RequestMetrics` around its app.
"""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter

from audio.metrics.http_requests import RequestMetrics
from audio.tokens.service import SessionOutcome

PREFIX = "voxflow_token_service"
RATE_LIMITED = {"rate_limited_ip": "ip", "rate_limited_token": "share_token"}


class TokenServiceMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.http = RequestMetrics(registry, PREFIX, "token service")
        self.sessions = Counter(f"{PREFIX}_sessions", "Session requests by mode (user, shared) and outcome (ok, refusals, failures).",
                                ["mode", "outcome"], registry=registry)
        self.rate_limited = Counter(f"{PREFIX}_rate_limited", "Requests refused by the rate limit, by scope (ip, share_token).",
                                    ["scope"], registry=registry)
        for scope in RATE_LIMITED.values():
            self.rate_limited.labels(scope)

    def install(self, service: Any, app: Any) -> Any:
        """Follow ``service``; returns ``app`` wrapped to count its requests."""
        service.outcomes.add_callback(self.observe)
        return self.http.middleware(app)

    def observe(self, event: SessionOutcome) -> None:
        self.sessions.labels(event.mode, event.outcome).inc()
        scope = RATE_LIMITED.get(event.outcome)
        if scope is not None:
            self.rate_limited.labels(scope).inc()
