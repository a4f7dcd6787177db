"""HeardAudio: unheard audio is taken off the end of what arrived, item by item."""

from __future__ import annotations

from audio.session.heard_audio import REMEMBERED_ITEMS, HeardAudio


def cut(item_id: str, end_ms: int) -> dict[str, object]:
    return {"type": "conversation.item.truncate", "item_id": item_id, "content_index": 0, "audio_end_ms": end_ms}


def test_the_reply_is_cut_where_playback_stopped() -> None:
    heard = HeardAudio()
    for _ in range(300):  # 6 s in 20 ms deltas
        heard.received("item_a", 0, 20.0)
    assert heard.truncations(4_250.5) == [cut("item_a", 1_749)]  # floor: never past what was sent
    assert heard.truncations(100.0) == []  # forgotten: a second cut does not truncate it again


def test_a_reply_heard_to_the_end_needs_nothing() -> None:
    heard = HeardAudio()
    heard.received("item_a", 0, 1_000.0)
    assert heard.truncations(0.0) == [] and heard.truncations(0.4) == []


def test_an_unheard_reply_behind_the_cut_one_is_truncated_at_zero() -> None:
    heard = HeardAudio()
    heard.received("item_a", 0, 2_000.0)
    heard.received("item_b", 0, 1_500.0)
    assert heard.truncations(2_000.0) == [cut("item_a", 1_500), cut("item_b", 0)]


def test_a_cut_within_the_newest_reply_leaves_the_older_alone() -> None:
    heard = HeardAudio()
    heard.received("item_a", 0, 2_000.0)
    heard.received("item_b", 0, 1_500.0)
    assert heard.truncations(500.0) == [cut("item_b", 1_000)]


def test_only_the_last_items_are_remembered() -> None:
    heard = HeardAudio()
    for index in range(REMEMBERED_ITEMS + 5):
        heard.received(f"item_{index}", 0, 100.0)
    events = heard.truncations(10_000.0)
    assert len(events) == REMEMBERED_ITEMS and events[-1] == cut(f"item_{REMEMBERED_ITEMS + 4}", 0)
