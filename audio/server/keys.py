"""Ephemeral client secrets (``ek_…``) minted by ``/v1/realtime/client_secrets``.

Each key carries the session config it was minted with. Expiry bounds only the
*start* of a call: a call that started runs on. Keys are compared and stored,
never logged.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from audio.base.clock import Clock

MAX_LIVE_KEYS = 10_000


@dataclass(frozen=True)
class EphemeralKey:
    value: str
    expires_at: float  # epoch seconds, on the server's clock
    session: dict[str, Any]


class KeyStore:
    """Mints and looks up ephemeral keys; expired keys are forgotten on the next mint, and at most
    ``MAX_LIVE_KEYS`` live at once."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._keys: dict[str, EphemeralKey] = {}

    def mint(self, seconds: int, session: dict[str, Any]) -> EphemeralKey:
        now = self._clock.time()
        self._keys = {value: key for value, key in self._keys.items() if key.expires_at > now}
        while len(self._keys) >= MAX_LIVE_KEYS:  # a flood of mints forgets its oldest keys first
            self._keys.pop(next(iter(self._keys)))
        key = EphemeralKey(f"ek_{secrets.token_urlsafe(24)}", now + seconds, session)
        self._keys[key.value] = key
        return key

    def valid(self, value: str) -> EphemeralKey | None:
        """The key if it exists and has not expired."""
        key = self._keys.get(value)
        if key is None or key.expires_at <= self._clock.time():
            return None
        return key


def same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())
