"""The SQL both stores run: one dialect-neutral text per query, ``:name`` parameters.

Only the DDL differs between SQLite and PostgreSQL (identity columns, BLOB vs
BYTEA); the queries, including the atomic rate-limit upsert, are shared. The
PostgreSQL store rewrites ``:name`` to psycopg's ``%(name)s``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .crypto import SealedSecret
    from .store import Execution

SCHEMA_VERSION_TABLE = "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)"
CURRENT_VERSION = "SELECT COALESCE(MAX(version), 0) FROM schema_version"
RECORD_VERSION = "INSERT INTO schema_version (version) VALUES (:version)"

# version -> DDL statements, per dialect
SQLITE_MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE owners (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            name TEXT NOT NULL UNIQUE,
            created_at REAL NOT NULL)""",
        """CREATE TABLE owner_keys (
            owner_id INTEGER NOT NULL REFERENCES owners(id) ON DELETE CASCADE,
            provider TEXT NOT NULL,
            key_id INTEGER NOT NULL,
            nonce BLOB NOT NULL,
            ciphertext BLOB NOT NULL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (owner_id, provider))""",
        """CREATE TABLE share_tokens (
            id TEXT PRIMARY KEY,
            owner_id INTEGER NOT NULL REFERENCES owners(id) ON DELETE CASCADE,
            digest TEXT NOT NULL UNIQUE,
            label TEXT,
            created_at REAL NOT NULL,
            revoked_at REAL)""",
        """CREATE TABLE rate_limits (
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            window_start BIGINT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (scope, key, window_start))""",
        """CREATE TABLE executions (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            at REAL NOT NULL,
            owner_id INTEGER,
            share_token_id TEXT,
            run_id TEXT,
            client_ip TEXT NOT NULL,
            outcome TEXT NOT NULL,
            upstream_status INTEGER)""",
        "CREATE INDEX executions_owner_at ON executions (owner_id, at)",
    ],
}

POSTGRES_MIGRATIONS: dict[int, list[str]] = {
    1: [
        """CREATE TABLE owners (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            created_at DOUBLE PRECISION NOT NULL)""",
        """CREATE TABLE owner_keys (
            owner_id BIGINT NOT NULL REFERENCES owners(id) ON DELETE CASCADE,
            provider TEXT NOT NULL,
            key_id INTEGER NOT NULL,
            nonce BYTEA NOT NULL,
            ciphertext BYTEA NOT NULL,
            updated_at DOUBLE PRECISION NOT NULL,
            PRIMARY KEY (owner_id, provider))""",
        """CREATE TABLE share_tokens (
            id TEXT PRIMARY KEY,
            owner_id BIGINT NOT NULL REFERENCES owners(id) ON DELETE CASCADE,
            digest TEXT NOT NULL UNIQUE,
            label TEXT,
            created_at DOUBLE PRECISION NOT NULL,
            revoked_at DOUBLE PRECISION)""",
        """CREATE TABLE rate_limits (
            scope TEXT NOT NULL,
            key TEXT NOT NULL,
            window_start BIGINT NOT NULL,
            count INTEGER NOT NULL,
            PRIMARY KEY (scope, key, window_start))""",
        """CREATE TABLE executions (
            id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at DOUBLE PRECISION NOT NULL,
            owner_id BIGINT,
            share_token_id TEXT,
            run_id TEXT,
            client_ip TEXT NOT NULL,
            outcome TEXT NOT NULL,
            upstream_status INTEGER)""",
        "CREATE INDEX executions_owner_at ON executions (owner_id, at)",
    ],
}

ADD_OWNER = """INSERT INTO owners (name, created_at) VALUES (:name, :at)
ON CONFLICT (name) DO NOTHING RETURNING id, name, created_at"""
OWNER_BY_NAME = "SELECT id, name, created_at FROM owners WHERE name = :name"

PUT_OWNER_KEY = """INSERT INTO owner_keys (owner_id, provider, key_id, nonce, ciphertext, updated_at)
VALUES (:owner_id, :provider, :key_id, :nonce, :ciphertext, :at)
ON CONFLICT (owner_id, provider) DO UPDATE SET key_id = excluded.key_id, nonce = excluded.nonce,
    ciphertext = excluded.ciphertext, updated_at = excluded.updated_at"""
