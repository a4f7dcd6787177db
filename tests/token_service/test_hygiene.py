"""Secrets never reach a log line, an error body, an exception message or the access log.

A real uvicorn serves the token service (access log on, everything at DEBUG,
propagated into caplog) with the local Realtime server as its upstream; the
test walks every path, then searches all captured output for the API keys,
share tokens, minted ek_ secrets and Authorization header values.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from click.testing import CliRunner

from audio.server import LocalRealtimeServer, ServerConfig
from audio.tokens import admin
from audio.tokens.app import create_app
from audio.tokens.crypto import Keyring
from audio.tokens.postgres_store import redacted

from .test_cli import VoxflowEntryPoint
from .conftest import OWNER_KEY, PEPPER, SESSION, USER_KEY, Factory, seed_owner, serving


@pytest.fixture(autouse=True)
def no_filter_installed_yet() -> Iterator[None]:
    """Start without the redaction filter, so only serve-tokens' wiring (``server_config``) can add it."""
    from audio.tokens.log_redaction import SERVER_LOGGERS, RedactSecrets

    loggers = [logging.getLogger(name) for name in SERVER_LOGGERS]
    before = {logger.name: list(logger.filters) for logger in loggers}
    for logger in loggers:
        logger.filters = [f for f in logger.filters if not isinstance(f, RedactSecrets)]
    yield
    for logger in loggers:
        logger.filters = before[logger.name]


@pytest.fixture
async def realtime_server() -> AsyncIterator[LocalRealtimeServer]:
    server = LocalRealtimeServer(ServerConfig(speech=False, api_key=OWNER_KEY))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


