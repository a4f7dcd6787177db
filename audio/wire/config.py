"""SessionConfig: what a realtime session asks for, validated once, rendered as GA JSON.

The node settings, the CLI and tests all build a :class:`SessionConfig`; the
secret providers embed :meth:`SessionConfig.session_json` in the minted session
(the safest place for voice, instructions and turn detection, see
docs/PROTOCOL.md §1) and the session core reads the rest (cap, base URL,
ICE servers, connect timeout). Only the GA shapes are produced.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from audio.base.errors import VoxflowError

Voice = Literal["alloy", "ash", "ballad", "coral", "echo", "sage", "shimmer", "verse", "marin", "cedar"]
VOICES: tuple[str, ...] = get_args(Voice)  # the one list of voices (the app, the node, the local server)
SPEECH_VOICES: tuple[str, ...] = tuple(sorted((*VOICES, "fable", "nova", "onyx")))
"""The voices of ``/v1/audio/speech`` (text to speech): the Realtime voices and three of its own."""
Transport = Literal["webrtc", "websocket", "auto"]
TRANSPORTS: tuple[str, ...] = get_args(Transport)
DEFAULT_BASE_URL = "https://api.openai.com"
MAX_SESSION_MINUTES = 60.0


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


SEMANTIC_SILENCE_MS = {"high": 300, "auto": 800, "medium": 800, "low": 1500}
"""How long a pause ends a turn under ``semantic_vad``, by eagerness: the local server's model of it (the
service publishes no figures). Like ``server_vad``'s ``silence_duration_ms``, ``audio_end_ms`` includes it."""


class SemanticVad(_Strict):
    """The model decides when the user has finished (``eagerness`` tunes how soon)."""

    type: Literal["semantic_vad"] = "semantic_vad"
    eagerness: Literal["low", "medium", "high", "auto"] = "auto"
    create_response: bool = True
    interrupt_response: bool = True


class ServerVad(_Strict):
    """Energy-based turn detection with explicit threshold and timings."""

    type: Literal["server_vad"] = "server_vad"
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    prefix_padding_ms: int = Field(default=300, ge=0, le=5000)
    silence_duration_ms: int = Field(default=500, ge=0, le=10000)
    create_response: bool = True
    interrupt_response: bool = True


class DisabledVad(_Strict):
    """No turn detection: the user toggles push-to-talk."""

    type: Literal["disabled"] = "disabled"


VadConfig = Annotated[SemanticVad | ServerVad | DisabledVad, Field(discriminator="type")]


def normalize_base_url(url: str) -> str:
    """``https://api.openai.com/v1/`` and ``https://api.openai.com`` both mean the same service."""
    url = url.strip().rstrip("/")
    if url.endswith("/v1"):
        url = url[: -len("/v1")]
    return url


class SessionConfig(_Strict):
    """Everything a session needs that is not a secret (keys live in the secret providers)."""

    model: str = Field(default="gpt-realtime", min_length=1)
    voice: Voice = "marin"
    vad: VadConfig = Field(default_factory=SemanticVad)
    instructions: str = ""
    transcription_model: str | None = "gpt-4o-mini-transcribe"
    noise_reduction: Literal["near_field", "far_field"] | None = None
    max_duration: float = Field(default=MAX_SESSION_MINUTES, gt=0, le=MAX_SESSION_MINUTES)
    """Minutes; the service never runs a session longer than 60."""
    base_url: str = DEFAULT_BASE_URL
    ice_servers: tuple[str, ...] = ()
    """STUN/TURN URLs; empty by default (no public STUN lookup on closed networks)."""
    connect_timeout: float = Field(default=15.0, gt=0)
    """Seconds from ``connect()`` until the data channel must be open."""
    transport: Transport = "webrtc"
    """``webrtc``, ``websocket``, or ``auto`` (WebRTC, falling back to WebSocket when ICE does not connect)."""
    renew: bool = False
    """Always on: renew the session before its cap, at a turn boundary (``audio/session/renewal.py``)."""
    reconnect: bool = True
    """After a drop, connect again (with backoff) and carry the conversation over (``audio/session/renewal.py``)."""
    outage_buffer: float = Field(default=20.0, ge=0, le=300)
    """Seconds of microphone audio kept while a connection is being replaced, handed to the next one (0: none)."""
    fallback_after: float = Field(default=5.0, gt=0)
    """``auto``: seconds WebRTC gets to connect before the WebSocket fallback."""
    tools: tuple[dict[str, Any], ...] = ()
    """Function tool definitions (``{"type": "function", "name", "description", "parameters"}``)."""
    tool_choice: Literal["auto", "none", "required"] = "auto"

    @model_validator(mode="before")
    @classmethod
    def _vad_shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and isinstance(data.get("vad"), str):
            data = {**data, "vad": {"type": data["vad"]}}
        return data

    @field_validator("base_url")
    @classmethod
    def _clean_base_url(cls, value: str) -> str:
        value = normalize_base_url(value)
        if not value.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        return value

    @classmethod
    def build(cls, **fields: Any) -> SessionConfig:
        """Validate ``fields`` and raise a :class:`VoxflowError` naming the bad setting."""
        try:
            return cls.model_validate(fields)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'config'}: {err['msg']}" for err in exc.errors()
            )
            raise VoxflowError(
                f"invalid realtime session settings: {problems}",
                hint="Fix the realtime-conversation node's settings (voice, vad, model, max_duration).",
            ) from None

    @property
    def push_to_talk(self) -> bool:
        return self.vad.type == "disabled"

    @property
    def max_seconds(self) -> float:
        return self.max_duration * 60.0

    def turn_detection_json(self) -> dict[str, Any] | None:
        """The GA ``turn_detection`` object; ``None`` switches VAD off (push-to-talk)."""
        if isinstance(self.vad, DisabledVad):
            return None
        return self.vad.model_dump()

    def session_json(self) -> dict[str, Any]:
        """The GA ``session`` object (for client_secrets and ``session.update``)."""
        audio_input: dict[str, Any] = {"turn_detection": self.turn_detection_json()}
        if self.transcription_model:
            audio_input["transcription"] = {"model": self.transcription_model}
        if self.noise_reduction:
            audio_input["noise_reduction"] = {"type": self.noise_reduction}
        session: dict[str, Any] = {
            "type": "realtime",
            "model": self.model,
            "audio": {"input": audio_input, "output": {"voice": self.voice}},
        }
        if self.instructions:
            session["instructions"] = self.instructions
        if self.tools:
            session["tools"] = [dict(tool) for tool in self.tools]
            session["tool_choice"] = self.tool_choice
        return session

    def vad_label(self) -> str:
        return "push-to-talk" if self.push_to_talk else self.vad.type
