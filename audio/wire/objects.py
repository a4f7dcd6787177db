"""Small pieces of OpenAI's wire format shared by the HTTP routes and the calls.

Identifiers look like the service's (``sess_…``, ``item_…``, ``resp_…``,
``rtc_…``, ``ek_…``); every error, HTTP or data channel, has the shape
``{"type", "code", "message", "param", "event_id"}`` under ``error``.
"""

from __future__ import annotations

import secrets
from typing import Any

DEFAULT_MODEL = "gpt-realtime"


def new_id(prefix: str, length: int = 20) -> str:
    return f"{prefix}_{secrets.token_hex(length // 2 + 1)[:length]}"


def error_object(
    code: str, message: str, *, type: str = "invalid_request_error", param: str | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    return {"type": type, "code": code, "message": message, "param": param, "event_id": event_id}


def error_body(code: str, message: str, **kwargs: Any) -> dict[str, Any]:
    """The HTTP error body: ``{"error": {...}}``."""
    return {"error": error_object(code, message, **kwargs)}