OWNER_KEY = "SELECT key_id, nonce, ciphertext FROM owner_keys WHERE owner_id = :owner_id AND provider = :provider"
ALL_OWNER_KEYS = "SELECT owner_id, provider, key_id, nonce, ciphertext, updated_at FROM owner_keys ORDER BY owner_id, provider"
REPLACE_OWNER_KEY = """UPDATE owner_keys SET key_id = :key_id, nonce = :nonce, ciphertext = :ciphertext, updated_at = :at
WHERE owner_id = :owner_id AND provider = :provider AND nonce = :old_nonce RETURNING owner_id"""

_TOKEN_COLUMNS = "t.id, t.owner_id, o.name, t.label, t.created_at, t.revoked_at"
ADD_SHARE_TOKEN = """INSERT INTO share_tokens (id, owner_id, digest, label, created_at)
VALUES (:id, :owner_id, :digest, :label, :created_at)"""
SHARE_TOKEN_BY_DIGEST = f"SELECT {_TOKEN_COLUMNS} FROM share_tokens t JOIN owners o ON o.id = t.owner_id WHERE t.digest = :digest"
SHARE_TOKEN_BY_ID = f"SELECT {_TOKEN_COLUMNS} FROM share_tokens t JOIN owners o ON o.id = t.owner_id WHERE t.id = :id"
LIST_SHARE_TOKENS = f"""SELECT {_TOKEN_COLUMNS} FROM share_tokens t JOIN owners o ON o.id = t.owner_id
WHERE (CAST(:owner_id AS BIGINT) IS NULL OR t.owner_id = CAST(:owner_id AS BIGINT)) ORDER BY t.created_at, t.id"""
REVOKE_SHARE_TOKEN = "UPDATE share_tokens SET revoked_at = COALESCE(revoked_at, :at) WHERE id = :id"

_PREVIOUS_COUNT = """COALESCE((SELECT p.count FROM rate_limits p
    WHERE p.scope = :scope AND p.key = :key AND p.window_start = :previous_start), 0)"""
# Sliding-window estimate = previous window's count * weight + this window's count.
# One atomic statement: insert the window's row (unless the previous window alone is
# already at the limit) or increment it only while the estimate stays under the limit.
# No row comes back when the hit is refused.
HIT_RATE_LIMIT = f"""INSERT INTO rate_limits (scope, key, window_start, count)
SELECT :scope, :key, :window_start, 1
WHERE {_PREVIOUS_COUNT} * :weight < :limit
ON CONFLICT (scope, key, window_start) DO UPDATE SET count = rate_limits.count + 1
WHERE rate_limits.count + {_PREVIOUS_COUNT} * :weight < :limit
RETURNING count, {_PREVIOUS_COUNT}"""
RATE_LIMIT_COUNTS = """SELECT window_start, count FROM rate_limits
WHERE scope = :scope AND key = :key AND window_start IN (:previous_start, :window_start)"""
PRUNE_RATE_LIMITS = "DELETE FROM rate_limits WHERE window_start < :before"

LOG_EXECUTION = """INSERT INTO executions (at, owner_id, share_token_id, run_id, client_ip, outcome, upstream_status)
VALUES (:at, :owner_id, :share_token_id, :run_id, :client_ip, :outcome, :upstream_status)"""
LIST_EXECUTIONS = """SELECT e.at, e.client_ip, e.outcome, e.owner_id, o.name, e.share_token_id, e.run_id, e.upstream_status
FROM executions e LEFT JOIN owners o ON o.id = e.owner_id
WHERE (CAST(:owner_id AS BIGINT) IS NULL OR e.owner_id = CAST(:owner_id AS BIGINT)) ORDER BY e.at DESC, e.id DESC LIMIT :limit"""

_NAMED = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")


def to_pyformat(query: str) -> str:
    """``:name`` -> ``%(name)s`` for psycopg (the SQL above holds no literal %)."""
    return _NAMED.sub(r"%(\1)s", query)


def sealed_params(owner_id: int, provider: str, sealed: SealedSecret, at: float) -> dict[str, Any]:
    return {
        "owner_id": owner_id,
        "provider": provider,
        "key_id": sealed.key_id,
        "nonce": sealed.nonce,
        "ciphertext": sealed.ciphertext,
        "at": at,
    }


def execution_params(execution: Execution) -> dict[str, Any]:
    return {
        "at": execution.at,
        "owner_id": execution.owner_id,
        "share_token_id": execution.share_token_id,
        "run_id": execution.run_id,
        "client_ip": execution.client_ip,
        "outcome": execution.outcome,
        "upstream_status": execution.upstream_status,
    }
