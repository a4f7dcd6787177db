"""The embedded store: one SQLite file in WAL mode, driven from one worker thread.

The stdlib ``sqlite3`` module blocks, so every statement runs on a dedicated
single-thread executor (the connection never changes threads). WAL lets
readers and a writer proceed together and ``busy_timeout`` makes a second
process sharing the file wait instead of failing; each statement commits on
its own (autocommit), and the rate-limit upsert is a single atomic statement.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from . import sql
from .crypto import SealedSecret
from .store import Execution, Owner, OwnerKey, ShareToken, Store, StoreUnavailable

T = TypeVar("T")
BUSY_TIMEOUT_MS = 5000


class SqliteStore(Store):
    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.url_for_display = f"sqlite://{self.path}" if self.path.is_absolute() else f"sqlite:{self.path}"
        self._executor: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._executor is None or self._connection is None:
            raise StoreUnavailable("The token store is not open.", hint="Start the service before sending requests.")
        connection = self._connection

        def call() -> T:
            try:
                return work(connection)
            except sqlite3.Error as error:
                raise StoreUnavailable(
                    f"The SQLite token store at {self.path} failed ({type(error).__name__}).",
                    hint="Check that the file is writable and the disk is not full.",
                ) from None

        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    async def open(self) -> None:
        if self._connection is not None:
            return
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="voxflow-sqlite")

        def connect() -> sqlite3.Connection:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
                connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                _enable_wal(connection)
                connection.execute("PRAGMA foreign_keys = ON")
                connection.execute("PRAGMA synchronous = NORMAL")
                _migrate(connection)
                return connection
            except (sqlite3.Error, OSError) as error:
                raise StoreUnavailable(
                    f"Cannot open the SQLite token store at {self.path} ({type(error).__name__}).",
                    hint="Check the path given with --database and that its directory is writable.",
                ) from None

        try:
            self._connection = await asyncio.get_running_loop().run_in_executor(self._executor, connect)
        except BaseException:
            self._executor.shutdown(wait=False)
            self._executor = None
            raise

    async def close(self) -> None:
        if self._executor is None:
            return
        connection, executor = self._connection, self._executor
        self._connection = None
        self._executor = None
        if connection is not None:
            await asyncio.get_running_loop().run_in_executor(executor, connection.close)
        executor.shutdown(wait=True)

    async def schema_version(self) -> int:
        return await self._run(lambda c: int(c.execute(sql.CURRENT_VERSION).fetchone()[0]))

    async def add_owner(self, name: str, at: float) -> Owner | None:
        row = await self._run(lambda c: c.execute(sql.ADD_OWNER, {"name": name, "at": at}).fetchone())
        return None if row is None else Owner(*row)

    async def owner_by_name(self, name: str) -> Owner | None:
        row = await self._run(lambda c: c.execute(sql.OWNER_BY_NAME, {"name": name}).fetchone())
        return None if row is None else Owner(*row)

    async def put_owner_key(self, owner_id: int, provider: str, sealed: SealedSecret, at: float) -> None:
        params = sql.sealed_params(owner_id, provider, sealed, at)
        await self._run(lambda c: c.execute(sql.PUT_OWNER_KEY, params))

    async def owner_key(self, owner_id: int, provider: str) -> SealedSecret | None:
        params = {"owner_id": owner_id, "provider": provider}
        row = await self._run(lambda c: c.execute(sql.OWNER_KEY, params).fetchone())
        return None if row is None else SealedSecret(int(row[0]), bytes(row[1]), bytes(row[2]))

    async def all_owner_keys(self) -> list[OwnerKey]:
        rows = await self._run(lambda c: c.execute(sql.ALL_OWNER_KEYS).fetchall())
        return [OwnerKey(r[0], r[1], SealedSecret(int(r[2]), bytes(r[3]), bytes(r[4])), r[5]) for r in rows]

    async def replace_owner_key(
        self, owner_id: int, provider: str, old: SealedSecret, new: SealedSecret, at: float
    ) -> bool:
        params = {**sql.sealed_params(owner_id, provider, new, at), "old_nonce": old.nonce}
        row = await self._run(lambda c: c.execute(sql.REPLACE_OWNER_KEY, params).fetchone())
        return row is not None

    async def add_share_token(self, token: ShareToken, digest: str) -> None:
        params = {"id": token.id, "owner_id": token.owner_id, "digest": digest, "label": token.label, "created_at": token.created_at}
        await self._run(lambda c: c.execute(sql.ADD_SHARE_TOKEN, params))

    async def share_token_by_digest(self, digest: str) -> ShareToken | None:
        row = await self._run(lambda c: c.execute(sql.SHARE_TOKEN_BY_DIGEST, {"digest": digest}).fetchone())
        return None if row is None else ShareToken(*row)

    async def list_share_tokens(self, owner_id: int | None = None) -> list[ShareToken]:
        rows = await self._run(lambda c: c.execute(sql.LIST_SHARE_TOKENS, {"owner_id": owner_id}).fetchall())
        return [ShareToken(*row) for row in rows]

    async def revoke_share_token(self, token_id: str, at: float) -> ShareToken | None:
        def work(c: sqlite3.Connection) -> Any:
            c.execute(sql.REVOKE_SHARE_TOKEN, {"id": token_id, "at": at})
            return c.execute(sql.SHARE_TOKEN_BY_ID, {"id": token_id}).fetchone()

        row = await self._run(work)
        return None if row is None else ShareToken(*row)

    async def hit_rate_limit(
        self, scope: str, key: str, *, window_start: int, previous_start: int, weight: float, limit: int
    ) -> tuple[int, int] | None:
        params = {"scope": scope, "key": key, "window_start": window_start, "previous_start": previous_start, "weight": weight, "limit": limit}
        row = await self._run(lambda c: c.execute(sql.HIT_RATE_LIMIT, params).fetchone())
        return None if row is None else (int(row[0]), int(row[1]))

    async def rate_limit_counts(self, scope: str, key: str, *, window_start: int, previous_start: int) -> tuple[int, int]:
        params = {"scope": scope, "key": key, "window_start": window_start, "previous_start": previous_start}
        rows = await self._run(lambda c: c.execute(sql.RATE_LIMIT_COUNTS, params).fetchall())
        counts = {int(start): int(count) for start, count in rows}
        return counts.get(window_start, 0), counts.get(previous_start, 0)

    async def prune_rate_limits(self, before: int) -> None:
        await self._run(lambda c: c.execute(sql.PRUNE_RATE_LIMITS, {"before": before}))

    async def log_execution(self, execution: Execution) -> None:
        params = sql.execution_params(execution)
        await self._run(lambda c: c.execute(sql.LOG_EXECUTION, params))

    async def list_executions(self, owner_id: int | None = None, limit: int = 50) -> list[Execution]:
        params = {"owner_id": owner_id, "limit": limit}
        rows = await self._run(lambda c: c.execute(sql.LIST_EXECUTIONS, params).fetchall())
        return [Execution(*row) for row in rows]


def _enable_wal(connection: sqlite3.Connection) -> None:
    """Switch to WAL; the switch ignores busy_timeout, so retry while another opener holds the lock."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)  # on the store's own worker thread, at open only


def _migrate(connection: sqlite3.Connection) -> None:
    connection.execute("BEGIN IMMEDIATE")
    try:
        connection.execute(sql.SCHEMA_VERSION_TABLE)
        current = int(connection.execute(sql.CURRENT_VERSION).fetchone()[0])
        for version in sorted(v for v in sql.SQLITE_MIGRATIONS if v > current):
            for statement in sql.SQLITE_MIGRATIONS[version]:
                connection.execute(statement)
            connection.execute(sql.RECORD_VERSION, {"version": version})
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise

