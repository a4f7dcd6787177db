"""The scalable store: PostgreSQL through a psycopg 3 async connection pool.

Several service instances may share one database; the rate-limit upsert is a
single atomic statement, so the limit holds across them. Prepared statements
are switched off (``prepare_threshold=None``) so the store works behind
PgBouncer / Supabase's transaction-mode pooler. The schema is migrated under
a transaction-scoped advisory lock so instances starting together don't race.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import psycopg
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from . import sql
from .crypto import SealedSecret
from .store import Execution, Owner, OwnerKey, ShareToken, Store, StoreUnavailable

MIGRATION_LOCK_ID = 0x766F78666C6F77  # "voxflow"
_Q = {name: sql.to_pyformat(value) for name, value in vars(sql).items() if name.isupper() and isinstance(value, str)}


def redacted(url: str) -> str:
    """The URL without its password, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    user = f"{parts.username}@" if parts.username else ""
    return f"{parts.scheme}://{user}{host}{port}{parts.path}"


class PostgresStore(Store):
    def __init__(self, url: str, *, min_size: int = 1, max_size: int = 10, timeout: float = 10.0) -> None:
        self._url = url
        self.url_for_display = redacted(url)
        self._timeout = timeout
        self._pool = AsyncConnectionPool(
            url,
            min_size=min_size,
            max_size=max_size,
            kwargs={"autocommit": True, "prepare_threshold": None},
            open=False,
            timeout=timeout,
            name="voxflow-token-store",
        )
        self._opened = False

    def _unavailable(self, error: BaseException) -> StoreUnavailable:
        return StoreUnavailable(
            f"The PostgreSQL token store at {self.url_for_display} failed ({type(error).__name__}).",
            hint="Check DATABASE_URL and that the database is running and reachable.",
        )

    async def _fetch(self, query: str, params: dict[str, Any], *, many: bool = False) -> Any:
        try:
            async with self._pool.connection() as connection:
                cursor = await connection.execute(query, params)
                if cursor.description is None:
                    return None
                return await (cursor.fetchall() if many else cursor.fetchone())
        except (psycopg.Error, PoolTimeout, OSError) as error:
            raise self._unavailable(error) from None

    async def open(self) -> None:
        if self._opened:
            return
        try:
            await self._pool.open(wait=True, timeout=self._timeout)
            async with self._pool.connection() as connection:
                async with connection.transaction():
                    await connection.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_ID,))
                    await connection.execute(sql.SCHEMA_VERSION_TABLE)
                    cursor = await connection.execute(sql.CURRENT_VERSION)
                    row = await cursor.fetchone()
                    current = int(row[0]) if row else 0
                    for version in sorted(v for v in sql.POSTGRES_MIGRATIONS if v > current):
                        for statement in sql.POSTGRES_MIGRATIONS[version]:
                            await connection.execute(statement)
                        await connection.execute(_Q["RECORD_VERSION"], {"version": version})
        except (psycopg.Error, PoolTimeout, OSError) as error:
            await self._pool.close()
            raise StoreUnavailable(
                f"Cannot open the PostgreSQL token store at {self.url_for_display} ({type(error).__name__}).",
                hint="Check DATABASE_URL and that the database is running and reachable.",
            ) from None
        self._opened = True

    async def close(self) -> None:
        if self._opened:
            self._opened = False
            await self._pool.close()

    async def schema_version(self) -> int:
        row = await self._fetch(_Q["CURRENT_VERSION"], {})
        return int(row[0])

    async def add_owner(self, name: str, at: float) -> Owner | None:
        row = await self._fetch(_Q["ADD_OWNER"], {"name": name, "at": at})
        return None if row is None else Owner(*row)

    async def owner_by_name(self, name: str) -> Owner | None:
        row = await self._fetch(_Q["OWNER_BY_NAME"], {"name": name})
        return None if row is None else Owner(*row)

    async def put_owner_key(self, owner_id: int, provider: str, sealed: SealedSecret, at: float) -> None:
        await self._fetch(_Q["PUT_OWNER_KEY"], sql.sealed_params(owner_id, provider, sealed, at))

    async def owner_key(self, owner_id: int, provider: str) -> SealedSecret | None:
        row = await self._fetch(_Q["OWNER_KEY"], {"owner_id": owner_id, "provider": provider})
        return None if row is None else SealedSecret(int(row[0]), bytes(row[1]), bytes(row[2]))

    async def all_owner_keys(self) -> list[OwnerKey]:
        rows = await self._fetch(_Q["ALL_OWNER_KEYS"], {}, many=True)
        return [OwnerKey(r[0], r[1], SealedSecret(int(r[2]), bytes(r[3]), bytes(r[4])), r[5]) for r in rows]

    async def replace_owner_key(
        self, owner_id: int, provider: str, old: SealedSecret, new: SealedSecret, at: float
    ) -> bool:
        params = {**sql.sealed_params(owner_id, provider, new, at), "old_nonce": old.nonce}
        return await self._fetch(_Q["REPLACE_OWNER_KEY"], params) is not None

    async def add_share_token(self, token: ShareToken, digest: str) -> None:
        params = {"id": token.id, "owner_id": token.owner_id, "digest": digest, "label": token.label, "created_at": token.created_at}
        await self._fetch(_Q["ADD_SHARE_TOKEN"], params)

    async def share_token_by_digest(self, digest: str) -> ShareToken | None:
        row = await self._fetch(_Q["SHARE_TOKEN_BY_DIGEST"], {"digest": digest})
        return None if row is None else ShareToken(*row)

    async def list_share_tokens(self, owner_id: int | None = None) -> list[ShareToken]:
        rows = await self._fetch(_Q["LIST_SHARE_TOKENS"], {"owner_id": owner_id}, many=True)
        return [ShareToken(*row) for row in rows]

    async def revoke_share_token(self, token_id: str, at: float) -> ShareToken | None:
        await self._fetch(_Q["REVOKE_SHARE_TOKEN"], {"id": token_id, "at": at})
        row = await self._fetch(_Q["SHARE_TOKEN_BY_ID"], {"id": token_id})
        return None if row is None else ShareToken(*row)

    async def hit_rate_limit(
        self, scope: str, key: str, *, window_start: int, previous_start: int, weight: float, limit: int
    ) -> tuple[int, int] | None:
        params = {"scope": scope, "key": key, "window_start": window_start, "previous_start": previous_start, "weight": weight, "limit": limit}
        row = await self._fetch(_Q["HIT_RATE_LIMIT"], params)
        return None if row is None else (int(row[0]), int(row[1]))

    async def rate_limit_counts(self, scope: str, key: str, *, window_start: int, previous_start: int) -> tuple[int, int]:
        params = {"scope": scope, "key": key, "window_start": window_start, "previous_start": previous_start}
        rows = await self._fetch(_Q["RATE_LIMIT_COUNTS"], params, many=True)
        counts = {int(start): int(count) for start, count in rows}
        return counts.get(window_start, 0), counts.get(previous_start, 0)

    async def prune_rate_limits(self, before: int) -> None:
        await self._fetch(_Q["PRUNE_RATE_LIMITS"], {"before": before})

    async def log_execution(self, execution: Execution) -> None:
        await self._fetch(_Q["LOG_EXECUTION"], sql.execution_params(execution))

    async def list_executions(self, owner_id: int | None = None, limit: int = 50) -> list[Execution]:
        rows = await self._fetch(_Q["LIST_EXECUTIONS"], {"owner_id": owner_id, "limit": limit}, many=True)
        return [Execution(*row) for row in rows]
