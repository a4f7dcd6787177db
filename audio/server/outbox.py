"""Where a call's server events go: one ``Outbox`` per call, whatever the transport.

Every collaborator of a call (conversation, input audio, responses) reports
through the narrow :class:`EventSink` protocol; the outbox stamps each event
with an ``event_id``, records it for tests and hands its JSON to the
transport's ``deliver`` callable (the WebRTC data channel or the WebSocket).
"""

from __future__ import annotations

import collections
import json
import logging
from collections.abc import Callable
from typing import Any, Protocol

from audio.wire.objects import error_object, new_id

logger = logging.getLogger("voxflow.realtime.server")

RECORD_LIMIT = 5000
RECORDED_AUDIO_CHARS = 64  # audio payloads are recorded cut to this length (the record is for inspection)


def for_the_record(event: dict[str, Any], key: str) -> dict[str, Any]:
    """``event`` with a base64 audio payload under ``key`` cut short, so a long call's record stays small."""
    payload = event.get(key)
    if isinstance(payload, str) and len(payload) > RECORDED_AUDIO_CHARS:
        return {**event, key: payload[:RECORDED_AUDIO_CHARS]}
    return event


class EventSink(Protocol):
    def send(self, type: str, **fields: Any) -> None:
        """Emit one server event."""
        ...

    def send_error(self, code: str, message: str, *, type: str = "invalid_request_error",
                   param: str | None = None, event_id: str | None = None) -> None:
        """Emit an ``error`` event in the service's shape."""
        ...


class Outbox:
    """Stamps, records and delivers server events; ``deliver`` is None until the transport is open."""

    def __init__(self, call_id: str, encode: Callable[[dict[str, Any]], str] = json.dumps) -> None:
        self.call_id = call_id
        self._encode = encode  # json.dumps, or a KeyShuffler's (``key_shuffle.py``)
        self.sent: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECORD_LIMIT)
        self.deliver: Callable[[str], None] | None = None

    def send(self, type: str, **fields: Any) -> None:
        event = {"type": type, "event_id": new_id("event"), **fields}
        self.sent.append(for_the_record(event, "delta") if type == "response.output_audio.delta" else event)
        if self.deliver is None:
            return
        try:
            self.deliver(self._encode(event))
        except Exception:  # the transport closed under us; the call is ending anyway
            logger.debug("call %s: could not send %s", self.call_id, type)

    def send_error(self, code: str, message: str, *, type: str = "invalid_request_error",
                   param: str | None = None, event_id: str | None = None) -> None:
        self.send("error", error=error_object(code, message, type=type, param=param, event_id=event_id))
