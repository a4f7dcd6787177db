"""The operations behind ``voxflow owner/share/executions/rotate-key``.

Plain async functions over a :class:`~.store.Store`, so the CLI stays a thin
shell and tests can call them directly. Errors a user can make (unknown
owner, taken name, unknown token id) raise :class:`VoxflowError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from audio.base.clock import Clock, SystemClock
from audio.base.errors import VoxflowError

from . import share_tokens
from .crypto import Keyring
from .service import PROVIDER
from .store import Execution, Owner, ShareToken, Store

OWNER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
OPENAI_KEY = re.compile(r"^sk-[A-Za-z0-9_-]{8,500}$")


async def add_owner(store: Store, name: str, clock: Clock | None = None) -> Owner:
    if not OWNER_NAME.match(name):
        raise VoxflowError(
            f"Owner name {name!r} is not allowed.",
            hint="Use 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit.",
        )
    owner = await store.add_owner(name, (clock or SystemClock()).time())
    if owner is None:
        raise VoxflowError(f"Owner {name!r} already exists.", hint="Pick another name, or use the existing owner.")
    return owner


async def require_owner(store: Store, name: str) -> Owner:
    owner = await store.owner_by_name(name)
    if owner is None:
        raise VoxflowError(f"No owner named {name!r}.", hint=f"Create it first with: voxflow owner add {name}")
    return owner


async def set_owner_key(store: Store, keyring: Keyring, name: str, api_key: str, clock: Clock | None = None) -> Owner:
    api_key = api_key.strip()
    if not OPENAI_KEY.match(api_key):
        raise VoxflowError("That does not look like an OpenAI API key (sk-...).", hint="Paste the whole key; it is read from stdin or a hidden prompt.")
    owner = await require_owner(store, name)
    sealed = keyring.seal(api_key, owner_id=owner.id, provider=PROVIDER)
    await store.put_owner_key(owner.id, PROVIDER, sealed, (clock or SystemClock()).time())
    return owner


async def create_share_token(
    store: Store, pepper: bytes, owner_name: str, label: str | None = None, clock: Clock | None = None
) -> tuple[ShareToken, str]:
    """The stored record and the token itself (shown once, never stored)."""
    owner = await require_owner(store, owner_name)
    token = share_tokens.mint()
    record = ShareToken(
        id=share_tokens.new_token_id(),
        owner_id=owner.id,
        owner_name=owner.name,
        label=label,
        created_at=(clock or SystemClock()).time(),
    )
    await store.add_share_token(record, share_tokens.digest(token, pepper))
    return record, token


async def list_share_tokens(store: Store, owner_name: str | None = None) -> list[ShareToken]:
    owner_id = (await require_owner(store, owner_name)).id if owner_name else None
    return await store.list_share_tokens(owner_id)


async def revoke_share_token(store: Store, token_id: str, clock: Clock | None = None) -> ShareToken:
    record = await store.revoke_share_token(token_id, (clock or SystemClock()).time())
    if record is None:
        raise VoxflowError(f"No share token with id {token_id!r}.", hint="List them with: voxflow share list")
    return record


async def list_executions(store: Store, owner_name: str | None = None, limit: int = 50) -> list[Execution]:
    owner_id = (await require_owner(store, owner_name)).id if owner_name else None
    return await store.list_executions(owner_id, limit)


@dataclass(frozen=True)
class RotationReport:
    rotated: int
    already_current: int
    changed_meanwhile: int


async def rotate_keys(store: Store, keyring: Keyring, clock: Clock | None = None) -> RotationReport:
    """Re-seal every owner key with the active encryption key.

    Fails (before changing anything) if any stored key cannot be opened, so an
    operator never drops an old key while ciphertexts still depend on it.
    """
    now = (clock or SystemClock()).time()
    rows = await store.all_owner_keys()
    plaintexts = {(row.owner_id, row.provider): keyring.open(row.sealed, owner_id=row.owner_id, provider=row.provider) for row in rows}
    rotated = current = changed = 0
    for row in rows:
        if not keyring.needs_rotation(row.sealed):
            current += 1
            continue
        fresh = keyring.seal(plaintexts[(row.owner_id, row.provider)], owner_id=row.owner_id, provider=row.provider)
        if await store.replace_owner_key(row.owner_id, row.provider, row.sealed, fresh, now):
            rotated += 1
        else:
            changed += 1  # set-key ran meanwhile; that write already used the active key
    return RotationReport(rotated, current, changed)
