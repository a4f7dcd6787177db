"""What a local Realtime server does: address, key, reply policy, speech and faults.

Plain dataclasses because both the CLI and tests build them directly; the
values a *client* sends are validated with pydantic elsewhere (session_config).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from audio.base.clock import Clock, SystemClock
from audio.base.errors import VoxflowError
from audio.speech.settings import EngineName, RecognizerSettings

if TYPE_CHECKING:
    from audio.server.tool_script import ToolScript

ReplyPolicyName = Literal["echo", "script", "echo-audio"]
ErrorMoment = Literal["session_created", "next_response"]


@dataclass
class FaultConfig:
    """Misbehaviour on demand, so client code can be tested against every failure it must survive.

    Times are seconds on the server's clock, counted from the moment the call's
    data channel opened (``session.created``).
    """

    drop_after_seconds: float | None = None
    """Close the peer connection abruptly this long after ``session.created``."""
    drop_mid_reply: bool = False
    """Close the peer connection halfway through the first reply's audio."""
    malformed_event: bool = False
    """Send one text message that is not JSON right after ``session.created``."""
    sdp_error_status: int | None = None
    """Answer ``POST /v1/realtime/calls`` with this HTTP status and OpenAI's error JSON."""
    garbage_sdp: bool = False
    """Answer ``POST /v1/realtime/calls`` with status 201 and a body that is not SDP."""
    answer_delay_seconds: float = 0.0
    """Wait this long (real time) before answering ``POST /v1/realtime/calls``."""
    error_code: str | None = None
    """Emit an ``error`` event with this code at ``error_when``."""
    error_when: ErrorMoment = "session_created"
    """``session_created``: right after it; ``next_response``: instead of the next response."""
    expire_after_seconds: float | None = None
    """End the session early with ``error{code: session_expired}`` and close."""
    fail_transcription: bool = False
    """Answer every input transcription with ``conversation.item.input_audio_transcription.failed``."""
    no_client_secrets: bool = False
    """Answer ``POST /v1/realtime/client_secrets`` with 404, as a server without that route does."""
    refuse_call_form: int | None = None
    """Answer the standard-key form of ``POST /v1/realtime/calls`` (multipart ``sdp`` + ``session``) with this status."""
    busy_connects: int = 0
    """Answer this many call offers and WebSocket connects with 503 ("slots in use"), then serve normally."""
    busy_retry_after: float | None = None
    """The ``Retry-After`` (seconds) of those 503 answers; None: no header."""


@dataclass
class ServerConfig:
    """How a :class:`~audio.server.LocalRealtimeServer` behaves."""

    host: str = "127.0.0.1"
    port: int = 0  # 0: pick a free port (see ``LocalRealtimeServer.base_url``)
    api_key: str | None = None  # None: any key (or none) is accepted
    reply: ReplyPolicyName = "echo"
    script: list[str] = field(default_factory=list)
    faults: FaultConfig = field(default_factory=FaultConfig)
    speech: bool = True  # False: skip recognition and eSpeak even when installed (tone + "(speech, N s)")
    recognizer: EngineName = "whisper"  # or "pocketsphinx" (the small fallback)
    model_dir: Path | None = None  # a CTranslate2 Whisper folder instead of the bundled tiny.en
    recognizer_workers: int = 0  # recogniser processes; 0: one (the model loaded once)
    recognizer_slots: int = 0  # turns each recogniser process decodes at once; 0: the cores shared out between them
    recognizer_threads: int = 0  # CTranslate2 threads per slot; 0: the cores of its process, at most 2
    max_session_seconds: float = 3600.0  # the service's 60-minute cap
    output_rate: int = 48_000  # rate of the generated reply audio (24000 or 48000)
    clock: Clock = field(default_factory=SystemClock)  # session cap, faults and key expiry
    rate_limits: bool = True  # send ``rate_limits.updated`` after each response
    rules: ToolScript | None = None  # a rule script (replies and function calls); wins over ``reply``
    websocket_burst: bool = False  # send each WebSocket reply's audio at once (the service sends it faster than real time)
    shuffle_keys: bool = False  # write every event's keys in random order, with unknown extra keys (key_shuffle.py)
    shuffle_seed: int = 0  # the random source of ``shuffle_keys`` (each call starts from it)
    playback_events: bool = True  # False: no output_audio_buffer.* events over WebRTC either (servers that omit them)
    reply_seconds: float | None = None  # every reply's audio lasts exactly this long (short replies in tests)

    def recognizer_settings(self) -> RecognizerSettings:
        return RecognizerSettings(self.recognizer, self.model_dir, self.recognizer_workers,
                                  threads=self.recognizer_threads, slots=self.recognizer_slots)

    def __post_init__(self) -> None:
        self.recognizer_settings()  # refuses an unknown engine, or --model-dir without whisper
        if self.reply not in ("echo", "script", "echo-audio"):
            raise VoxflowError(f"Unknown reply policy {self.reply!r} for the local Realtime server.",
                               hint="Use echo, script or echo-audio.")
        if self.output_rate not in (24_000, 48_000):
            raise VoxflowError(f"The local Realtime server generates 24000 or 48000 Hz audio, not {self.output_rate}.")
        if self.max_session_seconds <= 0:
            raise VoxflowError("The local Realtime server's session cap must be positive.")
