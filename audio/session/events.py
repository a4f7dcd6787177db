"""Typed events the realtime session core publishes to its subscribers.

The TUI and the headless runner both consume exactly these (through
``RealtimeSession.events``, an :class:`~audio.base.pubsub.EventHub`); neither holds
any session logic. Every event is an immutable dataclass; times are seconds
from the session's injected clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal


class SessionState(StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    ERROR = "error"
    RENEWING = "renewing"  # moving to a new session before the cap (renew: true)
    RECONNECTING = "reconnecting"  # the connection dropped; trying again (the reason says which attempt)


class PttState(StrEnum):
    OFF = "off"          # gate closed, nothing being captured
    TALKING = "talking"  # gate open, the user is speaking
    SENDING = "sending"  # released: sending the 250 ms tail, then commit


Role = Literal["user", "assistant", "tool", "session"]  # "session": a renewal/reconnection divider


@dataclass(frozen=True)
class ToolCallInfo:
    """A function call as the transcript shows it (``status``: running, done, error, refused, cancelled)."""

    call_id: str
    name: str
    arguments: str
    status: str
    duration: float | None = None  # seconds, once finished
    result: str = ""  # the output the model got (capped, redacted)
    node_id: str | None = None

    @property
    def first_line(self) -> str:
        stripped = self.result.strip()
        return stripped.splitlines()[0] if stripped else ""

    def summary(self) -> str:
        """``get_weather {"city": "Paris"} · done 0.2 s · sunny`` (one line)."""
        parts = [f"{self.name} {self.arguments}".strip(), self.status + (f" {self.duration:.1f} s" if self.duration is not None else "")]
        if self.first_line:
            parts.append(self.first_line)
        return " · ".join(parts)


@dataclass(frozen=True)
class TranscriptEntry:
    """One turn as it stands now (a snapshot: the live model lives in transcript.py)."""

    item_id: str
    role: Role
    text: str
    final: bool
    start: float
    end: float | None = None
    pending: bool = False  # user turn whose transcription has not arrived yet
    failed: bool = False   # transcription failed; ``text`` says so
    tool: ToolCallInfo | None = None  # role "tool": the function call this entry shows
    interrupted: bool = False  # an assistant reply the person cut in on while it played (text may go past what was heard)
    transcribed_at: float | None = None  # user turn: when its transcription arrived (``start``/``end``: when it was spoken)


@dataclass(frozen=True)
class StateChanged:
    state: SessionState
    reason: str | None = None


@dataclass(frozen=True)
class TranscriptUpdated:
    entry: TranscriptEntry
    index: int  # position of the entry in the ordered transcript


@dataclass(frozen=True)
class TranscriptCleared:
    pass


@dataclass(frozen=True)
class TimerTick:
    elapsed: float
    remaining: float
    warning: bool  # inside the last minute before the cap
    total: float | None = None  # seconds since the first session started (renewals included)


@dataclass(frozen=True)
class SpeechStarted:
    item_id: str | None = None


@dataclass(frozen=True)
class SpeechStopped:
    item_id: str | None = None


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0


@dataclass(frozen=True)
class ResponseStarted:
    response_id: str


@dataclass(frozen=True)
class ResponseDone:
    response_id: str
    status: str
    usage: Usage = field(default_factory=Usage)
    total_usage: Usage = field(default_factory=Usage)  # summed over the session


@dataclass(frozen=True)
class AssistantAudio:
    """The assistant's audio started or stopped playing (``output_audio_buffer.*``)."""

    playing: bool
    response_id: str | None = None


@dataclass(frozen=True)
class Levels:
    input_rms_dbfs: float
    input_peak_dbfs: float
    output_rms_dbfs: float
    output_peak_dbfs: float
    echo: str | None = None
    """What keeps the assistant from hearing itself: ``aec``, ``aec (converging)``, ``guard`` or ``off``."""
    echo_removed_db: float | None = None
    """Live estimate of the echo the canceller removes (aec only)."""
    sent_seconds: float = 0.0
    """Microphone audio sent on this connection so far (a new connection starts again from 0)."""
    played_seconds: float = 0.0
    """Reply audio received for playback on this connection so far."""
    local_barge_ins: int = 0
    """Replies held so far because the cleaned microphone heard the person (the session's local barge-in)."""


@dataclass(frozen=True)
class TurnLatency:
    seconds: float  # end of user speech -> first assistant audio


@dataclass(frozen=True)
class LatencyBudget:
    """Where a turn's time goes, in ms, published about once a second while connected.

    None: not measurable here (no RTCP round trip yet, a transport without a
    jitter buffer, no turn so far). ``playout_ms`` is the reply audio queued
    to be heard (output pipe + a speaker's buffer and its device's output latency).
    """

    network_rtt_ms: float | None = None
    jitter_buffer_ms: float | None = None
    jitter_target_ms: float | None = None
    playout_ms: float | None = None
    turn_latency_ms: float | None = None
    concealed_frames: int = 0


@dataclass(frozen=True)
class RateLimit:
    name: str
    limit: int
    remaining: int
    reset_seconds: float


@dataclass(frozen=True)
class RateLimitsUpdated:
    limits: tuple[RateLimit, ...]


@dataclass(frozen=True)
class SessionErrorEvent:
    """An error from the service or the transport; ``fatal`` ends the session."""

    message: str
    code: str | None = None
    fatal: bool = False


@dataclass(frozen=True)
class PttChanged:
    state: PttState


@dataclass(frozen=True)
class MuteChanged:
    muted: bool


@dataclass(frozen=True)
class ConnectionInfo:
    """Transport and effective session config, re-sent whenever any field changes."""

    ice_state: str = "new"
    datachannel_state: str = "closed"
    call_id: str | None = None
    model: str | None = None
    voice: str | None = None
    vad: str | None = None
    provider: str | None = None
    transport: str | None = None  # "WebRTC" or "WebSocket"


@dataclass(frozen=True)
class Notice:
    """Something the user should read (``level``: info or warning), e.g. a too-short PTT turn."""

    message: str
    level: Literal["info", "warning"] = "info"


@dataclass(frozen=True)
class ToolCallUpdated:
    """A function call started, or ended as done / error / refused / cancelled."""

    call: ToolCallInfo
    item_id: str | None = None  # the function_call item: where the call stands in the conversation

    @property
    def status(self) -> str:
        return self.call.status


SessionEvent = (
    StateChanged | TranscriptUpdated | TranscriptCleared | TimerTick | SpeechStarted | SpeechStopped
    | ResponseStarted | ResponseDone | AssistantAudio | Levels | TurnLatency | LatencyBudget | RateLimitsUpdated
    | SessionErrorEvent | PttChanged | MuteChanged | ConnectionInfo | Notice | ToolCallUpdated
)