async def test_no_secret_in_logs_or_error_bodies(
    sqlite_url: str, make_service: Factory, keyring: Keyring, realtime_server: LocalRealtimeServer,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("uvicorn", "uvicorn.access", "uvicorn.error"):  # whoever configured uvicorn logging before: propagate to caplog
        monkeypatch.setattr(logging.getLogger(name), "propagate", True)
    service = await make_service(sqlite_url, transport=httpx.AsyncHTTPTransport(), openai_base_url=realtime_server.base_url)
    token = await seed_owner(service.store, keyring)
    revoked_token = (await admin.create_share_token(service.store, PEPPER, "alice"))[1]
    [*_, revoked] = await admin.list_share_tokens(service.store)
    await admin.revoke_share_token(service.store, revoked.id)
    unknown_token = "vxs_" + "Q" * 43
    minted: list[str] = []
    error_texts: list[str] = []
    secrets = [OWNER_KEY, USER_KEY, token, revoked_token, unknown_token, "Bearer"]

    async with serving(create_app(service)) as base_url:
        async with httpx.AsyncClient(base_url=base_url) as client:
            bearer = {"Authorization": f"Bearer {token}"}
            requests = [
                ({"shareToken": token, "runId": "hyg-1"}, bearer),                       # 200 owner-funded
                ({"apiKeys": {"openai": OWNER_KEY}}, bearer),                             # 200 user key
                ({"apiKeys": {"openai": USER_KEY}}, {}),                                  # 502 refused upstream (wrong key)
                ({"shareToken": unknown_token}, {}),                                      # 401
                ({"shareToken": revoked_token}, {}),                                      # 403
                ({"shareToken": token, "runId": token}, {}),                              # 400 token pasted as run id
                ({"apiKeys": {"openai": USER_KEY}, "voice": USER_KEY}, {}),               # 400 key in the wrong field
                ({"apiKeys": {"openai": USER_KEY + " "}}, {}),                            # 400 malformed key
                ({"apiKeys": {"openai": USER_KEY}, "vad": {"type": USER_KEY}}, {}),       # 400 key as a vad tag
                ({"shareToken": token, "apiKeys": {"openai": USER_KEY}}, {}),             # 400 both
                ({"apiKeys": {"openai": USER_KEY}, USER_KEY: 1}, {}),                     # 400 key as a field name
            ]
            for body, headers in requests:
                answer = await client.post(SESSION, json=body, headers=headers)
                (minted.append(answer.json()["clientSecret"]) if answer.status_code == 200 else error_texts.append(answer.text))
            raw = [
                b'{"apiKeys": {"openai": "' + USER_KEY.encode(),                                       # 400 truncated JSON
                json.dumps({"apiKeys": {"openai": USER_KEY}, "instructions": "x" * 20000}).encode(),   # 413
            ]
            for content in raw:
                error_texts.append((await client.post(SESSION, content=content, headers={"Content-Type": "application/json"})).text)
            error_texts.append((await client.post(SESSION, content=f"apiKeys={USER_KEY}".encode(), headers={"Content-Type": "text/plain", **bearer})).text)
            for n in range(12):  # until rate limited (owner-funded and user-key)
                answer = await client.post(SESSION, json={"shareToken": token, "runId": f"r{n}"}, headers=bearer)
                (minted.append(answer.json()["clientSecret"]) if answer.status_code == 200 else error_texts.append(answer.text))
            assert answer.status_code == 429
            error_texts.append((await client.get(f"/{USER_KEY}", headers=bearer)).text)

    assert len(minted) >= 2 and all(value.startswith("ek_") for value in minted)
    assert len(error_texts) >= 14
    secrets += minted
    captured = capsys.readouterr()
    # the test's own client logs its requests to the token service (httpx); everything else is the service's
    service_records = [r.getMessage() for r in caplog.records if not (r.name.startswith(("httpx", "httpcore")) and base_url in r.getMessage())]
    logged = "\n".join(service_records) + captured.out + captured.err
    assert any(r.name == "uvicorn.access" and "/api/realtime/session" in r.getMessage() for r in caplog.records)  # the access log was captured
    assert any(r.name == "uvicorn.access" and "[redacted]" in r.getMessage() for r in caplog.records)  # key pasted into a URL
    assert any("HTTP Request: POST " + realtime_server.base_url in m for m in service_records)  # the upstream client's log
    for secret in secrets:
        assert secret not in logged, f"a secret reached the logs: {secret[:6]}..."
        for text in error_texts:
            assert secret not in text, f"a secret reached an error body: {secret[:6]}..."
    executions = await service.store.list_executions(limit=100)
    for row in executions:
        assert all(secret not in repr(row) for secret in secrets)


def test_cli_keeps_secrets_off_stderr_and_logs(tmp_path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    env = {"VOXFLOW_ENCRYPTION_KEYS": f"1:{os.urandom(32).hex()}", "VOXFLOW_TOKEN_PEPPER": PEPPER.decode(), "DATABASE_URL": f"sqlite:///{tmp_path}/cli.db"}
    runner = CliRunner()
    outputs = []
    for args, stdin in [
        (["owner", "add", "alice"], None),
        (["owner", "set-key", "alice"], OWNER_KEY + "\n"),
        (["owner", "set-key", "alice"], "not a key " + USER_KEY + "\n"),
        (["share", "create", "alice", "--label", "x"], None),
        (["share", "list"], None),
        (["executions"], None),
        (["rotate-key"], None),
    ]:
        result = runner.invoke(VoxflowEntryPoint(), args, input=stdin, env=env)  # type: ignore[arg-type]
        outputs.append(result)
    token = outputs[3].stdout.strip()
    assert token.startswith("vxs_")
    for n, result in enumerate(outputs):
        for secret in (OWNER_KEY, USER_KEY, token):
            assert secret not in result.stderr
            if n != 3:
                assert secret not in result.stdout
    assert OWNER_KEY not in caplog.text and USER_KEY not in caplog.text and token not in caplog.text


def test_postgres_password_never_shown() -> None:
    shown = redacted("postgresql://voxflow:hunter2-secret@db.example.com:6543/postgres?sslmode=require")
    assert "hunter2" not in shown and shown == "postgresql://voxflow@db.example.com:6543/postgres"
