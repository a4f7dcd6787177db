"""A last line of defence: scrub anything shaped like a secret from server log records.

The service itself never logs a key or token, but the access log prints
request paths, and a client may paste a key into a URL. This filter rewrites
every shape :mod:`audio.base.redaction` knows (``sk-…``, ``ek_…``,
``vxs_…``, Bearer values) in the message and arguments of records on the
loggers it is installed on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from audio.base.redaction import SECRET_SHAPES, redact

__all__ = ["SECRET_SHAPES", "SERVER_LOGGERS", "RedactSecrets", "install", "redact"]

SERVER_LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn", "httpx", "voxflow.token_service")


def _scrub(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    """Rewrites secret-shaped substrings of a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, dict):
            record.args = {key: _scrub(value) for key, value in record.args.items()}
        elif isinstance(record.args, tuple):
            record.args = tuple(_scrub(value) for value in record.args)
        return True


def install(logger_names: Iterable[str] = SERVER_LOGGERS) -> None:
    """Add the filter to each named logger (idempotent)."""
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(existing, RedactSecrets) for existing in logger.filters):
            logger.addFilter(RedactSecrets())
