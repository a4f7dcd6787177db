"""Ephemeral client secrets: the short-lived ``ek_...`` key a session connects with.

One interface, two ways to get the secret:

* :class:`DirectSecretProvider` holds an ``OPENAI_API_KEY`` and mints the secret
  itself at ``{base_url}/v1/realtime/client_secrets`` with the session's voice,
  instructions, VAD and transcription embedded (docs/PROTOCOL.md §1);
* :class:`TokenServiceProvider` asks a voxflow token service (``POST
  {url}/api/realtime/session``) with either the user's own key or a share
  token + run id, so a flow owner can fund runs without handing out a key.

No key, share token or secret ever reaches a message: service error texts are
passed through :func:`~audio.base.redaction.redact` before they are shown.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from audio.base.errors import VoxflowError
from audio.wire.config import SessionConfig, normalize_base_url
from audio.transports.service_http import host_of, post, refusal_detail

TOKEN_SERVICE_PATH = "/api/realtime/session"


@dataclass(frozen=True)
class EphemeralSecret:
    """An ``ek_...`` client secret; its repr never shows the value."""

    value: str = field(repr=False)
    expires_at: float | None = None

    def __str__(self) -> str:
        return "EphemeralSecret([redacted])"


class SecretProvider(Protocol):
    """Anything that can mint a client secret for a session config."""

    label: str
    """Where secrets come from, for display (never contains a secret)."""

    async def mint(self, config: SessionConfig) -> EphemeralSecret: ...


class DirectSecretProvider:
    """Mints secrets with the user's own OpenAI key."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        expires_after_seconds: int = 600,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise VoxflowError(
                "OPENAI_API_KEY is not set: export it, pass --share-token/--token-service, or use --provider local"
            )
        if not 10 <= expires_after_seconds <= 7200:
            raise VoxflowError("the client secret lifetime must be between 10 and 7200 seconds")
        self._api_key = api_key
        self._base_url = normalize_base_url(base_url) if base_url else None
        self._expires_after = expires_after_seconds
        self._timeout = timeout
        self._transport = transport
        self.label = "openai"

    def __repr__(self) -> str:
        return f"DirectSecretProvider(base_url={self._base_url!r})"

    async def mint(self, config: SessionConfig) -> EphemeralSecret:
        base = self._base_url or config.base_url
        url = f"{base}/v1/realtime/client_secrets"
        body = {
            "expires_after": {"anchor": "created_at", "seconds": self._expires_after},
            "session": config.session_json(),
        }
        response = await post(
            url, service="Realtime service", hint="Check your network or OPENAI_BASE_URL.",
            timeout=self._timeout, transport=self._transport,
            json=body, headers={"Authorization": f"Bearer {self._api_key}"},
        )
        if response.status_code // 100 != 2:
            detail = refusal_detail(response, self._api_key)
            hint = (
                "Check OPENAI_API_KEY (it was refused)."
                if response.status_code in (401, 403)
                else "Try again later or check the service status."
            )
            raise VoxflowError(
                f"the Realtime service refused a session ({response.status_code}): {detail}", hint=hint
            )
        return _secret_from(response, value_key="value", expires_key="expires_at")


class TokenServiceProvider:
    """Gets secrets from a voxflow token service (user key or owner-funded share token)."""

    def __init__(
        self,
        url: str,
        *,
        api_key: str | None = None,
        share_token: str | None = None,
        run_id: str | None = None,
        timeout: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not url:
            raise VoxflowError("no token service URL: pass --token-service URL")
        if not api_key and not share_token:
            raise VoxflowError(
                "the token service needs a share token or an OpenAI key: pass --share-token or export OPENAI_API_KEY"
            )
        url = url.strip().rstrip("/")
        self._url = url if url.endswith(TOKEN_SERVICE_PATH) else url + TOKEN_SERVICE_PATH
        self._api_key = api_key
        self._share_token = share_token
        self.run_id = run_id or uuid.uuid4().hex
        self._timeout = timeout
        self._transport = transport
        self.label = f"token service {host_of(self._url)}"

    def __repr__(self) -> str:
        return f"TokenServiceProvider(url={self._url!r}, owner_funded={self._share_token is not None})"

    def request_body(self, config: SessionConfig) -> dict[str, Any]:
        body: dict[str, Any]
        if self._share_token:
            body = {"shareToken": self._share_token, "runId": self.run_id}
        else:
            body = {"apiKeys": {"openai": self._api_key}}
        body.update(voice=config.voice, model=config.model, vad=config.turn_detection_json())
        if config.instructions:
            body["instructions"] = config.instructions
        if config.transcription_model:
            body["transcriptionModel"] = config.transcription_model
        return body

    async def mint(self, config: SessionConfig) -> EphemeralSecret:
        secrets = (self._api_key, self._share_token)
        response = await post(
            self._url, service="token service", hint="Check the --token-service URL and that the service is running.",
            timeout=self._timeout, transport=self._transport, json=self.request_body(config),
        )
        if response.status_code // 100 != 2:
            detail = refusal_detail(response, *secrets)
            if response.status_code == 429:
                retry = response.headers.get("Retry-After")
                wait = f" Try again in {retry} s." if retry and retry.isdigit() else " Try again in a minute."
                raise VoxflowError(f"the token service is rate limiting this run (429): {detail}", hint=wait.strip())
            hint = (
                "Ask the flow owner for a valid share token."
                if response.status_code in (401, 403) and self._share_token
                else "Fix the request or ask the token service's operator."
            )
            raise VoxflowError(f"the token service refused a session ({response.status_code}): {detail}", hint=hint)
        return _secret_from(response, value_key="clientSecret", expires_key="expiresAt")


def _secret_from(response: httpx.Response, *, value_key: str, expires_key: str) -> EphemeralSecret:
    try:
        body = response.json()
    except ValueError:
        body = None
    value = body.get(value_key) if isinstance(body, dict) else None
    if not isinstance(value, str) or not value:
        raise VoxflowError(
            f"the secret service answered without a client secret ({value_key!r} missing)",
            hint="Check that the URL points at a Realtime service or a voxflow token service.",
        )
    expires = body.get(expires_key)
    return EphemeralSecret(value, float(expires) if isinstance(expires, int | float) else None)

