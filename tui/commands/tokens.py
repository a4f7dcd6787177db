"""``voxflow serve-tokens``, ``owner``, ``share``, ``executions``, ``rotate-key``.

The token service's command line: a thin shell over
:mod:`audio.tokens.admin`. Every command takes ``--database``
and defaults to the same embedded SQLite file (or ``DATABASE_URL``). Secrets
never travel in argv: ``owner set-key`` reads the key from stdin or a hidden
prompt, and ``share create`` prints the new token alone on stdout (everything
else goes to stderr) so it can be piped straight into a secret store.
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import click

from audio.tokens.config import DEFAULT_HOST, DEFAULT_PORT

T = TypeVar("T")

database_option = click.option(
    "--database",
    "database",
    metavar="URL",
    default=None,
    help="sqlite:///path/file.db or postgresql://... (default: DATABASE_URL, else the embedded SQLite file).",
)


def _quiet_store_driver() -> None:
    """Keep psycopg's pool retry warnings off the terminal: a failed open ends in one VoxflowError.

    A ``NullHandler`` only stops logging's last-resort printer; if logging is
    configured (``serve-tokens --log-level``), the records still propagate.
    """
    import logging

    logging.getLogger("psycopg").addHandler(logging.NullHandler())


def _with_store(database: str | None, work: Callable[..., Awaitable[T]]) -> T:
    from audio.tokens.config import open_store, resolve_database_url

    _quiet_store_driver()

    async def run() -> T:
        async with open_store(resolve_database_url(database)) as store:
            return await work(store)

    return asyncio.run(run())


def _when(epoch: float | None) -> str:
    if epoch is None:
        return "-"
    return _dt.datetime.fromtimestamp(epoch, _dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _log_service_events(level: str) -> None:
    """Show the service's own lines (minted/refused, store trouble) on stderr like uvicorn's."""
    import logging

    logger = logging.getLogger("voxflow.token_service")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s:     %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(level.upper())


def server_config(app: Any, *, log_level: str, **uvicorn_options: Any) -> Any:
    """uvicorn's config for the token service, with secrets scrubbed from every server log line.

    ``serve-tokens`` serves with it, and so do the hygiene tests, so they check this wiring.
    """
    from audio.tokens import log_redaction
    from audio.tokens.app import uvicorn_config

    config = uvicorn_config(app, log_level=log_level, **uvicorn_options)
    log_redaction.install()  # after uvicorn configured its loggers
    return config


@click.command("serve-tokens")
@click.option("--host", default=DEFAULT_HOST, show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=click.IntRange(0, 65535))
@database_option
@click.option("--trusted-proxy", "trusted_proxies", multiple=True, metavar="CIDR", help="Believe X-Forwarded-For from these proxies (repeatable; none by default).")
@click.option("--log-level", default="info", show_default=True, type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--metrics", metavar="HOST:PORT", default=None,
              help="Serve /metrics (requests, errors, sessions, rate-limit refusals), /healthz and /livez here "
                   "(loopback unless a host is given; off by default).")
def serve_tokens(host: str, port: int, database: str | None, trusted_proxies: tuple[str, ...], log_level: str,
                 metrics: str | None = None) -> None:
    """Serve POST /api/realtime/session: mint ephemeral OpenAI Realtime secrets."""
    import uvicorn

    from audio.base.errors import VoxflowError
    from audio.base.listen import bind_listener
    from audio.tokens.app import create_app
    from audio.tokens.config import ServiceSettings, open_store, resolve_database_url
    from audio.tokens.service import TokenService

    from audio.metrics.address import parse_address

    metrics_address = parse_address(metrics) if metrics is not None else None
    settings = ServiceSettings.from_env(trusted_proxies=trusted_proxies)
    _quiet_store_driver()
    store = open_store(resolve_database_url(database))
    service = TokenService(store, settings)

    async def serve() -> None:
        await service.start()  # fail fast (VoxflowError) before binding the port
        try:
            # bound here, not by uvicorn: a port in use is a VoxflowError, not uvicorn's exit status 3
            sock = bind_listener(host, port, service="token service")
        except VoxflowError:
            await service.close()
            raise
        address = f"[{host}]" if ":" in host else host
        click.echo(f"voxflow token service: store {store.url_for_display}, upstream {settings.openai_base_url}", err=True)
        click.echo(f"voxflow token service listening on http://{address}:{sock.getsockname()[1]}", err=True)
        app: Any = create_app(service)
        telemetry = None
        server_box: list[Any] = []
        if metrics_address is not None:
            from prometheus_client import CollectorRegistry

            from audio.metrics.serving import ServerTelemetry
            from audio.metrics.token_service import TokenServiceMetrics

            registry = CollectorRegistry()
            app = TokenServiceMetrics(registry).install(service, app)
            telemetry = ServerTelemetry(metrics_address, registry, what="token service",
                                        started=lambda: bool(server_box) and server_box[0].started and not server_box[0].should_exit)
            try:
                telemetry.start()
            except VoxflowError:
                sock.close()
                await service.close()
                raise
            click.echo(f"voxflow token service metrics on {telemetry.exporter.url}/metrics (health: /healthz, /livez)", err=True)
        config = server_config(app, host=host, port=port, log_level=log_level)
        _log_service_events(log_level)
        try:
            server_box.append(uvicorn.Server(config))
            await server_box[0].serve(sockets=[sock])
        finally:
            sock.close()
            if telemetry is not None:
                await telemetry.close()
            await service.close()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it handled once it has shut down cleanly
        click.echo("voxflow token service stopped.", err=True)


@click.group()
def owner() -> None:
    """Flow owners, whose OpenAI key pays for shared sessions."""


@owner.command("add")
@click.argument("name")
@database_option
def owner_add(name: str, database: str | None) -> None:
    """Create owner NAME."""
    from audio.tokens import admin

    created = _with_store(database, lambda store: admin.add_owner(store, name))
    click.echo(f"Owner {created.name} added. Next: voxflow owner set-key {created.name}", err=True)


@owner.command("set-key")
@click.argument("name")
@database_option
def owner_set_key(name: str, database: str | None) -> None:
    """Store NAME's OpenAI API key, encrypted; read from stdin or a hidden prompt, never argv."""
    from audio.tokens import admin
    from audio.tokens.crypto import Keyring

    keyring = Keyring.from_env()
    stdin = sys.stdin
    if stdin.isatty():
        api_key = click.prompt(f"OpenAI API key for {name}", hide_input=True, err=True)
    else:
        api_key = stdin.readline()
    updated = _with_store(database, lambda store: admin.set_owner_key(store, keyring, name, api_key))
    click.echo(f"OpenAI key for {updated.name} stored (encrypted with key {keyring.active_id}).", err=True)


