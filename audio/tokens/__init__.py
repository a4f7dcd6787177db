"""The Realtime Session API (``voxflow serve-tokens``): mints short-lived OpenAI client secrets.

Terminal clients that must not hold a flow owner's OpenAI key POST to ``SESSION_PATH`` and receive
``{"clientSecret": "ek_...", "expiresAt": <epoch s>}``; that JSON pair is the whole contract a client
needs (``schemas``). Everything else is the service behind it: the store (SQLite or PostgreSQL),
encrypted owner keys, hashed share tokens, a shared rate limit and the execution log.

May import: ``audio.base``, ``audio.wire``.
Public names: ``__all__`` below; other packages import these names only.
"""

from __future__ import annotations

from audio.base.exports import lazy_exports

_HOMES = {
    "admin": "admin",
    "create_app": "app",
    "DEFAULT_HOST": "config",
    "DEFAULT_PORT": "config",
    "Keyring": "crypto",
    "load_pepper": "share_tokens",
    "log_redaction": "log_redaction",
    "open_store": "config",
    "resolve_database_url": "config",
    "ServiceSettings": "config",
    "SessionOutcome": "service",
    "TokenService": "service",
    "uvicorn_config": "app",
}

SESSION_PATH = "/api/realtime/session"
"""Where clients POST; the answer is ``{"clientSecret", "expiresAt"}``."""

__all__ = sorted([*_HOMES, "SESSION_PATH"])
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
