"""What a session connects with: a short-lived ``ek_...`` client secret, or the user's own standard key.

One interface, two providers:

* :class:`DirectSecretProvider` holds an ``OPENAI_API_KEY``. By default it hands
  the key itself to the transport as a :class:`StandardKey`: WebRTC then
  connects with one request (``POST /v1/realtime/calls``, multipart ``sdp`` +
  ``session``), WebSocket with the key as its Bearer header (docs/PROTOCOL.md
  §2). A service that refuses that form (no multipart ``/calls``) is asked for
  a client secret instead, at ``{base_url}/v1/realtime/client_secrets`` with
  the session's voice, instructions, VAD and transcription embedded (§1), and
  the provider remembers it for the connections that follow;
* :class:`TokenServiceProvider` asks a voxflow token service (``POST
  {url}/api/realtime/session``) with either the user's own key or a share
  token + run id, so a flow owner can fund runs without handing out a key.

No key, share token or secret ever reaches a message: service error texts are
passed through :func:`~audio.base.redaction.redact` before they are shown.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

from audio.base.errors import VoxflowError
from audio.wire.config import SessionConfig, normalize_base_url
from audio.transports.service_http import host_of, post, refusal_detail, service_refusal

TOKEN_SERVICE_PATH = "/api/realtime/session"


@dataclass(frozen=True)
class EphemeralSecret:
    """What a connection authenticates with: an ``ek_...`` client secret; its repr never shows the value."""

    value: str = field(repr=False)
    expires_at: float | None = None

    def __str__(self) -> str:
        return f"{type(self).__name__}([redacted])"


@dataclass(frozen=True)
class StandardKey(EphemeralSecret):
    """The user's own key, used as is: no client secret is minted before connecting.

    ``session`` is the GA session object the WebRTC call is created with (the
    multipart form's ``session`` part). ``exchange`` mints a client secret
    instead, for a service that refuses the one-request form.
    """

    session: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    exchange: Callable[[], Awaitable[EphemeralSecret]] | None = field(default=None, repr=False, compare=False)


class SecretProvider(Protocol):
    """Anything that gives a session the credential to connect with (a client secret, or a :class:`StandardKey`)."""

    label: str
    """Where secrets come from, for display (never contains a secret)."""

    async def mint(self, config: SessionConfig) -> EphemeralSecret: ...


class DirectSecretProvider:
    """The user's own OpenAI key: connects with it directly (one request), or mints secrets with it."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str | None = None,
        expires_after_seconds: int = 600,
        timeout: float = 15.0,
        transport: httpx.AsyncBaseTransport | None = None,
        one_request: bool = True,
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
        self.one_request = one_request
        """Hand the key to the transport (False: always mint a client secret first)."""
        self.label = "openai"

    def __repr__(self) -> str:
        return f"DirectSecretProvider(base_url={self._base_url!r})"

    async def mint(self, config: SessionConfig) -> EphemeralSecret:
        """The key itself as a :class:`StandardKey` (one request), or a client secret once the service refused that."""
        if not self.one_request:
            return await self.mint_secret(config)
        return StandardKey(self._api_key, session=config.session_json(),
                           exchange=functools.partial(self._exchange, config))

    async def _exchange(self, config: SessionConfig) -> EphemeralSecret:
        """The service refused the one-request form: mint a secret now, and for every connection after this one."""
        self.one_request = False
        return await self.mint_secret(config)

    async def mint_secret(self, config: SessionConfig) -> EphemeralSecret:
        """A client secret from ``/v1/realtime/client_secrets``, the session embedded (docs/PROTOCOL.md §1)."""
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
            raise service_refusal(f"the Realtime service refused a session ({response.status_code}): {detail}",
                                  response, hint=hint)
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
                raise service_refusal(f"the token service is rate limiting this run (429): {detail}", response,
                                      hint=wait.strip())
            hint = (
                "Ask the flow owner for a valid share token."
                if response.status_code in (401, 403) and self._share_token
                else "Fix the request or ask the token service's operator."
            )
            raise service_refusal(f"the token service refused a session ({response.status_code}): {detail}", response,
                                  hint=hint)
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

