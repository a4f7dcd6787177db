"""Store behaviour both backends share: migrations, owners, tokens, the atomic rate-limit upsert."""

from __future__ import annotations

import asyncio

import pytest

from audio.base.errors import VoxflowError
from audio.tokens.config import open_store
from audio.tokens.postgres_store import PostgresStore
from audio.tokens.store import ShareToken, StoreUnavailable


async def test_schema_created_once_and_reopen_is_idempotent(store_url: str) -> None:
    first, second = open_store(store_url), open_store(store_url)
    await asyncio.gather(first.open(), second.open())  # two instances starting together
    try:
        assert await first.schema_version() == 1 and await second.schema_version() == 1
        assert await first.add_owner("alice", 1.0) is not None
        assert await second.add_owner("alice", 2.0) is None  # name taken, seen across instances
    finally:
        await first.close()
        await second.close()
    async with open_store(store_url) as again:
        assert await again.schema_version() == 1
        assert (await again.owner_by_name("alice")).created_at == 1.0  # type: ignore[union-attr]


async def test_rate_limit_upsert_counts_to_the_limit_then_refuses(store_url: str) -> None:
    async with open_store(store_url) as store:
        def hit(window_start: int, weight: float = 1.0, scope: str = "ip"):  # type: ignore[no-untyped-def]
            return store.hit_rate_limit(scope, "203.0.113.7", window_start=window_start, previous_start=window_start - 60, weight=weight, limit=3)

        assert [await hit(60) for _ in range(5)] == [(1, 0), (2, 0), (3, 0), None, None]
        assert await store.rate_limit_counts("ip", "203.0.113.7", window_start=60, previous_start=0) == (3, 0)
        assert await hit(120, weight=1.0) is None  # the previous window alone fills the estimate
        assert await hit(120, weight=0.5) == (1, 3)  # 0 + 3 * 0.5 < 3
        assert await hit(120, weight=0.5) == (2, 3)  # 1 + 1.5 < 3
        assert await hit(120, weight=0.5) is None  # 2 + 1.5 >= 3
        assert await hit(60, scope="share_token") == (1, 0)  # other scope
        await store.prune_rate_limits(before=120)
        assert await store.rate_limit_counts("ip", "203.0.113.7", window_start=120, previous_start=60) == (2, 0)


async def test_share_tokens_filter_and_revoke_keeps_first_time(store_url: str) -> None:
    async with open_store(store_url) as store:
        alice = await store.add_owner("alice", 0.0)
        bob = await store.add_owner("bob", 0.0)
        assert alice and bob
        await store.add_share_token(ShareToken("st_a", alice.id, "alice", "one", 1.0), "digest-a")
        await store.add_share_token(ShareToken("st_b", bob.id, "bob", None, 2.0), "digest-b")
        assert [t.id for t in await store.list_share_tokens()] == ["st_a", "st_b"]
        assert [t.id for t in await store.list_share_tokens(bob.id)] == ["st_b"]
        first = await store.revoke_share_token("st_a", 10.0)
        again = await store.revoke_share_token("st_a", 20.0)
        assert first and again and first.revoked_at == again.revoked_at == 10.0
        assert await store.revoke_share_token("st_missing", 10.0) is None
        found = await store.share_token_by_digest("digest-a")
        assert found and found.revoked and found.owner_name == "alice"


async def test_unreachable_postgres_fails_fast_without_the_password() -> None:
    store = PostgresStore("postgresql://voxflow:hunter2-pw@127.0.0.1:1/voxflow", timeout=1.0)
    with pytest.raises(StoreUnavailable) as caught:
        await store.open()
    assert "hunter2" not in str(caught.value) and "DATABASE_URL" in str(caught.value)


def test_database_urls() -> None:
    assert str(open_store("sqlite:////tmp/x/tokens.db").path) == "/tmp/x/tokens.db"  # type: ignore[attr-defined]
    assert str(open_store("sqlite:///tmp/x/tokens.db").path) == "/tmp/x/tokens.db"  # type: ignore[attr-defined]
    assert str(open_store("sqlite:relative/tokens.db").path) == "relative/tokens.db"  # type: ignore[attr-defined]
    assert isinstance(open_store("postgres://u@h/db"), PostgresStore)
    for bad in ("mysql://h/db", "sqlite://host/x.db", "sqlite:"):
        with pytest.raises(VoxflowError):
            open_store(bad)


async def test_unwritable_sqlite_path_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(StoreUnavailable, match="Cannot open the SQLite token store"):
        await open_store(f"sqlite:///{blocker}/tokens.db").open()
