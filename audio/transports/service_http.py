"""One POST to a Realtime-style service, with its failures turned into VoxflowErrors.

Minting a client secret (OpenAI or a voxflow token service) and posting the
SDP offer fail the same ways: the host is unreachable, or it answers non-2xx
with an error body shaped ``{"error": "msg"}`` or ``{"error": {"message": ...}}``.
These helpers say so in one line, naming only the host, and pass the
service's text through :func:`~audio.base.redaction.redact` first.
"""

from __future__ import annotations

from typing import Any

import httpx

from audio.base.errors import VoxflowError
from audio.base.redaction import redact


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
