"""SessionConfig renders the GA session shape; protocol parsing accepts aliases and survives garbage."""

from __future__ import annotations

import pytest

from audio.base.errors import VoxflowError
from audio.wire import protocol
from audio.wire.config import SessionConfig


def test_defaults_render_ga_session() -> None:
    session = SessionConfig(instructions="Be brief.").session_json()
    assert session == {
        "type": "realtime",
        "model": "gpt-realtime",
        "instructions": "Be brief.",
        "audio": {
            "input": {
                "turn_detection": {
                    "type": "semantic_vad", "eagerness": "auto", "create_response": True, "interrupt_response": True,
                },
                "transcription": {"model": "gpt-4o-mini-transcribe"},
            },
            "output": {"voice": "marin"},
        },
    }


def test_server_vad_and_disabled() -> None:
    server = SessionConfig.build(vad={"type": "server_vad", "threshold": 0.3, "silence_duration_ms": 700})
    detection = server.session_json()["audio"]["input"]["turn_detection"]
    assert detection["type"] == "server_vad" and detection["threshold"] == 0.3
    assert detection["silence_duration_ms"] == 700 and detection["prefix_padding_ms"] == 300
    ptt = SessionConfig.build(vad="disabled")
    assert ptt.push_to_talk and ptt.session_json()["audio"]["input"]["turn_detection"] is None
    assert ptt.vad_label() == "push-to-talk"


@pytest.mark.parametrize(
    "fields",
    [{"voice": "bob"}, {"max_duration": 61}, {"max_duration": 0}, {"vad": "loud"}, {"base_url": "ftp://x"}],
)
def test_bad_settings_raise_voxflow_error(fields: dict) -> None:
    with pytest.raises(VoxflowError) as info:
        SessionConfig.build(**fields)
    assert "invalid realtime session settings" in str(info.value)


def test_base_url_normalised() -> None:
    assert SessionConfig.build(base_url="https://api.openai.com/v1/").base_url == "https://api.openai.com"
    assert SessionConfig().max_seconds == 3600


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("response.audio_transcript.delta", "response.output_audio_transcript.delta"),
        ("response.audio.done", "response.output_audio.done"),
        ("response.text.delta", "response.output_text.delta"),
        ("conversation.item.created", "conversation.item.added"),
        ("response.done", "response.done"),
    ],
)
def test_aliases(old: str, new: str) -> None:
    event = protocol.parse_server_event('{"type": "%s", "x": 1}' % old)
    assert isinstance(event, protocol.ServerEvent)
    assert event.type == new and event.raw_type == old and event.get("x") == 1


MARK = "sk-MARK1234"  # stands for a secret inside a malformed message


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{not json " + MARK, "not JSON (JSONDecodeError)"),
        ('["' + MARK + '", 2]', "a JSON list, not an object"),
        ('{"no": "' + MARK + '"}', "no string 'type' field"),
        ('{"type": 5, "key": "' + MARK + '"}', "no string 'type' field"),
        (b"\xff\xfe" + MARK.encode(), "not JSON (UnicodeDecodeError)"),
    ],
)
def test_malformed_reports_without_content(text: str | bytes, problem: str) -> None:
    event = protocol.parse_server_event(text)
    assert isinstance(event, protocol.MalformedEvent)
    assert event.problem == problem and event.size == len(text)
    assert "MARK" not in event.problem and "MARK" not in repr(event)


def test_client_events_are_compact() -> None:
    encoded = protocol.encode(protocol.user_text_item("hi"))
    assert " " not in encoded
    assert protocol.session_update({"instructions": "x"})["session"]["type"] == "realtime"


def test_error_fields() -> None:
    event = protocol.parse_server_event('{"type":"error","error":{"code":"session_expired","message":"over"}}')
    assert isinstance(event, protocol.ServerEvent)
    assert protocol.error_fields(event) == ("session_expired", "over")
    bare = protocol.parse_server_event('{"type":"error"}')
    assert isinstance(bare, protocol.ServerEvent)
    assert protocol.error_fields(bare)[0] is None
