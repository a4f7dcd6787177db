"""The local server's shuffling test mode: same events, keys in a seeded random order, unknown keys added."""

from __future__ import annotations

import json
from typing import Any

from audio.server.key_shuffle import KeyShuffler

EVENT = {"type": "response.done", "event_id": "event_1",
         "response": {"id": "resp_1", "status": "completed", "output": [{"id": "item_1", "type": "message",
                                                                          "content": [{"type": "output_audio", "transcript": "hi"}]}],
                      "usage": {"total_tokens": 3, "input_tokens": 1, "output_tokens": 2}}}


def known(value: Any) -> Any:
    """``value`` without the keys the shuffler added."""
    if isinstance(value, dict):
        return {key: known(item) for key, item in value.items() if not key.startswith("x_unknown")}
    if isinstance(value, list):
        return [known(item) for item in value]
    return value


def key_orders(value: Any) -> list[list[str]]:
    if isinstance(value, dict):
        return [list(value)] + [order for item in value.values() for order in key_orders(item)]
    if isinstance(value, list):
        return [order for item in value for order in key_orders(item)]
    return []


def test_shuffled_events_hold_the_same_content_in_other_orders_with_unknown_keys() -> None:
    shuffler = KeyShuffler(21)
    texts = [shuffler.encode(EVENT) for _ in range(20)]
    decoded = [json.loads(text) for text in texts]
    assert all(known(event) == EVENT for event in decoded)
    assert len({json.dumps(key_orders(known(event))) for event in decoded}) > 10  # orders vary, at every level
    assert any(list(event)[-1] == "type" for event in decoded)
    assert any("x_unknown" in text for text in texts)
    assert [KeyShuffler(21).encode(EVENT) for _ in range(1)] == texts[:1]  # seeded: reproducible
