"""``voxflow serve-realtime --shuffle-keys``: every event's keys in a seeded random order, with unknown keys added."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets

from tests.realtime_server.serve_process import serve_realtime


async def first_events(base_url: str, count: int) -> list[str]:
    """The raw text of the first ``count`` events of a WebSocket session with one typed turn."""
    url = base_url.replace("http://", "ws://") + "/v1/realtime?model=gpt-realtime"
    texts: list[str] = []
    async with websockets.connect(url, additional_headers={"Authorization": "Bearer sk-test"}) as ws:
        await ws.send(json.dumps({"type": "conversation.item.create", "item": {
            "type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello"}]}}))
        await ws.send(json.dumps({"type": "response.create"}))
        while len(texts) < count:
            texts.append(str(await asyncio.wait_for(ws.recv(), 20)))
    return texts


@pytest.mark.slow
def test_shuffle_keys_serves_events_whose_type_is_not_always_first() -> None:
    with serve_realtime("--no-speech", "--shuffle-keys", "--shuffle-seed", "5") as served:
        assert "event keys shuffled" in served.banner
        texts = asyncio.run(first_events(served.base_url, 12))
    events = [json.loads(text) for text in texts]
    assert events[0]["type"] == "session.created" and all(isinstance(event.get("type"), str) for event in events)
    assert any(not text.startswith('{"type"') for text in texts)
    assert any("x_unknown_" in text for text in texts)
    assert served.process.returncode == 0 and "Traceback" not in served.rest
