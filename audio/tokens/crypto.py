"""Owner API keys at rest: AES-256-GCM with a rotating keyring.

Each ciphertext carries the id of the key that sealed it, a fresh 12-byte
nonce, and associated data naming its owner and provider, so a ciphertext
copied onto another owner's row (or another provider) fails to open. Keys
come from ``VOXFLOW_ENCRYPTION_KEYS="2:<hex>,1:<hex>"``; the active one (used
for new ciphertexts) from ``VOXFLOW_ACTIVE_KEY_ID`` (default: the highest id).
Old keys stay listed until ``voxflow rotate-key`` has re-sealed everything.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from audio.base.errors import VoxflowError

NONCE_BYTES = 12
KEY_BYTES = 32
KEYS_ENV = "VOXFLOW_ENCRYPTION_KEYS"
ACTIVE_ENV = "VOXFLOW_ACTIVE_KEY_ID"
GENERATE_HINT = (
    'Generate a key with: python -c "import secrets; print(secrets.token_hex(32))" '
    f'and set {KEYS_ENV}="1:<that hex>".'
)
_ENTRY = re.compile(r"^\s*(\d{1,9})\s*:\s*([0-9a-fA-F]+)\s*$")


@dataclass(frozen=True)
class SealedSecret:
    """A ciphertext as stored: which key, which nonce, the sealed bytes (with tag)."""

    key_id: int
    nonce: bytes
    ciphertext: bytes


class SecretUnreadable(VoxflowError):
    """A stored secret cannot be opened (unknown key id, tampered, or moved)."""


def associated_data(owner_id: int, provider: str) -> bytes:
    return f"voxflow-owner-key/v1/owner={owner_id}/provider={provider}".encode()


class Keyring:
    """Named AES-256 keys; seals with the active one, opens with any."""

    def __init__(self, keys: Mapping[int, bytes], active_id: int) -> None:
        if not keys:
            raise VoxflowError(f"{KEYS_ENV} lists no keys.", hint=GENERATE_HINT)
        for key_id, key in keys.items():
            if len(key) != KEY_BYTES:
                raise VoxflowError(
                    f"Encryption key {key_id} is {len(key)} bytes; AES-256 needs {KEY_BYTES} (64 hex characters).",
                    hint=GENERATE_HINT,
                )
        if active_id not in keys:
            raise VoxflowError(
                f"{ACTIVE_ENV}={active_id} names no key in {KEYS_ENV} (ids: {', '.join(map(str, sorted(keys)))}).",
                hint=f"Set {ACTIVE_ENV} to one of those ids or add the key.",
            )
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self.active_id = active_id

    @property
    def key_ids(self) -> list[int]:
        return sorted(self._ciphers)

    @classmethod
    def parse(cls, keys_text: str | None, active_text: str | None = None) -> Keyring:
        """Build from the two environment values; fail fast with an actionable message."""
        if not keys_text or not keys_text.strip():
            raise VoxflowError(f"{KEYS_ENV} is not set: the token service needs a key to encrypt owner API keys.", hint=GENERATE_HINT)
        keys: dict[int, bytes] = {}
        for position, entry in enumerate(keys_text.split(","), start=1):
            match = _ENTRY.match(entry)
            if match is None:
                raise VoxflowError(
                    f"{KEYS_ENV} entry {position} is malformed: expected ID:HEX, e.g. 1:<64 hex characters>.",
                    hint=GENERATE_HINT,
                )
            key_id = int(match.group(1))
            hex_text = match.group(2)
            if len(hex_text) != 2 * KEY_BYTES:
                raise VoxflowError(
                    f"{KEYS_ENV} key {key_id} has {len(hex_text)} hex characters; it needs {2 * KEY_BYTES} (32 bytes).",
                    hint=GENERATE_HINT,
                )
            if key_id in keys:
                raise VoxflowError(f"{KEYS_ENV} lists key id {key_id} twice; give each key its own id.")
            keys[key_id] = bytes.fromhex(hex_text)
        if active_text is None or not active_text.strip():
            active_id = max(keys)
        else:
            try:
                active_id = int(active_text.strip())
            except ValueError:
                raise VoxflowError(f"{ACTIVE_ENV} must be a key id number from {KEYS_ENV}.") from None
        return cls(keys, active_id)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Keyring:
        env = os.environ if env is None else env
        return cls.parse(env.get(KEYS_ENV), env.get(ACTIVE_ENV))

    def seal(self, plaintext: str, *, owner_id: int, provider: str) -> SealedSecret:
        nonce = os.urandom(NONCE_BYTES)
        ciphertext = self._ciphers[self.active_id].encrypt(nonce, plaintext.encode(), associated_data(owner_id, provider))
        return SealedSecret(self.active_id, nonce, ciphertext)

    def open(self, sealed: SealedSecret, *, owner_id: int, provider: str) -> str:
        cipher = self._ciphers.get(sealed.key_id)
        if cipher is None:
            raise SecretUnreadable(
                f"A stored {provider} key is sealed with encryption key {sealed.key_id}, which {KEYS_ENV} no longer lists.",
                hint="Put that key back into the keyring, or set the owner's key again.",
            )
        try:
            return cipher.decrypt(sealed.nonce, sealed.ciphertext, associated_data(owner_id, provider)).decode()
        except (InvalidTag, ValueError):
            raise SecretUnreadable(
                f"A stored {provider} key failed its integrity check (tampered, or moved from another owner).",
                hint="Set the owner's key again with: voxflow owner set-key NAME",
            ) from None

    def needs_rotation(self, sealed: SealedSecret) -> bool:
        return sealed.key_id != self.active_id
