"""The Realtime Session API: mints short-lived OpenAI client secrets.

Terminal clients that must not hold a flow owner's OpenAI key POST to
``/api/realtime/session`` and receive ``{"clientSecret": "ek_...",
"expiresAt": <epoch s>}``. That JSON pair is the whole contract a client needs
(see :mod:`.schemas`); everything else here is the service behind it: the
store (SQLite or PostgreSQL), encrypted owner keys, hashed share tokens, a
shared rate limit and the execution log.
"""

from __future__ import annotations

SESSION_PATH = "/api/realtime/session"
"""Where clients POST; the answer is ``{"clientSecret", "expiresAt"}``."""

__all__ = ["SESSION_PATH"]
