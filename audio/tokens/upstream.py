"""The one upstream call: mint an ephemeral client secret with the session config inside.

``POST {base}/v1/realtime/client_secrets`` in the GA shape (docs/PROTOCOL.md
§1): voice, instructions and turn detection go into the minted session, the
safest place for them. Failures become :class:`UpstreamTimeout` or
:class:`UpstreamRefused` carrying only a status and an error code, never the
upstream's message (it may quote part of the key).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

CLIENT_SECRETS_PATH = "/v1/realtime/client_secrets"


@dataclass(frozen=True)
class SessionConfig:
    model: str
    voice: str
    instructions: str | None = None
    turn_detection: dict[str, Any] | None = None
    """GA ``audio.input.turn_detection``; None with ``manual_turns`` means push-to-talk."""
    manual_turns: bool = False
    transcription_model: str | None = "gpt-4o-mini-transcribe"
    passthrough: dict[str, Any] = field(default_factory=dict)
    """Validated GA session fields from the request's ``session``; they win over the fields above."""

    def as_ga_session(self) -> dict[str, Any]:
        return _overlay(self._base_session(), self.passthrough)

    def _base_session(self) -> dict[str, Any]:
        audio_input: dict[str, Any] = {}
        if self.transcription_model:
            audio_input["transcription"] = {"model": self.transcription_model}
        if self.manual_turns:
            audio_input["turn_detection"] = None
        elif self.turn_detection is not None:
            audio_input["turn_detection"] = self.turn_detection
        session: dict[str, Any] = {"type": "realtime", "model": self.model, "audio": {"output": {"voice": self.voice}}}
        if audio_input:
            session["audio"]["input"] = audio_input
        if self.instructions:
            session["instructions"] = self.instructions
        return session


def _overlay(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``extra`` over ``base``; only the ``audio``/``input``/``output`` containers merge, other fields replace."""
    merged = dict(base)
    for key, value in extra.items():
        if key in ("audio", "input", "output") and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _overlay(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class MintedSecret:
    value: str
    expires_at: int

    def __repr__(self) -> str:  # never show the secret
        return f"MintedSecret(value='ek_…', expires_at={self.expires_at})"


class UpstreamError(Exception):
    def __init__(self, status: int | None, code: str | None) -> None:
        self.status = status
        self.code = code
        super().__init__(f"upstream status={status} code={code}")


class UpstreamTimeout(UpstreamError):
    """The upstream did not answer in time."""


class UpstreamRefused(UpstreamError):
    """The upstream answered with an error, an unusable body, or could not be reached."""


def _error_code(response: httpx.Response) -> str | None:
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return None
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        if isinstance(code, str) and code.replace("_", "").isalnum() and len(code) <= 64:
            return code
    return None


class SecretMinter:
    """Calls the client_secrets endpoint; the httpx client (and so its transport) is injectable."""

    def __init__(
        self,
        base_url: str,
        *,
        client: httpx.AsyncClient | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        ttl_seconds: int = 600,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.ttl_seconds = ttl_seconds
        self._own_client = client is None
        self._client = client or httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False)

    async def aclose(self) -> None:
        if self._own_client:
            await self._client.aclose()

    async def mint(self, api_key: str, config: SessionConfig) -> MintedSecret:
        body = {"expires_after": {"anchor": "created_at", "seconds": self.ttl_seconds}, "session": config.as_ga_session()}
        try:
            response = await self._client.post(
                self.base_url + CLIENT_SECRETS_PATH,
                content=json.dumps(body).encode(),  # ASCII-escaped: lone surrogates can't break encoding
                headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
            )
        except httpx.TimeoutException:
            raise UpstreamTimeout(None, "timeout") from None
        except httpx.HTTPError:
            raise UpstreamRefused(None, "unreachable") from None
        if response.status_code != 200:
            raise UpstreamRefused(response.status_code, _error_code(response))
        try:
            answer = response.json()
            value = answer["value"]
            expires_at = answer["expires_at"]
        except (ValueError, KeyError, TypeError):
            raise UpstreamRefused(response.status_code, "malformed_answer") from None
        if not isinstance(value, str) or not value or not isinstance(expires_at, int) or isinstance(expires_at, bool):
            raise UpstreamRefused(response.status_code, "malformed_answer")
        return MintedSecret(value, expires_at)
