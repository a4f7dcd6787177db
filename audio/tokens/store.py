"""The one storage interface the token service talks to.

Two implementations share it: :mod:`.sqlite_store` (embedded default) and
:mod:`.postgres_store` (several service instances, Supabase). Every method is
one short statement (or one transaction), so limits hold across instances.
Any database failure surfaces as :class:`StoreUnavailable`, which the service
answers with 503: owner money is at stake, so it fails closed.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

from audio.base.errors import VoxflowError

from .crypto import SealedSecret


class StoreUnavailable(VoxflowError):
    """The database cannot be reached or refused a statement."""


@dataclass(frozen=True)
class Owner:
    id: int
    name: str
    created_at: float


@dataclass(frozen=True)
class OwnerKey:
    owner_id: int
    provider: str
    sealed: SealedSecret
    updated_at: float


@dataclass(frozen=True)
class ShareToken:
    """A share token's public record; the token itself is never stored."""

    id: str
    owner_id: int
    owner_name: str
    label: str | None
    created_at: float
    revoked_at: float | None = None

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None


@dataclass(frozen=True)
class Execution:
    """One owner-funded attempt, allowed or refused."""

    at: float
    client_ip: str
    outcome: str
    owner_id: int | None = None
    owner_name: str | None = None
    share_token_id: str | None = None
    run_id: str | None = None
    upstream_status: int | None = None


class Store(abc.ABC):
    """Owners, sealed owner keys, hashed share tokens, rate windows, executions."""

    url_for_display: str = ""

    async def __aenter__(self) -> Store:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect and create or migrate the schema."""

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    async def schema_version(self) -> int: ...

    # owners
    @abc.abstractmethod
    async def add_owner(self, name: str, at: float) -> Owner | None:
        """The new owner, or None when the name is taken."""

    @abc.abstractmethod
    async def owner_by_name(self, name: str) -> Owner | None: ...

    # owner keys
    @abc.abstractmethod
    async def put_owner_key(self, owner_id: int, provider: str, sealed: SealedSecret, at: float) -> None: ...

    @abc.abstractmethod
    async def owner_key(self, owner_id: int, provider: str) -> SealedSecret | None: ...

    @abc.abstractmethod
    async def all_owner_keys(self) -> list[OwnerKey]: ...

    @abc.abstractmethod
    async def replace_owner_key(
        self, owner_id: int, provider: str, old: SealedSecret, new: SealedSecret, at: float
    ) -> bool:
        """Swap ``old`` for ``new`` unless the row changed meanwhile (compare on nonce)."""

    # share tokens
    @abc.abstractmethod
    async def add_share_token(self, token: ShareToken, digest: str) -> None: ...

    @abc.abstractmethod
    async def share_token_by_digest(self, digest: str) -> ShareToken | None: ...

    @abc.abstractmethod
    async def list_share_tokens(self, owner_id: int | None = None) -> list[ShareToken]: ...

    @abc.abstractmethod
    async def revoke_share_token(self, token_id: str, at: float) -> ShareToken | None:
        """The revoked record (first revocation time kept), or None if no such id."""

    # rate limits
    @abc.abstractmethod
    async def hit_rate_limit(
        self, scope: str, key: str, *, window_start: int, previous_start: int, weight: float, limit: int
    ) -> tuple[int, int] | None:
        """Count one hit atomically unless ``count + previous * weight`` is already at ``limit``.

        Returns (this window's count after the hit, the previous window's count), or None when refused.
        """

    @abc.abstractmethod
    async def rate_limit_counts(self, scope: str, key: str, *, window_start: int, previous_start: int) -> tuple[int, int]:
        """(this window's count, the previous window's count), for telling a refused caller when to retry."""

    @abc.abstractmethod
    async def prune_rate_limits(self, before: int) -> None: ...

    # executions
    @abc.abstractmethod
    async def log_execution(self, execution: Execution) -> None: ...

    @abc.abstractmethod
    async def list_executions(self, owner_id: int | None = None, limit: int = 50) -> list[Execution]: ...
