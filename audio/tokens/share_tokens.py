"""Share tokens: bearer strings that let others spend an owner's OpenAI quota.

Minted once as ``vxs_`` + ``secrets.token_urlsafe(32)`` and shown once; the
store keeps only HMAC-SHA256(pepper, token), so a leaked database cannot be
replayed without the pepper (``VOXFLOW_TOKEN_PEPPER``) held outside it.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Mapping

from audio.base.errors import VoxflowError

PREFIX = "vxs_"
PEPPER_ENV = "VOXFLOW_TOKEN_PEPPER"
TOKEN_PATTERN = r"^vxs_[A-Za-z0-9_-]{43}$"
_TOKEN_RE = re.compile(TOKEN_PATTERN)
MIN_PEPPER_CHARS = 32


def mint() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def new_token_id() -> str:
    """A public, non-secret handle for listing and revoking (``st_`` + 12 hex)."""
    return "st_" + secrets.token_hex(6)


def is_well_formed(token: str) -> bool:
    return _TOKEN_RE.match(token) is not None


def digest(token: str, pepper: bytes) -> str:
    return hmac.new(pepper, token.encode(), hashlib.sha256).hexdigest()


def load_pepper(env: Mapping[str, str] | None = None) -> bytes:
    env = os.environ if env is None else env
    value = env.get(PEPPER_ENV, "")
    if len(value) < MIN_PEPPER_CHARS:
        raise VoxflowError(
            f"{PEPPER_ENV} is {'not set' if not value else 'too short'}: it must be at least {MIN_PEPPER_CHARS} characters.",
            hint=f'Generate one with: python -c "import secrets; print(secrets.token_hex(32))" and export {PEPPER_ENV}.',
        )
    return value.encode()
