"""One POST to a Realtime-style service, with its failures turned into VoxflowErrors.

Minting a client secret (OpenAI or a voxflow token service) and posting the
SDP offer fail the same ways: the host is unreachable, or it answers non-2xx
with an error body shaped ``{"error": "msg"}`` or ``{"error": {"message": ...}}``.
These helpers say so in one line, naming only the host, and pass the
service's text through :func:`~audio.base.redaction.redact` first.
"""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from typing import Any

import httpx

from audio.base.errors import VoxflowError
from audio.base.redaction import redact


MAX_RETRY_AFTER = 3600.0  # a Retry-After beyond an hour is taken as an hour


class ServiceRefused(VoxflowError):
    """A service answered non-2xx: its ``status``, and ``retry_after`` seconds when it said when to come back.

    A 503 ("slots in use", a draining session slot) or a 429 may carry
    ``Retry-After``; the reconnection backoff waits at least that long
    (``audio/session/backoff.py``).
    """

    def __init__(self, message: str, *, status: int, retry_after: float | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status
        self.retry_after = retry_after


def retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or an HTTP date), None if absent or unreadable."""
    raw = (headers.get("Retry-After") or headers.get("retry-after") or "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return min(MAX_RETRY_AFTER, max(0.0, seconds))


def service_refusal(message: str, response: httpx.Response, *, hint: str | None = None) -> ServiceRefused:
    """The error for a non-2xx ``response``: ``message`` (already redacted), its status and its Retry-After."""
    return ServiceRefused(message, status=response.status_code, retry_after=retry_after(response.headers), hint=hint)


def host_of(url: str) -> str:
    """The host part of ``url``, for messages (never a path or query that could hold a secret)."""
    return httpx.URL(url).host or url


async def post(
    url: str,
    *,
    service: str,
    hint: str,
    timeout: float,
    transport: httpx.AsyncBaseTransport | None = None,
    **request: Any,
) -> httpx.Response:
    """POST ``request`` (httpx keyword arguments) to ``url``; unreachable → VoxflowError naming ``service``."""
    try:
        async with httpx.AsyncClient(timeout=timeout, transport=transport) as client:
            return await client.post(url, **request)
    except httpx.HTTPError as exc:
        raise VoxflowError(f"could not reach the {service} at {host_of(url)} ({type(exc).__name__})", hint=hint) from None


def service_message(response: httpx.Response) -> str | None:
    """The human message of an error body: ``{"error": "msg"}`` or ``{"error": {"message": ...}}``."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    error = body.get("error")
    if isinstance(error, str):
        return error
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return error["message"]
    return None


def refusal_detail(response: httpx.Response, *secrets: str | None) -> str:
    """What a non-2xx answer says, secrets removed: the service's message, else the reason phrase."""
    return redact(service_message(response) or response.reason_phrase or "no details", *secrets)
