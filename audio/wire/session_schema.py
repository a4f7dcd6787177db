"""The Realtime session configuration: defaults, validation and partial updates.

Shapes follow the GA interface. pydantic checks what a client sends
(``client_secrets`` body, ``session.update``); a valid update is deep-merged
into the effective config, except ``turn_detection`` which is replaced whole
and filled with its type's defaults, as the service does. Beta-era flat fields
(``voice``, ``turn_detection``, ``modalities``… directly under ``session``) are
refused with ``beta_api_shape_disabled``.
"""

from __future__ import annotations

import copy
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from audio.wire.config import VOICES
from audio.wire.objects import DEFAULT_MODEL, new_id

BETA_FLAT_FIELDS = frozenset({
    "voice", "turn_detection", "modalities", "input_audio_format", "output_audio_format",
    "input_audio_transcription", "input_audio_noise_reduction", "temperature", "max_response_output_tokens",
})


class ConfigError(Exception):
    """A rejected config: ``code`` and ``param`` go into the error event unchanged."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


class _Strict(BaseModel):
    """Unknown keys and wrong JSON types are refused, as the service refuses them (``"5"`` is not 5)."""

    model_config = ConfigDict(extra="forbid", strict=True)


def _whole_float_to_int(value: Any) -> Any:
    """JSON has one number type: 300.0 is the integer 300 (JSON Schema agrees); strict pydantic would not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


Int = Annotated[int, BeforeValidator(_whole_float_to_int)]


def bounded_int(minimum: int, maximum: int) -> Any:
    """An :data:`Int` in [minimum, maximum] (bounds inside the annotation, so JSON Schema shows them too)."""
    return Annotated[int, Field(ge=minimum, le=maximum), BeforeValidator(_whole_float_to_int)]


class TurnDetection(_Strict):
    type: Literal["server_vad", "semantic_vad"]
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    prefix_padding_ms: bounded_int(0, 10_000) | None = None  # type: ignore[valid-type]
    silence_duration_ms: bounded_int(0, 10_000) | None = None  # type: ignore[valid-type]
    eagerness: Literal["low", "medium", "high", "auto"] | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None
    idle_timeout_ms: bounded_int(5_000, 30_000) | None = None  # type: ignore[valid-type]


class AudioFormat(_Strict):
    type: Literal["audio/pcm", "audio/pcmu", "audio/pcma"] | None = None
    rate: Annotated[Literal[24000], BeforeValidator(_whole_float_to_int)] | None = None


class Transcription(_Strict):
    model: str | None = None
    language: str | None = None
    languages: list[str] | None = None
    prompt: str | None = None
    keywords: list[str] | None = None
    delay: Literal["minimal", "low", "medium", "high", "xhigh"] | None = None


class NoiseReduction(_Strict):
    type: Literal["near_field", "far_field"] | None = None
    strength: float | None = Field(default=None, ge=0.0, le=1.0)


class AudioInput(_Strict):
    format: AudioFormat | None = None
    transcription: Transcription | None = None
    noise_reduction: NoiseReduction | None = None
    turn_detection: TurnDetection | None = None


class CustomVoice(_Strict):
    id: str = Field(min_length=1)


class AudioOutput(_Strict):
    format: AudioFormat | None = None
    voice: str | CustomVoice | None = None
    speed: float | None = Field(default=None, ge=0.25, le=1.5)


class Audio(_Strict):
    input: AudioInput | None = None
    output: AudioOutput | None = None


class Reasoning(_Strict):
    effort: Literal["minimal", "low", "medium", "high", "xhigh", "none"] | None = None


class Tracing(_Strict):
    group_id: str | None = None
    metadata: Any = None
    workflow_name: str | None = None


class TokenLimits(_Strict):
    post_instructions: Int | None = None


class RetentionRatio(_Strict):
    type: Literal["retention_ratio"]
    retention_ratio: float = Field(ge=0.0, le=1.0)
    token_limits: TokenLimits | None = None


class Prompt(_Strict):
    id: str
    variables: dict[str, Any] | None = None
    version: str | None = None


Include = Literal["item.input_audio_transcription.logprobs"]


