"""The Realtime wire vocabulary: event names, older aliases, parsing, client events.

Everything that knows a literal event name lives here, so the session core
reads like the protocol (docs/PROTOCOL.md §3-§4) and a renamed event is a
one-line change. Parsing never raises for content: malformed text is reported
as :class:`MalformedEvent` without echoing the payload (it might hold a secret).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

# --- server events (GA names) ---------------------------------------------------
SESSION_CREATED = "session.created"
SESSION_UPDATED = "session.updated"
SPEECH_STARTED = "input_audio_buffer.speech_started"
SPEECH_STOPPED = "input_audio_buffer.speech_stopped"
INPUT_COMMITTED = "input_audio_buffer.committed"
INPUT_CLEARED = "input_audio_buffer.cleared"
ITEM_ADDED = "conversation.item.added"
ITEM_DONE = "conversation.item.done"
INPUT_TRANSCRIPTION_DELTA = "conversation.item.input_audio_transcription.delta"
INPUT_TRANSCRIPTION_COMPLETED = "conversation.item.input_audio_transcription.completed"
INPUT_TRANSCRIPTION_FAILED = "conversation.item.input_audio_transcription.failed"
RESPONSE_CREATED = "response.created"
RESPONSE_DONE = "response.done"
OUTPUT_AUDIO_TRANSCRIPT_DELTA = "response.output_audio_transcript.delta"
OUTPUT_AUDIO_TRANSCRIPT_DONE = "response.output_audio_transcript.done"
OUTPUT_TEXT_DELTA = "response.output_text.delta"
OUTPUT_TEXT_DONE = "response.output_text.done"
OUTPUT_AUDIO_STARTED = "output_audio_buffer.started"
OUTPUT_AUDIO_STOPPED = "output_audio_buffer.stopped"
OUTPUT_AUDIO_CLEARED = "output_audio_buffer.cleared"
RATE_LIMITS_UPDATED = "rate_limits.updated"
OUTPUT_ITEM_DONE = "response.output_item.done"
FUNCTION_CALL_ARGUMENTS_DELTA = "response.function_call_arguments.delta"
FUNCTION_CALL_ARGUMENTS_DONE = "response.function_call_arguments.done"
ERROR = "error"

# --- error codes with a meaning for the client -----------------------------------
SESSION_EXPIRED = "session_expired"
CANCEL_NOT_ACTIVE = "response_cancel_not_active"
COMMIT_EMPTY = "input_audio_buffer_commit_empty"

_PREFIX_ALIASES: tuple[tuple[str, str], ...] = (
    ("response.audio_transcript.", "response.output_audio_transcript."),
    ("response.audio.", "response.output_audio."),
    ("response.text.", "response.output_text."),
)
_EXACT_ALIASES: dict[str, str] = {"conversation.item.created": ITEM_ADDED}


def canonical(event_type: str) -> str:
    """The GA name for ``event_type`` (older beta names are accepted as aliases)."""
    if event_type in _EXACT_ALIASES:
        return _EXACT_ALIASES[event_type]
    for old, new in _PREFIX_ALIASES:
        if event_type.startswith(old):
            return new + event_type[len(old):]
    return event_type


@dataclass(frozen=True)
class ServerEvent:
    """One parsed server event; ``type`` is already the canonical GA name."""

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    raw_type: str = ""

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)


@dataclass(frozen=True)
class MalformedEvent:
    """Text that is not a JSON object with a string ``type``; ``problem`` is safe to log."""

    problem: str
    size: int


def parse_server_event(message: str | bytes) -> ServerEvent | MalformedEvent:
    """Parse one data-channel message; never raises."""
    size = len(message)
    try:
        data = json.loads(message)
    except (ValueError, UnicodeDecodeError) as exc:
        return MalformedEvent(f"not JSON ({type(exc).__name__})", size)
    if not isinstance(data, dict):
        return MalformedEvent(f"a JSON {type(data).__name__}, not an object", size)
    event_type = data.get("type")
    if not isinstance(event_type, str):
        return MalformedEvent("no string 'type' field", size)
    return ServerEvent(canonical(event_type), data, event_type)


# --- client events ------------------------------------------------------------------
def encode(event: dict[str, Any]) -> str:
    """Compact JSON: client events stay small (large messages stall on small-MTU paths)."""
    return json.dumps(event, separators=(",", ":"), ensure_ascii=False)


def session_update(session: dict[str, Any]) -> dict[str, Any]:
    return {"type": "session.update", "session": {"type": "realtime", **session}}


def input_audio_buffer_clear() -> dict[str, Any]:
    return {"type": "input_audio_buffer.clear"}


def input_audio_buffer_commit() -> dict[str, Any]:
    return {"type": "input_audio_buffer.commit"}


def response_create() -> dict[str, Any]:
    return {"type": "response.create"}


def response_cancel() -> dict[str, Any]:
    return {"type": "response.cancel"}


def output_audio_buffer_clear() -> dict[str, Any]:
    return {"type": "output_audio_buffer.clear"}


def item_truncate(item_id: str, content_index: int, audio_end_ms: int) -> dict[str, Any]:
    """Cut an assistant item's audio where the listener stopped hearing it (WebSocket barge-in)."""
    return {"type": "conversation.item.truncate", "item_id": item_id, "content_index": content_index,
            "audio_end_ms": audio_end_ms}


def user_text_item(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }


# client events whose refusal changes nothing for the user (a notice, not a session error)
BEST_EFFORT = frozenset({"input_audio_buffer.clear", "output_audio_buffer.clear", "response.cancel",
                         "conversation.item.truncate"})


def error_origin(event: ServerEvent) -> tuple[str | None, str | None]:
    """``(error type, event_id of the client event that caused it)`` of an ``error`` event."""
    err = event.get("error")
    if not isinstance(err, dict):
        return None, None
    kind, origin = err.get("type"), err.get("event_id")
    return (kind if isinstance(kind, str) else None), (origin if isinstance(origin, str) else None)


def error_fields(event: ServerEvent) -> tuple[str | None, str]:
    """``(code, message)`` of an ``error`` event, tolerant of missing parts."""
    err = event.get("error")
    if not isinstance(err, dict):
        return None, "the service reported an error without details"
    code = err.get("code") if isinstance(err.get("code"), str) else None
    message = err.get("message") if isinstance(err.get("message"), str) else None
    return code, message or (code or "the service reported an error")
