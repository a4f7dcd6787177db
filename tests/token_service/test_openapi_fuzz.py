"""Fuzz POST /api/realtime/session from its own /openapi.json (schemathesis, in-process).

The limiter is set high and the upstream is an httpx mock, so every answer
comes from the service itself: no 5xx, and every status, header and body must
match the document. Bounded (max_examples) so it stays a few seconds.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from starlette.applications import Starlette

from audio.tokens.app import create_app
from audio.tokens.config import open_store
from audio.tokens.crypto import Keyring
from audio.tokens.service import TokenService

from .conftest import Upstream, make_settings, seed_owner


@pytest.fixture(scope="module")
def fuzz_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Starlette]:
    keyring = Keyring({1: secrets.token_bytes(32)}, 1)
    path: Path = tmp_path_factory.mktemp("fuzz") / "tokens.db"
    upstream = Upstream()
    service = TokenService(open_store(f"sqlite:///{path}"), make_settings(keyring, sessions_per_minute=10**9), upstream_transport=upstream.transport)

    async def start() -> None:
        await service.start()
        await seed_owner(service.store, keyring)

    asyncio.run(start())
    yield create_app(service)
    asyncio.run(service.close())


# Invalid bodies may also be refused as too large (413) or not JSON (415): both documented.
REJECTION_STATUSES = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]


@pytest.fixture
def fuzz_schema(fuzz_app: Starlette):  # type: ignore[no-untyped-def]
    config = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REJECTION_STATUSES}}})
    return schemathesis.openapi.from_asgi("/openapi.json", fuzz_app, config=config)


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
@settings(max_examples=50, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
def test_every_answer_matches_the_document(case) -> None:  # type: ignore[no-untyped-def]
    case.call_and_validate()