@click.group()
def share() -> None:
    """Share tokens: let others run your flows on your OpenAI key."""


@share.command("create")
@click.argument("owner_name", metavar="OWNER")
@click.option("--label", default=None, help="A note to recognise the token by in `share list`.")
@database_option
def share_create(owner_name: str, label: str | None, database: str | None) -> None:
    """Mint a share token for OWNER; prints the token alone on stdout (shown once)."""
    from audio.tokens import admin
    from audio.tokens.share_tokens import load_pepper

    pepper = load_pepper()
    record, token = _with_store(database, lambda store: admin.create_share_token(store, pepper, owner_name, label))
    click.echo(f"Share token {record.id} for {record.owner_name} created; it is shown only once, below.", err=True)
    click.echo(token)


@share.command("list")
@click.argument("owner_name", metavar="[OWNER]", required=False)
@database_option
def share_list(owner_name: str | None, database: str | None) -> None:
    """List share tokens (ids, owners, labels, state); never the tokens themselves."""
    from audio.tokens import admin

    records = _with_store(database, lambda store: admin.list_share_tokens(store, owner_name))
    if not records:
        click.echo("No share tokens.", err=True)
        return
    click.echo(f"{'ID':<16} {'OWNER':<20} {'CREATED':<21} {'STATE':<8} LABEL")
    for record in records:
        state = "revoked" if record.revoked else "active"
        click.echo(f"{record.id:<16} {record.owner_name:<20} {_when(record.created_at):<21} {state:<8} {record.label or ''}")


@share.command("revoke")
@click.argument("token_id", metavar="ID")
@database_option
def share_revoke(token_id: str, database: str | None) -> None:
    """Revoke share token ID (as shown by `share list`); it answers 403 from now on."""
    from audio.tokens import admin

    record = _with_store(database, lambda store: admin.revoke_share_token(store, token_id))
    click.echo(f"Share token {record.id} of {record.owner_name} revoked at {_when(record.revoked_at)}.", err=True)


@click.command()
@click.option("--owner", "owner_name", default=None, metavar="NAME", help="Only this owner's executions.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@database_option
def executions(owner_name: str | None, limit: int, database: str | None) -> None:
    """Show the latest owner-funded session attempts, allowed or refused."""
    from audio.tokens import admin

    rows = _with_store(database, lambda store: admin.list_executions(store, owner_name, limit))
    if not rows:
        click.echo("No executions recorded.", err=True)
        return
    click.echo(f"{'TIME':<21} {'OWNER':<16} {'TOKEN':<16} {'RUN':<20} {'CLIENT':<40} {'OUTCOME':<20} UPSTREAM")
    for row in rows:
        click.echo(
            f"{_when(row.at):<21} {row.owner_name or '-':<16} {row.share_token_id or '-':<16} {row.run_id or '-':<20} "
            f"{row.client_ip:<40} {row.outcome:<20} {row.upstream_status if row.upstream_status is not None else '-'}"
        )


@click.command("rotate-key")
@database_option
def rotate_key(database: str | None) -> None:
    """Re-encrypt every stored owner key with the active key (VOXFLOW_ACTIVE_KEY_ID)."""
    from audio.tokens import admin
    from audio.tokens.crypto import Keyring

    keyring = Keyring.from_env()
    report = _with_store(database, lambda store: admin.rotate_keys(store, keyring))
    click.echo(
        f"Re-encrypted {report.rotated} owner key(s) with key {keyring.active_id}; "
        f"{report.already_current} already current; {report.changed_meanwhile} changed meanwhile.",
        err=True,
    )
    if report.rotated:
        click.echo("Old keys can be removed from VOXFLOW_ENCRYPTION_KEYS once every instance runs with this keyring.", err=True)
