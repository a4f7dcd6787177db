"""Keys never reach a log line, an error body or an event: neither the API key nor an ephemeral ``ek_``."""

from __future__ import annotations

import json
import logging

import pytest

pytestmark = pytest.mark.slow

API_KEY = "sk-never-show-this-key"


async def test_no_secret_in_logs_errors_or_events(make_server, make_client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="voxflow")
    caplog.set_level(logging.INFO)
    server = await make_server(api_key=API_KEY)
    client = make_client(server.base_url, api_key=API_KEY)
    minted = await client.mint({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
    ephemeral = minted.json()["value"]
    answer = await client.offer(ephemeral)
    assert answer.status_code == 201
    await client.next("session.created")
    client.send("conversation.item.create", item={
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]})
    client.send("response.create", response={"output_modalities": ["text"]})
    client.send("no.such.event")
    await client.next("response.done")
    await client.next("error")
    wrong = make_client(server.base_url, api_key="sk-wrong-secret")
    refused = await wrong.mint()
    expired = await make_client(server.base_url).offer(ephemeral + "x")
    await server.stop()
    logged = "\n".join(record.getMessage() for record in caplog.records)
    texts = [logged, refused.text, expired.text, json.dumps(client.events)]
    for text in texts:
        assert API_KEY not in text and ephemeral not in text and "sk-wrong-secret" not in text
    assert ephemeral.removeprefix("ek_") not in json.dumps([str(call.session) for call in server.ended_calls.values()])
