"""The token service's metrics: requests by route and status, errors by status, sessions by outcome, rate-limit refusals."""

from __future__ import annotations

import httpx
from prometheus_client import CollectorRegistry

from audio.metrics.token_service import TokenServiceMetrics
from audio.tokens.app import create_app
from audio.tokens.crypto import Keyring

from .conftest import CLIENT, SESSION, USER_KEY, Factory, seed_owner


async def test_requests_outcomes_and_rate_limit_refusals_are_counted(sqlite_url: str, make_service: Factory, keyring: Keyring) -> None:
    service = await make_service(sqlite_url, sessions_per_minute=2)
    token = await seed_owner(service.store, keyring)
    registry = CollectorRegistry()
    app = TokenServiceMetrics(registry).install(service, create_app(service))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=CLIENT), base_url="http://tokens.test") as http:
        statuses = [(await http.post(SESSION, json={"shareToken": token, "runId": f"r{n}"})).status_code for n in range(3)]
        statuses.append((await http.post(SESSION, json={"apiKeys": {"openai": USER_KEY}})).status_code)  # same address
        statuses.append((await http.post(SESSION, content=b"{", headers={"content-type": "application/json"})).status_code)
        statuses.append((await http.get("/nope")).status_code)
    assert statuses == [200, 200, 429, 429, 400, 404]

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, labels)

    assert sample("voxflow_token_service_sessions_total", mode="shared", outcome="ok") == 2
    assert sample("voxflow_token_service_sessions_total", mode="shared", outcome="rate_limited_ip") == 1
    assert sample("voxflow_token_service_sessions_total", mode="user", outcome="rate_limited_ip") == 1
    assert sample("voxflow_token_service_rate_limited_total", scope="ip") == 2
    assert sample("voxflow_token_service_errors_total", code="400") == 1
    assert sample("voxflow_token_service_http_requests_total", route=SESSION, method="POST", status="429") == 2
    assert sample("voxflow_token_service_http_requests_total", route="other", method="GET", status="404") == 1
    assert sample("voxflow_token_service_errors_total", code="429") == 2
    exposition = "\n".join(f"{m.name} {s.labels}" for m in registry.collect() for s in m.samples)
    assert token not in exposition and USER_KEY not in exposition
