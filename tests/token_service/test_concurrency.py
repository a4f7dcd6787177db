"""The key test: 50 concurrent requests on one share token -> exactly 10 succeed, 40 get 429.

Each request comes from its own address, so only the share-token limit can
stop them. Run against SQLite, against PostgreSQL, and against two service
instances (two apps, two pools) sharing one PostgreSQL database (and one
SQLite file): the limit lives in the store, not in a process.
"""

from __future__ import annotations

import asyncio
from collections import Counter

import httpx
import pytest

from audio.tokens.crypto import Keyring
from audio.tokens.service import TokenService

from .conftest import SESSION, Factory, Upstream, client_for, seed_owner


async def _burst(services: list[TokenService], token: str, count: int = 50) -> Counter[int]:
    clients = [client_for(services[n % len(services)], client=(f"198.51.{n // 200}.{n % 200 + 1}", 4000 + n)) for n in range(count)]

    async def one(client: httpx.AsyncClient, n: int) -> int:
        async with client:
            answer = await client.post(SESSION, json={"shareToken": token, "runId": f"burst-{n}"})
            if answer.status_code == 429:
                assert int(answer.headers["Retry-After"]) >= 1
            return answer.status_code

    statuses = await asyncio.wait_for(asyncio.gather(*(one(c, n) for n, c in enumerate(clients))), 60)
    return Counter(statuses)


@pytest.mark.parametrize("instances", [1, 2])
async def test_fifty_concurrent_exactly_ten_succeed(store_url: str, make_service: Factory, keyring: Keyring, upstream: Upstream, instances: int) -> None:
    services = [await make_service(store_url) for _ in range(instances)]
    token = await seed_owner(services[0].store, keyring)
    statuses = await _burst(services, token)
    assert statuses == Counter({200: 10, 429: 40})
    assert len(upstream.requests) == 10
    outcomes = Counter(row.outcome for row in await services[-1].store.list_executions(limit=1000))
    assert outcomes == Counter({"ok": 10, "rate_limited_token": 40})


async def test_fifty_concurrent_from_one_address_many_tokens(store_url: str, make_service: Factory, keyring: Keyring) -> None:
    from audio.tokens import admin

    from .conftest import PEPPER

    service = await make_service(store_url)
    await seed_owner(service.store, keyring)
    tokens = [(await admin.create_share_token(service.store, PEPPER, "alice"))[1] for _ in range(50)]
    async with client_for(service) as client:
        answers = await asyncio.wait_for(asyncio.gather(*(client.post(SESSION, json={"shareToken": t}) for t in tokens)), 60)
    assert Counter(a.status_code for a in answers) == Counter({200: 10, 429: 40})
    assert Counter(row.outcome for row in await service.store.list_executions(limit=1000)) == Counter({"ok": 10, "rate_limited_ip": 40})
