"""Every answer of POST /api/realtime/session, in-process over httpx's ASGITransport."""

from __future__ import annotations

import json

import httpx
import pytest

from audio.base.clock import FakeClock
from audio.tokens import admin
from audio.tokens.client_ip import parse_trusted
from audio.tokens.crypto import Keyring
from audio.tokens.schemas import MAX_BODY_BYTES
from audio.tokens.service import TokenService

from .conftest import CLIENT, OWNER_KEY, SESSION, USER_KEY, Factory, Upstream, client_for, seed_owner


async def test_user_key_mode_mints_with_ga_session_shape(sqlite_url: str, make_service: Factory, upstream: Upstream) -> None:
    service = await make_service(sqlite_url)
    body = {"apiKeys": {"openai": USER_KEY}, "voice": "cedar", "instructions": "Be brief.", "model": "gpt-realtime-mini",
            "vad": {"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 400}}
    async with client_for(service) as client:
        answer = await client.post(SESSION, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"clientSecret": "ek_minted0001SECRETvalue", "expiresAt": 1_767_226_200}
    assert answer.headers["X-RateLimit-Limit"] == "10" and answer.headers["X-RateLimit-Remaining"] == "9"
    sent = upstream.requests[0]
    assert str(sent.url) == "http://upstream.test/v1/realtime/client_secrets"
    assert sent.headers["authorization"] == f"Bearer {USER_KEY}"
    assert json.loads(sent.content) == {
        "expires_after": {"anchor": "created_at", "seconds": 600},
        "session": {
            "type": "realtime",
            "model": "gpt-realtime-mini",
            "instructions": "Be brief.",
            "audio": {
                "input": {"transcription": {"model": "gpt-4o-mini-transcribe"},
                          "turn_detection": {"type": "server_vad", "threshold": 0.6, "silence_duration_ms": 400}},
                "output": {"voice": "cedar"},
            },
        },
    }
    assert await service.store.list_executions() == []  # only owner-funded attempts are logged


@pytest.mark.parametrize(("vad", "expected"), [({"type": "none"}, None), (None, None), ({"type": "semantic_vad", "eagerness": "low"}, {"type": "semantic_vad", "eagerness": "low"})])
async def test_vad_modes(sqlite_url: str, make_service: Factory, upstream: Upstream, vad: object, expected: object) -> None:
    service = await make_service(sqlite_url)
    async with client_for(service) as client:
        assert (await client.post(SESSION, json={"apiKeys": {"openai": USER_KEY}, "vad": vad})).status_code == 200
    assert json.loads(upstream.requests[0].content)["session"]["audio"]["input"]["turn_detection"] == expected


async def test_vad_left_out_uses_upstream_default(sqlite_url: str, make_service: Factory, upstream: Upstream) -> None:
    service = await make_service(sqlite_url)
    async with client_for(service) as client:
        assert (await client.post(SESSION, json={"apiKeys": {"openai": USER_KEY}})).status_code == 200
    assert "turn_detection" not in json.loads(upstream.requests[0].content)["session"]["audio"]["input"]


async def test_owner_funded_mints_with_owner_key_and_logs(store_url: str, make_service: Factory, upstream: Upstream, keyring: Keyring) -> None:
    service = await make_service(store_url)
    token = await seed_owner(service.store, keyring)
    async with client_for(service) as client:
        answer = await client.post(SESSION, json={"shareToken": token, "runId": "run-42", "voice": "marin"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["clientSecret"].startswith("ek_")
    assert upstream.requests[0].headers["authorization"] == f"Bearer {OWNER_KEY}"
    [row] = await service.store.list_executions()
    assert (row.owner_name, row.run_id, row.client_ip, row.outcome, row.upstream_status) == ("alice", "run-42", "203.0.113.7", "ok", 200)
    assert row.share_token_id and row.share_token_id.startswith("st_")


async def test_unknown_and_revoked_share_tokens(store_url: str, make_service: Factory, keyring: Keyring, clock: FakeClock) -> None:
    service = await make_service(store_url)
    token = await seed_owner(service.store, keyring)
    [record] = await admin.list_share_tokens(service.store)
    async with client_for(service) as client:
        unknown = await client.post(SESSION, json={"shareToken": "vxs_" + "A" * 43})
        await admin.revoke_share_token(service.store, record.id)
        revoked = await client.post(SESSION, json={"shareToken": token, "runId": "r1"})
    assert unknown.status_code == 401 and "Unknown share token" in unknown.json()["error"]
    assert revoked.status_code == 403 and "revoked" in revoked.json()["error"]
    outcomes = [row.outcome for row in await service.store.list_executions()]
    assert outcomes == ["revoked_token", "unknown_token"]


async def test_owner_without_key_is_400_and_logged(store_url: str, make_service: Factory, keyring: Keyring, upstream: Upstream) -> None:
    service = await make_service(store_url)
    token = await seed_owner(service.store, keyring, with_key=False)
    async with client_for(service) as client:
        answer = await client.post(SESSION, json={"shareToken": token})
    assert answer.status_code == 400
    assert answer.json()["error"].startswith("flow owner has not configured an OpenAI API key")
    assert upstream.requests == []
    assert [row.outcome for row in await service.store.list_executions()] == ["no_owner_key"]


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"[1, 2]", "JSON object"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
        (b"{}", "No key given"),
        (b'{"apiKeys": {"openai": "not-a-key"}}', "apiKeys.openai is missing or malformed"),
        (b'{"apiKeys": {}}', "apiKeys.openai is missing or malformed"),
        (b'{"shareToken": "vxs_short"}', "shareToken is malformed"),
        (b'{"shareToken": "vxs_' + b"A" * 43 + b'", "apiKeys": {"openai": "sk-abcdefghijk"}}', "not both"),
        (b'{"apiKeys": {"openai": "sk-abcdefghijk"}, "voice": "Not A Voice"}', "voice: use a voice name such as marin"),
        (b'{"shareToken": "vxs_' + b"A" * 43 + b'", "runId": "has spaces"}', "runId: use 1-128 letters"),
        (b'{"apiKeys": {"openai": "sk-abcdefghijk"}, "vad": {"type": "loud"}}', "server_vad, semantic_vad"),
        (b'{"apiKeys": {"openai": "sk-abcdefghijk"}, "surprise": 1}', "surprise: unknown field"),
    ],
)
async def test_malformed_requests_are_400(sqlite_url: str, make_service: Factory, content: bytes, fragment: str) -> None:
    service = await make_service(sqlite_url)
    async with client_for(service) as client:
        answer = await client.post(SESSION, content=content, headers={"Content-Type": "application/json"})
    assert answer.status_code == 400
    assert fragment in answer.json()["error"]


async def test_non_json_is_415(sqlite_url: str, make_service: Factory) -> None:
    service = await make_service(sqlite_url)
    async with client_for(service) as client:
        form = await client.post(SESSION, data={"apiKeys": USER_KEY})
        missing = await client.post(SESSION, content=b"{}")
        vendor_json = await client.post(SESSION, content=b"{}", headers={"Content-Type": "application/vnd.x+json"})
    assert form.status_code == 415 and "application/json" in form.json()["error"]
    assert missing.status_code == 415
    assert vendor_json.status_code == 400  # +json is JSON


async def test_body_cap_checked_while_reading(sqlite_url: str, make_service: Factory, upstream: Upstream) -> None:
    service = await make_service(sqlite_url)
    big = json.dumps({"apiKeys": {"openai": USER_KEY}, "instructions": "x" * MAX_BODY_BYTES}).encode()

    async def chunks():  # no Content-Length at all: chunked upload
        for start in range(0, len(big), 1000):
            yield big[start : start + 1000]

    async with client_for(service) as client:
        declared = await client.post(SESSION, content=big, headers={"Content-Type": "application/json"})
        streamed = await client.post(SESSION, content=chunks(), headers={"Content-Type": "application/json"})
        lying = await client.post(SESSION, content=chunks(), headers={"Content-Type": "application/json", "Content-Length": "10"})
    for answer in (declared, streamed, lying):
        assert answer.status_code == 413 and "16 KiB" in answer.json()["error"]
    assert upstream.requests == []


async def test_rate_limit_per_ip_with_headers_sliding_window(store_url: str, make_service: Factory, clock: FakeClock) -> None:
    service = await make_service(store_url)
    body = {"apiKeys": {"openai": USER_KEY}}
    async with client_for(service) as client:
        answers = [await client.post(SESSION, json=body) for _ in range(11)]
        assert [a.status_code for a in answers] == [200] * 10 + [429]
        assert [a.headers["X-RateLimit-Remaining"] for a in answers[:3]] == ["9", "8", "7"]
        refused = answers[-1]
        # the burst at t=0 counts fully until t=60 and slides out after: one more fits just after t=60
        assert refused.headers["Retry-After"] == refused.headers["X-RateLimit-Reset"] == "61"
        assert (refused.headers["X-RateLimit-Limit"], refused.headers["X-RateLimit-Remaining"]) == ("10", "0")
        assert "Retry-After" in refused.json()["error"]
        await clock.advance(45)
        again = await client.post(SESSION, json=body)
        assert again.status_code == 429 and again.headers["Retry-After"] == "16"
        await clock.advance(15)  # t=60: a fixed window would reset here; the estimate is still 10
        boundary = await client.post(SESSION, json=body)
        assert boundary.status_code == 429 and boundary.headers["Retry-After"] == "1"
        await clock.advance(1)  # t=61: 10 * 59/60 = 9.8
        assert (await client.post(SESSION, json=body)).status_code == 200
        next_refusal = await client.post(SESSION, json=body)  # 9.8 + 1 >= 10
        assert next_refusal.status_code == 429 and next_refusal.headers["Retry-After"] == "6"
        await clock.advance(6)  # t=67: 10 * 53/60 + 1 = 9.8
        assert (await client.post(SESSION, json=body)).status_code == 200
    async with client_for(service, client=("198.51.100.1", 1)) as other:
        assert (await other.post(SESSION, json=body)).status_code == 200


async def test_burst_at_a_window_edge_is_not_doubled(sqlite_url: str, make_service: Factory, clock: FakeClock) -> None:
    service = await make_service(sqlite_url)
    body = {"apiKeys": {"openai": USER_KEY}}
    async with client_for(service) as client:
        await clock.advance(59)
        assert [(await client.post(SESSION, json=body)).status_code for _ in range(10)] == [200] * 10
        await clock.advance(2)  # t=61, a new fixed window; the estimate 10 * 59/60 = 9.8 leaves room for one
        assert [(await client.post(SESSION, json=body)).status_code for _ in range(2)] == [200, 429]
        await clock.advance(30)  # t=91: 1 + 10 * 29/60 = 5.8 -> 5 more
        statuses = [(await client.post(SESSION, json=body)).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]


async def test_rate_limit_per_share_token_across_addresses(store_url: str, make_service: Factory, keyring: Keyring) -> None:
    service = await make_service(store_url)
    token = await seed_owner(service.store, keyring)
    statuses = []
    for n in range(12):
        async with client_for(service, client=(f"198.51.100.{n + 1}", 1000)) as client:
            statuses.append((await client.post(SESSION, json={"shareToken": token, "runId": f"r{n}"})).status_code)
    assert statuses == [200] * 10 + [429, 429]
    outcomes = [row.outcome for row in await service.store.list_executions(limit=100)]
    assert outcomes.count("ok") == 10 and outcomes.count("rate_limited_token") == 2


async def test_ipv6_clients_share_a_64(sqlite_url: str, make_service: Factory) -> None:
    service = await make_service(sqlite_url)
    body = {"apiKeys": {"openai": USER_KEY}}
    statuses = []
    for n in range(11):
        async with client_for(service, client=(f"2001:db8:7:7::{n + 1:x}", 1)) as client:
            statuses.append((await client.post(SESSION, json=body)).status_code)
    assert statuses == [200] * 10 + [429]


async def test_forged_forwarded_for_from_untrusted_peer_is_ignored(sqlite_url: str, make_service: Factory) -> None:
    service = await make_service(sqlite_url)
    body = {"apiKeys": {"openai": USER_KEY}}
    async with client_for(service) as client:
        statuses = [(await client.post(SESSION, json=body, headers={"X-Forwarded-For": f"192.0.2.{n}"})).status_code for n in range(11)]
    assert statuses == [200] * 10 + [429]


async def test_forwarded_for_from_trusted_proxy_counts_real_client(sqlite_url: str, make_service: Factory, keyring: Keyring) -> None:
    service = await make_service(sqlite_url, trusted_proxies=parse_trusted(["10.0.0.0/8"]))
    token = await seed_owner(service.store, keyring)
    body = {"apiKeys": {"openai": USER_KEY}}
    async with client_for(service, client=("10.0.0.5", 1)) as proxy:
        many = [(await proxy.post(SESSION, json=body, headers={"X-Forwarded-For": f"192.0.2.{n}"})).status_code for n in range(11)]
        assert many == [200] * 11  # eleven different real clients behind one proxy
        same = [(await proxy.post(SESSION, json=body, headers={"X-Forwarded-For": "6.6.6.6, 192.0.2.200"})).status_code for _ in range(11)]
        assert same == [200] * 10 + [429]
        assert (await proxy.post(SESSION, json={"shareToken": token}, headers={"X-Forwarded-For": "192.0.2.77"})).status_code == 200
    [row] = await service.store.list_executions()
    assert row.client_ip == "192.0.2.77"


async def test_upstream_refusal_owner_funded_leaks_nothing(store_url: str, make_service: Factory, keyring: Keyring, upstream: Upstream) -> None:
    service = await make_service(store_url)
    token = await seed_owner(service.store, keyring)
    upstream.mode = "refuse"
    async with client_for(service) as client:
        answer = await client.post(SESSION, json={"shareToken": token, "runId": "r"})
    assert answer.status_code == 502
    assert "invalid_api_key" not in answer.text and "401" not in answer.text and "sk-" not in answer.text
    [row] = await service.store.list_executions()
    assert (row.outcome, row.upstream_status) == ("upstream_refused", 401)


async def test_upstream_refusal_user_key_names_the_code_not_the_key(sqlite_url: str, make_service: Factory, upstream: Upstream) -> None:
    service = await make_service(sqlite_url)
    upstream.mode = "refuse"
    async with client_for(service) as client:
        answer = await client.post(SESSION, json={"apiKeys": {"openai": USER_KEY}})
    assert answer.status_code == 502
    assert "invalid_api_key" in answer.json()["error"] and USER_KEY not in answer.text


async def test_upstream_garbage_and_unreachable_are_502(sqlite_url: str, make_service: Factory, upstream: Upstream) -> None:
    service = await make_service(sqlite_url)
    upstream.mode = "garbage"
    async with client_for(service) as client:
        assert (await client.post(SESSION, json={"apiKeys": {"openai": USER_KEY}})).status_code == 502
    unreachable = await make_service(sqlite_url, transport=httpx.AsyncHTTPTransport(), openai_base_url="http://127.0.0.1:9")
    async with client_for(unreachable) as client:
        answer = await client.post(SESSION, json={"apiKeys": {"openai": USER_KEY}})
    assert answer.status_code == 502 and "unreachable" in answer.json()["error"]


async def test_upstream_timeout_is_504(store_url: str, make_service: Factory, keyring: Keyring, upstream: Upstream) -> None:
    service = await make_service(store_url)
    token = await seed_owner(service.store, keyring)
    upstream.mode = "timeout"
    async with client_for(service) as client:
        user = await client.post(SESSION, json={"apiKeys": {"openai": USER_KEY}})
        owner = await client.post(SESSION, json={"shareToken": token})
    assert user.status_code == owner.status_code == 504
    assert [row.outcome for row in await service.store.list_executions()] == ["upstream_timeout"]


async def test_store_unavailable_fails_closed_with_503(sqlite_url: str, make_service: Factory, keyring: Keyring, upstream: Upstream) -> None:
    service = await make_service(sqlite_url)
    token = await seed_owner(service.store, keyring)
    await service.store.close()  # the database goes away under a running service
    async with client_for(service) as client:
        owner = await client.post(SESSION, json={"shareToken": token})
        user = await client.post(SESSION, json={"apiKeys": {"openai": USER_KEY}})
    assert owner.status_code == user.status_code == 503
    assert "try again later" in owner.json()["error"]
    assert upstream.requests == []


async def test_postgres_outage_fails_closed_with_503(postgres_url: str, postgres_server: str, make_service: Factory, keyring: Keyring, upstream: Upstream) -> None:
    import psycopg

    service = await make_service(postgres_url)
    token = await seed_owner(service.store, keyring)
    database = postgres_url.rsplit("/", 1)[1]
    if postgres_url == postgres_server:
        pytest.skip("needs a server where databases can be created and dropped")
    with psycopg.connect(postgres_server, autocommit=True) as admin_conn:
        admin_conn.execute(f'DROP DATABASE "{database}" WITH (FORCE)')
    async with client_for(service) as client:
        answer = await client.post(SESSION, json={"shareToken": token})
    assert answer.status_code == 503 and upstream.requests == []


async def test_unreadable_owner_key_fails_closed(sqlite_url: str, make_service: Factory, keyring: Keyring, upstream: Upstream) -> None:
    service: TokenService = await make_service(sqlite_url)
    token = await seed_owner(service.store, keyring)
    service.settings.keyring = Keyring({9: b"\x00" * 32}, 9)  # the operator dropped the key still in use
    async with client_for(service) as client:
        answer = await client.post(SESSION, json={"shareToken": token})
    assert answer.status_code == 503 and upstream.requests == []
    assert [row.outcome for row in await service.store.list_executions()] == ["owner_key_unreadable"]


async def test_other_routes_answer_json_errors(sqlite_url: str, make_service: Factory) -> None:
    service = await make_service(sqlite_url)
    async with client_for(service) as client:
        missing = await client.get("/nope")
        wrong_method = await client.get(SESSION)
        document = await client.get("/openapi.json")
    assert missing.status_code == 404 and "error" in missing.json()
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "POST"
    assert document.status_code == 200 and SESSION in document.json()["paths"]
    assert set(document.json()["paths"][SESSION]["post"]["responses"]) >= {"200", "400", "401", "403", "413", "415", "429", "502", "503", "504"}


async def test_client_address_in_log_is_the_peer(sqlite_url: str, make_service: Factory, keyring: Keyring) -> None:
    service = await make_service(sqlite_url)
    token = await seed_owner(service.store, keyring)
    async with client_for(service, client=CLIENT) as client:
        await client.post(SESSION, json={"shareToken": token}, headers={"X-Forwarded-For": "192.0.2.1"})
    [row] = await service.store.list_executions()
    assert row.client_ip == CLIENT[0]
