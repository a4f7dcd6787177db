"""The token service's commands through click's CliRunner, with configuration from env vars."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from audio.tokens import share_tokens
from audio.tokens.config import open_store
from audio.tokens.crypto import Keyring
from tests.checkout import checkout_env
from tui.cli import main

from .conftest import OWNER_KEY, PEPPER


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "VOXFLOW_ENCRYPTION_KEYS": f"1:{os.urandom(32).hex()}",
        "VOXFLOW_TOKEN_PEPPER": PEPPER.decode(),
        "DATABASE_URL": f"sqlite:///{tmp_path}/env.db",
        "XDG_DATA_HOME": str(tmp_path / "xdg"),
    }


class VoxflowEntryPoint:
    """Lets CliRunner drive ``tui.cli.main`` itself, so VoxflowError handling is the real one."""

    name = "voxflow"

    def main(self, args: list[str], prog_name: str, **_: object) -> None:
        main(list(args))


def run(env: dict[str, str], *args: str, stdin: str | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(VoxflowEntryPoint(), list(args), input=stdin, env=env)  # type: ignore[arg-type]


def test_owner_share_revoke_lifecycle(env: dict[str, str], tmp_path: Path) -> None:
    assert run(env, "owner", "add", "alice").exit_code == 0
    duplicate = run(env, "owner", "add", "alice")
    assert duplicate.exit_code != 0 and "already exists" in duplicate.stderr
    stored = run(env, "owner", "set-key", "alice", stdin=OWNER_KEY + "\n")
    assert stored.exit_code == 0 and "stored" in stored.stderr and OWNER_KEY not in stored.output

    created = run(env, "share", "create", "alice", "--label", "for bob")
    assert created.exit_code == 0, created.stderr
    token = created.stdout.strip()
    assert created.stdout == token + "\n" and share_tokens.is_well_formed(token)  # the token alone on stdout
    assert "shown only once" in created.stderr

    listing = run(env, "share", "list", "alice")
    assert listing.exit_code == 0 and "for bob" in listing.stdout and "active" in listing.stdout and token not in listing.stdout
    token_id = listing.stdout.splitlines()[1].split()[0]
    assert token_id.startswith("st_")
    revoked = run(env, "share", "revoke", token_id)
    assert revoked.exit_code == 0 and "revoked" in revoked.stderr
    assert "revoked" in run(env, "share", "list").stdout
    assert run(env, "share", "revoke", "st_nope").exit_code != 0

    async def check() -> None:
        async with open_store(env["DATABASE_URL"]) as store:
            record = await store.share_token_by_digest(share_tokens.digest(token, PEPPER))
            assert record is not None and record.revoked and record.label == "for bob"
            owner = await store.owner_by_name("alice")
            sealed = await store.owner_key(owner.id, "openai")  # type: ignore[union-attr]
            keyring = Keyring.from_env(env)
            assert keyring.open(sealed, owner_id=owner.id, provider="openai") == OWNER_KEY  # type: ignore[arg-type,union-attr]

    asyncio.run(check())


def test_database_option_overrides_env(env: dict[str, str], tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path}/other.db"
    assert run(env, "owner", "add", "carol", "--database", other).exit_code == 0
    assert run(env, "share", "create", "carol", "--database", other).exit_code == 0
    missing = run(env, "share", "create", "carol")  # DATABASE_URL's store has no carol
    assert missing.exit_code != 0 and "voxflow owner add carol" in missing.stderr


def test_default_database_is_the_shared_embedded_file(env: dict[str, str], tmp_path: Path) -> None:
    del env["DATABASE_URL"]
    assert run(env, "owner", "add", "dora").exit_code == 0
    assert list((tmp_path / "xdg").rglob("token-service.sqlite3"))
    assert "dora" not in run(env, "share", "list").stderr  # same file: dora exists, no tokens yet
    assert run(env, "share", "create", "dora").exit_code == 0


def test_set_key_never_from_argv_and_validates(env: dict[str, str]) -> None:
    run(env, "owner", "add", "alice")
    as_argument = run(env, "owner", "set-key", "alice", OWNER_KEY)
    assert as_argument.exit_code != 0  # no such argument
    bad = run(env, "owner", "set-key", "alice", stdin="hello\n")
    assert bad.exit_code != 0 and "does not look like an OpenAI API key" in bad.stderr
    unknown = run(env, "owner", "set-key", "zed", stdin=OWNER_KEY + "\n")
    assert unknown.exit_code != 0 and "No owner named 'zed'" in unknown.stderr


def test_missing_or_malformed_configuration_fails_fast(env: dict[str, str]) -> None:
    run(env, "owner", "add", "alice")
    no_keys = run({**env, "VOXFLOW_ENCRYPTION_KEYS": ""}, "owner", "set-key", "alice", stdin=OWNER_KEY + "\n")
    assert no_keys.exit_code == 2 and "secrets.token_hex(32)" in no_keys.stderr and "Traceback" not in no_keys.output
    short = run({**env, "VOXFLOW_ENCRYPTION_KEYS": "1:abcd"}, "rotate-key")
    assert short.exit_code == 2 and "needs 64" in short.stderr
    no_pepper = run({**env, "VOXFLOW_TOKEN_PEPPER": ""}, "share", "create", "alice")
    assert no_pepper.exit_code == 2 and "VOXFLOW_TOKEN_PEPPER" in no_pepper.stderr
    serve = run({**env, "VOXFLOW_ENCRYPTION_KEYS": "x"}, "serve-tokens", "--port", "0")
    assert serve.exit_code == 2 and "malformed" in serve.stderr
    bad_db = run({**env, "DATABASE_URL": "mysql://x"}, "share", "list")
    assert bad_db.exit_code == 2 and "Unsupported database URL" in bad_db.stderr
    bad_proxy = run(env, "serve-tokens", "--trusted-proxy", "nonsense", "--port", "0")
    assert bad_proxy.exit_code == 2 and "--trusted-proxy" in bad_proxy.stderr


def test_rotate_key_and_executions(env: dict[str, str]) -> None:
    run(env, "owner", "add", "alice")
    run(env, "owner", "set-key", "alice", stdin=OWNER_KEY + "\n")
    old = env["VOXFLOW_ENCRYPTION_KEYS"]
    rotated_env = {**env, "VOXFLOW_ENCRYPTION_KEYS": f"2:{os.urandom(32).hex()},{old}"}
    rotated = run(rotated_env, "rotate-key")
    assert rotated.exit_code == 0 and "Re-encrypted 1 owner key(s) with key 2" in rotated.stderr
    assert "Re-encrypted 0" in run(rotated_env, "rotate-key").stderr
    empty = run(env, "executions", "--owner", "alice")
    assert empty.exit_code == 0 and "No executions" in empty.stderr
    assert run(env, "executions", "--owner", "nobody").exit_code != 0


def test_executions_lists_logged_attempts(env: dict[str, str]) -> None:
    from audio.tokens.store import Execution

    run(env, "owner", "add", "alice")

    async def log() -> None:
        async with open_store(env["DATABASE_URL"]) as store:
            owner = await store.owner_by_name("alice")
            await store.log_execution(Execution(at=1_767_225_600.0, client_ip="203.0.113.7", outcome="ok", owner_id=owner.id, share_token_id="st_x", run_id="run-1", upstream_status=200))  # type: ignore[union-attr]
            await store.log_execution(Execution(at=1_767_225_601.0, client_ip="203.0.113.8", outcome="unknown_token"))

    asyncio.run(log())
    listing = run(env, "executions")
    assert listing.exit_code == 0
    lines = listing.stdout.splitlines()
    assert "unknown_token" in lines[1] and "run-1" in lines[2] and "2026-01-01 00:00:00Z" in lines[2]
    only_alice = run(env, "executions", "--owner", "alice", "--limit", "5").stdout
    assert "run-1" in only_alice and "unknown_token" not in only_alice


@pytest.mark.slow
def test_serve_tokens_serves_over_http(env: dict[str, str], tmp_path: Path) -> None:
    import re
    import select
    import signal
    import subprocess
    import sys
    import time

    import httpx

    run(env, "owner", "add", "alice")
    process = subprocess.Popen(  # port 0: the banner names the port it got (no race with other test workers)
        [sys.executable, "-m", "tui", "serve-tokens", "--port", "0", "--log-level", "warning"],
        env=checkout_env(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    banner = b""
    try:
        deadline = time.monotonic() + 30
        while (listening := re.search(rb"listening on http://127\.0\.0\.1:(\d+)\n", banner)) is None:
            assert process.poll() is None, (banner + process.stderr.read()).decode()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, f"serve-tokens did not start: {banner.decode()}"
            if select.select([process.stderr], [], [], 0.1)[0]:
                banner += os.read(process.stderr.fileno(), 65536)  # type: ignore[union-attr]
        port = int(listening.group(1))
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=10)
        assert health.json() == {"status": "ok"}
        # the subprocess limits on the wall clock over minute windows: across a boundary the sliding
        # estimate (previous * part still inside + current) can let an 11th request through, so the
        # burst starts at least 15 s before the next boundary
        while time.time() % 60 > 45:
            time.sleep(0.2)
        answer = httpx.post(f"http://127.0.0.1:{port}/api/realtime/session", json={"shareToken": "vxs_" + "Z" * 43}, timeout=10)
        assert answer.status_code == 401
        # loopback is no trusted proxy: forged X-Forwarded-For from 127.0.0.1 still counts as 127.0.0.1
        forged = [
            httpx.post(f"http://127.0.0.1:{port}/api/realtime/session", json={"shareToken": "vxs_" + "Z" * 43},
                       headers={"X-Forwarded-For": f"192.0.2.{n}"}, timeout=10).status_code
            for n in range(10)
        ]
        assert forged == [401] * 9 + [429]
    finally:
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=30)
    err = banner + rest
    assert process.returncode == 0, err.decode()
    assert "voxflow token service: store sqlite:///" in err.decode()
    assert f"listening on http://127.0.0.1:{port}" in err.decode()


def test_serve_tokens_on_a_port_in_use_says_so_without_a_traceback(env: dict[str, str]) -> None:
    import socket

    with socket.socket() as occupied:
        occupied.bind(("127.0.0.1", 0))
        occupied.listen()
        port = occupied.getsockname()[1]
        busy = run(env, "serve-tokens", "--port", str(port))
    assert busy.exit_code == 2, busy.output
    assert f"cannot listen on 127.0.0.1:{port}" in busy.stderr and "--port" in busy.stderr
    assert "Traceback" not in busy.output