class SessionUpdate(_Strict):
    """The fields of ``openai.types.realtime.RealtimeSessionCreateRequest`` (what the service accepts)."""

    type: Literal["realtime"]
    model: str | None = None
    instructions: str | None = None
    output_modalities: list[Literal["audio", "text"]] | None = Field(default=None, min_length=1)
    audio: Audio | None = None
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    max_output_tokens: Int | Literal["inf"] | None = None
    reasoning: Reasoning | None = None
    tracing: Literal["auto"] | Tracing | None = None
    truncation: Literal["auto", "disabled"] | RetentionRatio | None = None
    prompt: Prompt | None = None
    include: list[Include] | None = None


class TranscriptionAudio(_Strict):
    input: AudioInput | None = None


class TranscriptionSessionUpdate(_Strict):
    """``openai.types.realtime.RealtimeTranscriptionSessionCreateRequest``: input only, no responses."""

    type: Literal["transcription"]
    audio: TranscriptionAudio | None = None
    include: list[Include] | None = None


TRANSCRIPTION_VAD_FIELDS = ("type", "threshold", "prefix_padding_ms", "silence_duration_ms")


def vad_defaults(kind: str) -> dict[str, Any]:
    if kind == "semantic_vad":
        return {"type": "semantic_vad", "eagerness": "auto", "create_response": True, "interrupt_response": True}
    return {
        "type": "server_vad", "threshold": 0.5, "prefix_padding_ms": 300, "silence_duration_ms": 500,
        "idle_timeout_ms": None, "create_response": True, "interrupt_response": True,
    }


def default_session(expires_at: int, kind: str = "realtime") -> dict[str, Any]:
    """The effective config of a fresh session, in the shape ``session.created`` carries."""
    if kind == "transcription":
        return {
            "type": "transcription", "object": "realtime.transcription_session", "id": new_id("sess"),
            "expires_at": expires_at, "include": None,
            "audio": {"input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": {"model": "gpt-4o-mini-transcribe", "language": None, "prompt": None},
                "noise_reduction": None,
                "turn_detection": {key: value for key, value in vad_defaults("server_vad").items()
                                   if key in TRANSCRIPTION_VAD_FIELDS},
            }},
        }
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": new_id("sess"),
        "model": DEFAULT_MODEL,
        "output_modalities": ["audio"],
        "instructions": "",
        "tools": [],
        "tool_choice": "auto",
        "max_output_tokens": "inf",
        "tracing": None,
        "truncation": "auto",
        "prompt": None,
        "expires_at": expires_at,
        "include": None,
        "audio": {
            "input": {
                "format": {"type": "audio/pcm", "rate": 24000},
                "transcription": None,
                "noise_reduction": None,
                "turn_detection": vad_defaults("server_vad"),
            },
            "output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": "marin", "speed": 1.0},
        },
    }


def _describe(error: ValidationError, prefix: str) -> ConfigError:
    """The first problem pydantic found, as the service words it."""
    first = error.errors()[0]
    path = ".".join(str(part) for part in first["loc"] if not str(part).startswith(("function-", "literal[")))
    param = f"{prefix}.{path}" if path else prefix
    if first["type"] == "extra_forbidden":
        return ConfigError("unknown_parameter", f"Unknown parameter: '{param}'.", param)
    if first["type"] == "missing":
        return ConfigError("missing_required_parameter", f"Missing required parameter: '{param}'.", param)
    return ConfigError("invalid_value", f"Invalid value for '{param}': {first['msg']}.", param)


