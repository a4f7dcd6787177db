"""What the local Realtime server tells its observers (``LocalRealtimeServer.events``): calls and recognition.

Plain facts with no server objects attached, so an observer (the metrics of
``serve-realtime --metrics``, a test) cannot reach into a call. Published on
the server's event loop.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallOpened:
    call_id: str
    transport: str  # "webrtc" or "websocket"


@dataclass(frozen=True)
class CallClosed:
    call_id: str
    transport: str
    reason: str


@dataclass(frozen=True)
class TurnRecognized:
    """A committed user turn was recognised (or described, when recognition is off or heard nothing)."""

    seconds: float  # wall time the recogniser took
    audio_seconds: float  # length of the turn's audio


ServerEvent = CallOpened | CallClosed | TurnRecognized
