"""The HTTP side: client secrets, key checks, the beta shape refused, offers that are not SDP, hangup."""

from __future__ import annotations

import httpx
import pytest

from audio.base.clock import FakeClock
from tests.realtime_server.client import WAIT


async def post(base_url: str, path: str, *, key: str | None = "sk-test", **kwargs: object) -> httpx.Response:
    headers = dict(kwargs.pop("headers", {}) or {})  # type: ignore[arg-type]
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    async with httpx.AsyncClient(base_url=base_url, timeout=WAIT) as http:
        return await http.post(path, headers=headers, **kwargs)  # type: ignore[arg-type]


def error_of(response: httpx.Response) -> dict[str, object]:
    body = response.json()
    assert set(body) == {"error"} and {"type", "code", "message"} <= set(body["error"])
    return body["error"]


async def test_client_secret_carries_the_minted_session(server) -> None:
    response = await post(server.base_url, "/v1/realtime/client_secrets", json={
        "expires_after": {"anchor": "created_at", "seconds": 120},
        "session": {"type": "realtime", "instructions": "Be brief.", "audio": {
            "output": {"voice": "cedar"}, "input": {"turn_detection": {"type": "semantic_vad", "eagerness": "high"}}}}})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["value"].startswith("ek_")
    assert body["session"]["audio"]["output"]["voice"] == "cedar"
    assert body["session"]["audio"]["input"]["turn_detection"]["eagerness"] == "high"
    assert body["session"]["instructions"] == "Be brief."
    assert body["expires_at"] > 0


@pytest.mark.parametrize(("payload", "code"), [
    (b"{not json", "invalid_json"),
    (b"[1, 2]", "invalid_type"),
    (b'{"session": {"model": "gpt-realtime"}}', "missing_required_parameter"),
    (b'{"session": {"type": "realtime", "colour": "blue"}}', "unknown_parameter"),
    (b'{"session": {"type": "realtime", "audio": {"output": {"voice": "robot"}}}}', "invalid_value"),
    (b'{"expires_after": {"anchor": "created_at", "seconds": 5}}', "invalid_value"),
    (b'{"session": {"type": "realtime", "voice": "marin"}}', "beta_api_shape_disabled"),
    (b'{"sessions": {}}', "unknown_parameter"),
])
async def test_client_secrets_rejects_a_malformed_body(server, payload: bytes, code: str) -> None:
    response = await post(server.base_url, "/v1/realtime/client_secrets", content=payload,
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert error_of(response)["code"] == code


async def test_configured_api_key_is_required_and_never_echoed(make_server) -> None:
    server = await make_server(api_key="sk-right-key")
    wrong = await post(server.base_url, "/v1/realtime/client_secrets", key="sk-wrong-key", json={})
    assert wrong.status_code == 401 and error_of(wrong)["code"] == "invalid_api_key"
    assert "sk-wrong-key" not in wrong.text and "sk-right-key" not in wrong.text
    missing = await post(server.base_url, "/v1/realtime/client_secrets", key=None, json={})
    assert missing.status_code == 401
    right = await post(server.base_url, "/v1/realtime/client_secrets", key="sk-right-key", json={})
    assert right.status_code == 200


async def test_unknown_or_expired_ephemeral_key_gets_401(make_server, fake_clock: FakeClock) -> None:
    server = await make_server(clock=fake_clock)
    unknown = await post(server.base_url, "/v1/realtime/calls", key="ek_unknown", content=b"v=0\r\n",
                         headers={"Content-Type": "application/sdp"})
    assert unknown.status_code == 401 and error_of(unknown)["code"] == "invalid_api_key"
    minted = await post(server.base_url, "/v1/realtime/client_secrets",
                        json={"expires_after": {"anchor": "created_at", "seconds": 10}})
    key = minted.json()["value"]
    await fake_clock.advance(11)
    expired = await post(server.base_url, "/v1/realtime/calls", key=key, content=b"v=0\r\n",
                         headers={"Content-Type": "application/sdp"})
    assert expired.status_code == 401
    assert key not in expired.text


async def test_beta_shapes_are_refused(server) -> None:
    sessions = await post(server.base_url, "/v1/realtime/sessions", json={"model": "gpt-realtime"})
    assert sessions.status_code == 400 and error_of(sessions)["code"] == "beta_api_shape_disabled"
    header = await post(server.base_url, "/v1/realtime/client_secrets", json={},
                        headers={"OpenAI-Beta": "realtime=v1"})
    assert header.status_code == 400 and error_of(header)["code"] == "beta_api_shape_disabled"


async def test_an_offer_that_is_not_sdp_is_refused(server) -> None:
    key = (await post(server.base_url, "/v1/realtime/client_secrets", json={})).json()["value"]
    response = await post(server.base_url, "/v1/realtime/calls", key=key, content=b"hello",
                          headers={"Content-Type": "application/sdp"})
    assert response.status_code == 400 and error_of(response)["code"] == "invalid_offer"
    wrong_type = await post(server.base_url, "/v1/realtime/calls", key=key, content=b"v=0\r\n",
                            headers={"Content-Type": "text/plain"})
    assert wrong_type.status_code == 415
    assert server.calls == {}


async def test_hangup_ends_a_live_call(server, make_client) -> None:
    client = make_client(server.base_url)
    await client.connect()
    assert client.call_id in server.calls
    response = await post(server.base_url, f"/v1/realtime/calls/{client.call_id}/hangup")
    assert response.status_code == 200
    assert client.call_id not in server.calls and client.call_id in server.ended_calls
    again = await post(server.base_url, f"/v1/realtime/calls/{client.call_id}/hangup")
    assert again.status_code == 404


async def test_standard_key_multipart_offer_carries_the_session(make_server, make_client) -> None:
    server = await make_server(api_key="sk-standard")
    client = make_client(server.base_url)
    answer = await client.offer_multipart("sk-standard", {"type": "realtime", "audio": {"output": {"voice": "sage"}}})
    assert answer.status_code == 201, answer.text
    created = await client.next("session.created")
    assert created["session"]["audio"]["output"]["voice"] == "sage"
    refused = await make_client(server.base_url).offer_multipart("sk-other", {"type": "realtime"})
    assert refused.status_code == 401
