"""The checker itself: it must catch what plain SDK validation lets through."""

from __future__ import annotations

from tests.conformance.sdk_check import CLIENT_SECRET, client_mismatches, mismatches, server_mismatches


def test_a_null_where_the_sdk_wants_a_string_is_flagged() -> None:
    problems = server_mismatches([{"type": "output_audio_buffer.cleared", "event_id": "e1", "response_id": None}])
    assert problems == ["output_audio_buffer.cleared: response_id: Input should be a valid string (got None)"]


def test_undeclared_keys_are_flagged_at_any_depth() -> None:
    event = {"type": "response.create", "response": {"conversation": "none", "bogus": 1, "input": [
        {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi", "x": 2}]}]}}
    assert client_mismatches([event]) == [
        "response.create: undeclared key response.create.response.bogus",
        "response.create: undeclared key response.create.response.input[0].content[0].x",
    ]


def test_strict_types_and_unknown_event_types() -> None:
    limits = {"type": "rate_limits.updated", "event_id": "e", "rate_limits": [{"name": "requests", "limit": "9"}]}
    assert server_mismatches([limits]) == [
        "rate_limits.updated: rate_limits.0.limit: Input should be a valid integer (got '9')"]
    assert server_mismatches([{"type": "response.invented", "event_id": "e"}]) == [
        "response.invented: no SDK model has this type"]


def test_conforming_events_pass() -> None:
    assert server_mismatches([{"type": "input_audio_buffer.timeout_triggered", "event_id": "e", "item_id": "i",
                               "audio_start_ms": 0, "audio_end_ms": 5000}]) == []
    assert client_mismatches([{"type": "conversation.item.retrieve", "item_id": "item_1"}]) == []
    assert mismatches({"value": "ek_1", "expires_at": 1, "session": {"type": "realtime", "object": "realtime.session",
                                                                      "id": "sess_1"}}, CLIENT_SECRET, "cs") == []
