"""AES-256-GCM owner keys: round trip, tamper and move detection, keyring parsing, rotation."""

from __future__ import annotations

import dataclasses
import secrets

import pytest

from audio.base.errors import VoxflowError
from audio.tokens import admin
from audio.tokens.config import open_store
from audio.tokens.crypto import Keyring, SecretUnreadable

from .conftest import OWNER_KEY


def test_round_trip_and_fresh_nonce(keyring: Keyring) -> None:
    first = keyring.seal(OWNER_KEY, owner_id=1, provider="openai")
    second = keyring.seal(OWNER_KEY, owner_id=1, provider="openai")
    assert first.nonce != second.nonce and len(first.nonce) == 12
    assert OWNER_KEY.encode() not in first.ciphertext
    assert keyring.open(first, owner_id=1, provider="openai") == OWNER_KEY


@pytest.mark.parametrize("byte", [0, 5, -1])
def test_flipped_bit_fails(keyring: Keyring, byte: int) -> None:
    sealed = keyring.seal(OWNER_KEY, owner_id=1, provider="openai")
    damaged = bytearray(sealed.ciphertext)
    damaged[byte] ^= 0x01
    with pytest.raises(SecretUnreadable) as caught:
        keyring.open(dataclasses.replace(sealed, ciphertext=bytes(damaged)), owner_id=1, provider="openai")
    assert OWNER_KEY not in str(caught.value)


def test_flipped_nonce_fails(keyring: Keyring) -> None:
    sealed = keyring.seal(OWNER_KEY, owner_id=1, provider="openai")
    nonce = bytes([sealed.nonce[0] ^ 0x80]) + sealed.nonce[1:]
    with pytest.raises(SecretUnreadable):
        keyring.open(dataclasses.replace(sealed, nonce=nonce), owner_id=1, provider="openai")


def test_ciphertext_moved_to_another_owner_or_provider_fails(keyring: Keyring) -> None:
    sealed = keyring.seal(OWNER_KEY, owner_id=1, provider="openai")
    with pytest.raises(SecretUnreadable):
        keyring.open(sealed, owner_id=2, provider="openai")
    with pytest.raises(SecretUnreadable):
        keyring.open(sealed, owner_id=1, provider="other")


async def test_row_copied_to_another_owner_in_the_store_fails(sqlite_url: str, keyring: Keyring) -> None:
    async with open_store(sqlite_url) as store:
        await admin.add_owner(store, "alice")
        bob = await admin.add_owner(store, "bob")
        alice = await admin.set_owner_key(store, keyring, "alice", OWNER_KEY)
        stolen = await store.owner_key(alice.id, "openai")
        assert stolen is not None
        await store.put_owner_key(bob.id, "openai", stolen, 0.0)
        with pytest.raises(SecretUnreadable):
            keyring.open(await store.owner_key(bob.id, "openai"), owner_id=bob.id, provider="openai")  # type: ignore[arg-type]


def test_parse_keyring_and_active_default() -> None:
    k1, k2 = secrets.token_hex(32), secrets.token_hex(32)
    ring = Keyring.parse(f"2:{k2}, 1:{k1}")
    assert ring.active_id == 2 and ring.key_ids == [1, 2]
    assert Keyring.parse(f"2:{k2},1:{k1}", "1").active_id == 1


@pytest.mark.parametrize(
    ("keys", "active", "fragment"),
    [
        (None, None, "not set"),
        ("", None, "not set"),
        ("zz", None, "malformed"),
        ("1:abcd", None, "needs 64"),
        ("1:" + "g" * 64, None, "malformed"),
        ("1:" + "a" * 64 + ",1:" + "b" * 64, None, "twice"),
        ("1:" + "a" * 64, "7", "names no key"),
        ("1:" + "a" * 64, "x", "key id number"),
    ],
)
def test_malformed_keyring_fails_fast_with_advice(keys: str | None, active: str | None, fragment: str) -> None:
    with pytest.raises(VoxflowError) as caught:
        Keyring.parse(keys, active)
    message = str(caught.value)
    assert fragment in message
    if fragment in {"not set", "malformed", "needs 64"}:
        assert "secrets.token_hex(32)" in message
    assert "a" * 64 not in message and "b" * 64 not in message


async def test_rotation_reencrypts_and_old_ciphertexts_open_until_rotated(store_url: str) -> None:
    old_key, new_key = secrets.token_bytes(32), secrets.token_bytes(32)
    old_ring = Keyring({1: old_key}, 1)
    both_ring = Keyring({1: old_key, 2: new_key}, 2)
    new_only = Keyring({2: new_key}, 2)
    async with open_store(store_url) as store:
        for name in ("alice", "bob"):
            await admin.add_owner(store, name)
            await admin.set_owner_key(store, old_ring, name, OWNER_KEY + name)
        alice = await admin.require_owner(store, "alice")
        before = await store.owner_key(alice.id, "openai")
        assert before is not None and before.key_id == 1
        # the new keyring still opens the old ciphertext before rotation; a keyring without key 1 cannot
        assert both_ring.open(before, owner_id=alice.id, provider="openai") == OWNER_KEY + "alice"
        with pytest.raises(SecretUnreadable):
            new_only.open(before, owner_id=alice.id, provider="openai")

        report = await admin.rotate_keys(store, both_ring)
        assert (report.rotated, report.already_current) == (2, 0)
        for row in await store.all_owner_keys():
            assert row.sealed.key_id == 2
            owner_name = "alice" if row.owner_id == alice.id else "bob"
            assert new_only.open(row.sealed, owner_id=row.owner_id, provider="openai") == OWNER_KEY + owner_name
        again = await admin.rotate_keys(store, both_ring)
        assert (again.rotated, again.already_current) == (0, 2)


async def test_rotation_refuses_when_a_key_cannot_be_opened(sqlite_url: str) -> None:
    async with open_store(sqlite_url) as store:
        await admin.add_owner(store, "alice")
        await admin.set_owner_key(store, Keyring({1: secrets.token_bytes(32)}, 1), "alice", OWNER_KEY)
        with pytest.raises(SecretUnreadable) as caught:
            await admin.rotate_keys(store, Keyring({2: secrets.token_bytes(32)}, 2))
        assert "no longer lists" in str(caught.value)
        rows = await store.all_owner_keys()
        assert rows[0].sealed.key_id == 1  # nothing changed
