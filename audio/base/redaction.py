"""What a secret looks like, in one place, so no message or log line can carry one.

OpenAI keys (``sk-…``, ``rk_…``, masked as ``sk-abc***xyz`` in the service's
own error texts), ephemeral client secrets (``ek_…``), voxflow share tokens
(``vxs_…``) and Bearer values are rewritten to ``[redacted]``. The session
core passes service error texts through :func:`redact` before showing them;
the token service installs the same shapes as a logging filter.
"""

from __future__ import annotations

import re

SECRET_SHAPES = re.compile(r"(?:\b(?:sk-|ek_|vxs_|rk_|sess_)|Bearer\s+)[A-Za-z0-9_\-*.]{4,}")


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with the given secrets and anything shaped like a key replaced by ``[redacted]``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "[redacted]")
    return SECRET_SHAPES.sub("[redacted]", text)
