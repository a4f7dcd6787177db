"""Fixtures for the token service: keyrings, stores (SQLite and a real PostgreSQL), services, clients.

PostgreSQL: ``VOXFLOW_TEST_DATABASE_URL`` if set; otherwise a throwaway cluster
is started once per test session in a temp dir (``initdb``/``pg_ctl`` from
``/usr/lib/postgresql/*/bin``, run as the ``postgres`` user when we are root,
listening on 127.0.0.1 at a free port with ``fsync=off``). Each test gets a
fresh database. Without the binaries those tests skip, saying what to install.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import uuid
from contextlib import asynccontextmanager
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from audio.base.clock import FakeClock
from audio.tokens import admin
from audio.tokens.app import create_app
from audio.tokens.config import ServiceSettings, open_store
from audio.tokens.crypto import Keyring
from audio.tokens.service import TokenService
from audio.tokens.store import Store

from .pg_cluster import INSTALL_HINT, postgres_bin, throwaway_cluster

OWNER_KEY = "sk-owner" + "A1b2C3d4E5f6G7h8"
USER_KEY = "sk-user" + "Z9y8X7w6V5u4T3s2"
PEPPER = secrets.token_hex(32).encode()
CLIENT = ("203.0.113.7", 1234)
SESSION = "/api/realtime/session"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A ``postgresql://`` URL of a server we may create databases on."""
    external = os.environ.get("VOXFLOW_TEST_DATABASE_URL")
    if external:
        yield external
        return
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip(f"PostgreSQL binaries not found under /usr/lib/postgresql/*/bin: {INSTALL_HINT}")
    try:
        cluster = throwaway_cluster(bin_dir)
        url = cluster.__enter__()
    except subprocess.CalledProcessError as error:
        pytest.fail(f"could not start a throwaway PostgreSQL: {error.stderr.decode(errors='replace')}")
    try:
        yield url
    finally:
        cluster.__exit__(None, None, None)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty database per test (or, if we may not create databases, emptied tables)."""
    name = f"voxflow_{uuid.uuid4().hex[:12]}"
    try:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.Error:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute("DROP TABLE IF EXISTS executions, rate_limits, share_tokens, owner_keys, owners, schema_version CASCADE")
        yield postgres_server
        return
    base = postgres_server.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/tokens.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/tokens.db"


@pytest.fixture
def keyring() -> Keyring:
    return Keyring({1: secrets.token_bytes(32)}, 1)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_settings(keyring: Keyring, **overrides: Any) -> ServiceSettings:
    settings = ServiceSettings(keyring=keyring, pepper=PEPPER, openai_base_url="http://upstream.test")
    for name, value in overrides.items():
        setattr(settings, name, value)
    return settings


class Upstream:
    """An httpx MockTransport playing OpenAI's client_secrets endpoint; records what it got."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.mode = "ok"  # ok | refuse | timeout | garbage
        self.counter = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.mode == "timeout":
            raise httpx.ReadTimeout("upstream too slow", request=request)
        if self.mode == "refuse":
            key = request.headers["authorization"].removeprefix("Bearer ")
            return httpx.Response(401, json={"error": {"type": "invalid_request_error", "code": "invalid_api_key",
                                                      "message": f"Incorrect API key provided: {key}."}})
        if self.mode == "garbage":
            return httpx.Response(200, text="<html>proxy error</html>")
        self.counter += 1
        return httpx.Response(200, json={"value": f"ek_minted{self.counter:04d}SECRETvalue", "expires_at": 1_767_226_200, "session": {}})

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)


@pytest.fixture
def upstream() -> Upstream:
    return Upstream()


Factory = Callable[..., Any]


@pytest.fixture
async def make_service(keyring: Keyring, clock: FakeClock, upstream: Upstream) -> AsyncIterator[Factory]:
    """``await make_service(url, **settings_overrides)`` -> a started TokenService (closed at teardown)."""
    services: list[TokenService] = []

    async def make(url: str, *, transport: httpx.AsyncBaseTransport | None = None, **overrides: Any) -> TokenService:
        service = TokenService(open_store(url), make_settings(keyring, **overrides), clock=clock,
                               upstream_transport=transport or upstream.transport)
        await service.start()
        services.append(service)
        return service

    yield make
    for service in services:
        await service.close()


def client_for(service: TokenService, client: tuple[str, int] = CLIENT) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(service), client=client), base_url="http://tokens.test")


async def seed_owner(store: Store, keyring: Keyring, *, with_key: bool = True, name: str = "alice") -> str:
    """Creates owner ``name`` (with key) and returns a fresh share token."""
    await admin.add_owner(store, name)
    if with_key:
        await admin.set_owner_key(store, keyring, name, OWNER_KEY)
    _, token = await admin.create_share_token(store, PEPPER, name, label="test")
    return token


class _QuietUvicorn:
    """Builds a uvicorn server that leaves signal handlers alone (the test runner owns them)."""

    @staticmethod
    def make(app: Any, log_level: str) -> Any:
        import contextlib

        import uvicorn

        class Server(uvicorn.Server):
            @contextlib.contextmanager
            def capture_signals(self) -> Iterator[None]:
                yield

        from tui.commands.tokens import server_config

        # serve-tokens' own wiring (the redaction filter included); logs left to caplog
        config = server_config(app, log_config=None, log_level=log_level, access_log=True, lifespan="off")
        return Server(config)


@asynccontextmanager
async def serving(app: Any, log_level: str = "debug") -> AsyncIterator[str]:
    """Serve ``app`` with a real uvicorn on 127.0.0.1 (free port) inside this loop; yields the base URL."""
    import asyncio

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = _QuietUvicorn.make(app, log_level)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(2000):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        assert server.started, "uvicorn did not start"
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)
        sock.close()