def parse_update(raw: Any, prefix: str = "session", kind: str | None = None) -> dict[str, Any]:
    """Validate a (partial) session object; the fields the client set, as a plain dict.

    ``kind`` is the type of the session being updated (its type cannot change);
    None when the session is being created.
    """
    if not isinstance(raw, dict):
        raise ConfigError("invalid_type", f"Invalid type for '{prefix}': expected an object.", prefix)
    flat = sorted(BETA_FLAT_FIELDS & raw.keys())
    if flat:
        raise ConfigError(
            "beta_api_shape_disabled",
            f"The beta session shape is no longer supported ('{prefix}.{flat[0]}'); use the GA shape"
            " (session.type = 'realtime', audio.input / audio.output).",
            f"{prefix}.{flat[0]}",
        )
    if "type" not in raw:
        raise ConfigError("missing_required_parameter", f"Missing required parameter: '{prefix}.type'.", f"{prefix}.type")
    if kind is not None and raw["type"] != kind:
        raise ConfigError("invalid_value", f"Invalid value for '{prefix}.type': a {kind} session cannot become"
                          f" '{raw['type']}'.", f"{prefix}.type")
    schema: type[BaseModel] = TranscriptionSessionUpdate if raw["type"] == "transcription" else SessionUpdate
    try:
        model = schema.model_validate(raw)
    except ValidationError as error:
        raise _describe(error, prefix) from None
    update = model.model_dump(exclude_unset=True)
    voice = (update.get("audio") or {}).get("output", {}) or {}
    if isinstance(voice.get("voice"), dict):  # a custom voice: sessions report it by its id (a string)
        voice["voice"] = voice["voice"]["id"]
    elif isinstance(voice.get("voice"), str) and voice["voice"] not in VOICES:
        raise ConfigError(
            "invalid_value",
            f"Invalid value for '{prefix}.audio.output.voice': supported voices are {', '.join(VOICES)}.",
            f"{prefix}.audio.output.voice",
        )
    return update


def merge(session: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """A new effective config: ``update`` deep-merged into ``session``."""
    merged = copy.deepcopy(session)
    _merge_into(merged, update, path=())
    detection = merged.get("audio", {}).get("input", {}).get("turn_detection")
    if merged.get("type") == "transcription" and detection is not None:
        # a transcription session never answers: its turn detection has only these knobs
        # (openai.types.realtime.RealtimeTranscriptionSessionTurnDetection)
        merged["audio"]["input"]["turn_detection"] = {
            key: value for key, value in detection.items() if key in TRANSCRIPTION_VAD_FIELDS}
    return merged


def _merge_into(target: dict[str, Any], update: dict[str, Any], path: tuple[str, ...]) -> None:
    for key, value in update.items():
        here = (*path, key)
        if here == ("audio", "input", "turn_detection"):
            target[key] = None if value is None else {**vad_defaults(value["type"]), **{
                k: v for k, v in value.items() if v is not None}}
        elif isinstance(value, dict) and isinstance(target.get(key), dict) and here not in {
            ("audio", "input", "transcription"), ("audio", "input", "noise_reduction"), ("tool_choice",),
            ("tracing",), ("truncation",), ("prompt",), ("reasoning",)
        }:
            _merge_into(target[key], value, here)
        else:
            target[key] = value


RESPONSE_ONLY_FIELDS = ("object", "id", "expires_at")


def event_session(session: dict[str, Any]) -> dict[str, Any]:
    """The session as ``session.created``/``updated`` carry it: the request shape
    (``openai.types.realtime.SessionCreatedEvent.session``), without the
    ``client_secrets`` response's ``object``/``id``/``expires_at``."""
    return {key: value for key, value in session.items() if key not in RESPONSE_ONLY_FIELDS}


REQUEST_ONLY_FIELDS = ("parallel_tool_calls",)


def secret_session(session: dict[str, Any]) -> dict[str, Any]:
    """The session as the ``client_secrets`` response carries it
    (``openai.types.realtime.RealtimeSessionCreateResponse`` has no ``parallel_tool_calls``)."""
    return {key: value for key, value in session.items() if key not in REQUEST_ONLY_FIELDS}


def voice_of(session: dict[str, Any]) -> str:
    """The session's voice name (a custom voice by its id; local synthesis then uses the default voice)."""
    voice = (session.get("audio", {}).get("output") or {}).get("voice", "marin")
    return str(voice["id"] if isinstance(voice, dict) else voice)


def update_voice(update: dict[str, Any]) -> str | None:
    voice = ((update.get("audio") or {}).get("output") or {}).get("voice")
    return str(voice["id"]) if isinstance(voice, dict) else voice
