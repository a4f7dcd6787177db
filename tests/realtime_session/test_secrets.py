"""Secret providers: the request shapes, the service's error messages, and no secret in any message."""

from __future__ import annotations

import json

import httpx
import pytest

from audio.base.errors import VoxflowError
from audio.wire.config import SessionConfig
from audio.base.redaction import redact
from audio.transports.secrets import DirectSecretProvider, EphemeralSecret, StandardKey, TokenServiceProvider

KEY = "sk-proj-SECRETKEY1234567890"
SHARE = "vxs_sharetokenABCDEFG123456"
CONFIG = SessionConfig.build(voice="cedar", instructions="Be brief.", vad={"type": "server_vad"})


def recording_transport(status: int, body: object, headers: dict[str, str] | None = None):
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status, json=body, headers=headers)

    return httpx.MockTransport(handler), seen


async def test_direct_mints_with_session_embedded() -> None:
    transport, seen = recording_transport(200, {"value": "ek_abc", "expires_at": 1_900_000_000, "session": {}})
    provider = DirectSecretProvider(KEY, base_url="https://example.test/v1", transport=transport)
    secret = await provider.mint_secret(CONFIG)
    assert secret.value == "ek_abc" and secret.expires_at == 1_900_000_000
    assert "ek_abc" not in repr(secret) and "ek_abc" not in str(secret)
    request = seen[0]
    assert str(request.url) == "https://example.test/v1/realtime/client_secrets"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    body = json.loads(request.content)
    assert body["expires_after"] == {"anchor": "created_at", "seconds": 600}
    assert body["session"]["audio"]["output"]["voice"] == "cedar"
    assert body["session"]["instructions"] == "Be brief."
    assert body["session"]["audio"]["input"]["turn_detection"]["type"] == "server_vad"
    assert "sk-" not in repr(provider)


async def test_direct_against_the_local_server(start_server) -> None:
    server = await start_server()
    secret = await DirectSecretProvider("anything", base_url=server.base_url).mint_secret(CONFIG)
    assert secret.value.startswith("ek_") and secret.expires_at


@pytest.mark.parametrize("status", [401, 500])
async def test_direct_errors_show_the_service_message_without_the_key(status: int) -> None:
    message = f"Incorrect API key provided: {KEY}."
    transport, _ = recording_transport(status, {"error": {"type": "x", "code": "y", "message": message}})
    provider = DirectSecretProvider(KEY, base_url="https://example.test", transport=transport, one_request=False)
    with pytest.raises(VoxflowError) as info:
        await provider.mint(CONFIG)
    text = str(info.value)
    assert f"({status})" in text and "Incorrect API key provided" in text and KEY not in text


async def test_direct_unreachable() -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    provider = DirectSecretProvider(KEY, base_url="https://example.test", transport=httpx.MockTransport(fail))
    with pytest.raises(VoxflowError, match="could not reach the Realtime service at example.test"):
        await provider.mint_secret(CONFIG)


async def test_direct_hands_the_standard_key_over_without_a_request() -> None:
    transport, seen = recording_transport(500, {})
    provider = DirectSecretProvider(KEY, base_url="https://example.test", transport=transport)
    key = await provider.mint(CONFIG)
    assert isinstance(key, StandardKey) and key.value == KEY and not seen  # one request: the transport's
    assert key.session == CONFIG.session_json() and KEY not in repr(key) and KEY not in str(key)


def test_direct_needs_a_key() -> None:
    with pytest.raises(VoxflowError, match="OPENAI_API_KEY is not set"):
        DirectSecretProvider("")


async def test_token_service_share_token_request() -> None:
    transport, seen = recording_transport(200, {"clientSecret": "ek_owner", "expiresAt": 1_900_000_000})
    provider = TokenServiceProvider("http://tokens.test:8787/", share_token=SHARE, run_id="run-1", transport=transport)
    secret = await provider.mint(CONFIG)
    assert secret == EphemeralSecret("ek_owner", 1_900_000_000)
    request = seen[0]
    assert str(request.url) == "http://tokens.test:8787/api/realtime/session"
    body = json.loads(request.content)
    assert body["shareToken"] == SHARE and body["runId"] == "run-1" and "apiKeys" not in body
    assert body["voice"] == "cedar" and body["instructions"] == "Be brief." and body["model"] == "gpt-realtime"
    assert body["vad"]["type"] == "server_vad" and body["transcriptionModel"] == "gpt-4o-mini-transcribe"
    assert provider.label == "token service tokens.test" and SHARE not in repr(provider)


async def test_token_service_user_key_request() -> None:
    transport, seen = recording_transport(200, {"clientSecret": "ek_user", "expiresAt": 1})
    provider = TokenServiceProvider("http://tokens.test/api/realtime/session", api_key=KEY, transport=transport)
    await provider.mint(SessionConfig.build(vad="disabled"))
    body = json.loads(seen[0].content)
    assert body["apiKeys"] == {"openai": KEY} and "shareToken" not in body and body["vad"] is None
    assert str(seen[0].url) == "http://tokens.test/api/realtime/session"


async def test_token_service_rate_limited() -> None:
    transport, _ = recording_transport(429, {"error": "Too many sessions for this share token."}, {"Retry-After": "42"})
    provider = TokenServiceProvider("http://tokens.test", share_token=SHARE, transport=transport)
    with pytest.raises(VoxflowError) as info:
        await provider.mint(CONFIG)
    text = str(info.value)
    assert "(429): Too many sessions for this share token." in text and "42 s" in text and SHARE not in text


@pytest.mark.parametrize(("status", "message"), [(401, "Unknown share token."), (403, "This share token was revoked.")])
async def test_token_service_refusals(status: int, message: str) -> None:
    transport, _ = recording_transport(status, {"error": f"{message} ({SHARE})"})
    provider = TokenServiceProvider("http://tokens.test", share_token=SHARE, transport=transport)
    with pytest.raises(VoxflowError) as info:
        await provider.mint(CONFIG)
    text = str(info.value)
    assert f"({status}): {message}" in text and SHARE not in text and "flow owner" in text


async def test_token_service_answer_without_secret() -> None:
    transport, _ = recording_transport(200, {"something": "else"})
    provider = TokenServiceProvider("http://tokens.test", api_key=KEY, transport=transport)
    with pytest.raises(VoxflowError, match="without a client secret"):
        await provider.mint(CONFIG)


def test_token_service_needs_credentials() -> None:
    with pytest.raises(VoxflowError, match="share token or an OpenAI key"):
        TokenServiceProvider("http://tokens.test")


def test_redact() -> None:
    assert redact(f"key {KEY} and ek_1234abcd and vxs_abcdEFGH", None) == "key [redacted] and [redacted] and [redacted]"
    assert redact("my-own-secret here", "my-own-secret") == "[redacted] here"


def test_the_token_service_log_filter_uses_the_same_shapes() -> None:
    import logging

    from audio.tokens.log_redaction import RedactSecrets

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "provided: %s via %s", ("sk-abc***wxyz", "Bearer abcd1234"), None)
    assert RedactSecrets().filter(record)
    assert record.getMessage() == "provided: [redacted] via [redacted]"
    assert redact("Incorrect API key provided: sk-abc***wxyz") == "Incorrect API key provided: [redacted]"
