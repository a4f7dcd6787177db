"""The HTTP contract: request/response models and the OpenAPI document built from them.

A client needs only this: POST JSON to ``/api/realtime/session`` with either
``{"apiKeys": {"openai": "sk-..."}}`` (user-key mode) or ``{"shareToken":
"vxs_...", "runId": "..."}`` (owner-funded mode), plus optional ``voice``,
``instructions``, ``model``, ``vad`` and ``transcriptionModel``; a 200 answer
is ``{"clientSecret": "ek_...", "expiresAt": <epoch seconds>}``; every other
answer is ``{"error": "<what to do>"}``.

``vad`` is the GA ``turn_detection`` object (``server_vad`` or
``semantic_vad``), or ``{"type": "none"}`` / ``null`` for push-to-talk; left
out, the upstream's default applies.

``session`` takes any other field of the GA session object as the SDK defines
it (``openai.types.realtime.RealtimeSessionCreateRequest``: tools, tracing,
truncation, include, prompt, reasoning, noise reduction with strength,
``idle_timeout_ms``...), validated with the same models as the local server
(``audio.wire.session_schema``) and passed through to
``client_secrets``. Model, voice and instructions stay policed wherever they
are given; with a share token, fields that reach into the owner's OpenAI
organisation (stored ``prompt``, ``tracing``, ``mcp`` tools) are refused.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema
from pydantic.json_schema import models_json_schema

from audio.wire.session_schema import Audio, AudioOutput, SessionUpdate

from . import SESSION_PATH
from .share_tokens import TOKEN_PATTERN

OPENAI_KEY_PATTERN = r"^sk-[A-Za-z0-9_-]{8,500}$"
VOICE_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
RUN_ID_PATTERN = r"^(?!sk-|ek_|vxs_)[A-Za-z0-9._:-]{1,128}$"
"""Run ids are logged, so nothing shaped like a key or token is accepted."""
MAX_BODY_BYTES = 16 * 1024
MAX_INSTRUCTIONS_CHARS = 8000
CUSTOM_VOICE_PATTERN = r"^voice_[A-Za-z0-9_-]{1,64}$"


def _whole_float_to_int(value: Any) -> Any:
    """JSON Schema counts 300.0 as an integer; strict pydantic would not."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def json_int(minimum: int, maximum: int) -> Any:
    """An int in [minimum, maximum] that also takes 300.0, documented as a plain JSON Schema integer."""
    return Annotated[
        int,
        BeforeValidator(_whole_float_to_int),
        Field(ge=minimum, le=maximum),
        WithJsonSchema({"type": "integer", "minimum": minimum, "maximum": maximum}),
    ]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class ServerVad(_Strict):
    type: Literal["server_vad"]
    threshold: float | None = Field(default=None, ge=0.0, le=1.0)
    prefix_padding_ms: json_int(0, 5000) | None = None  # type: ignore[valid-type]
    silence_duration_ms: json_int(0, 10000) | None = None  # type: ignore[valid-type]
    create_response: bool | None = None
    interrupt_response: bool | None = None


class SemanticVad(_Strict):
    type: Literal["semantic_vad"]
    eagerness: Literal["low", "medium", "high", "auto"] | None = None
    create_response: bool | None = None
    interrupt_response: bool | None = None


class ManualTurns(_Strict):
    """Push-to-talk: the session is minted with ``turn_detection: null``."""

    type: Literal["none"]


Vad = Annotated[ServerVad | SemanticVad | ManualTurns, Field(discriminator="type")]


class PolicedCustomVoice(_Strict):
    id: str = Field(pattern=CUSTOM_VOICE_PATTERN)


class PolicedAudioOutput(AudioOutput):
    voice: Annotated[str, Field(pattern=VOICE_PATTERN)] | PolicedCustomVoice | None = None  # type: ignore[assignment]


class PolicedAudio(Audio):
    output: PolicedAudioOutput | None = None  # type: ignore[assignment]


class PolicedSession(SessionUpdate):
    """The SDK's GA session (as the local server validates it) with model, voice and instructions policed."""

    model: str | None = Field(default=None, pattern=MODEL_PATTERN)
    instructions: str | None = Field(default=None, max_length=MAX_INSTRUCTIONS_CHARS)
    audio: PolicedAudio | None = None  # type: ignore[assignment]


class FunctionTool(_Strict):
    type: Literal["function"]
    name: str = Field(min_length=1, max_length=64)
    description: str | None = None
    parameters: dict[str, Any] | None = None


class OwnerFundedSession(PolicedSession):
    """No field that reaches into the owner's organisation: a stored prompt, tracing, or MCP tools
    (server-side calls on the owner's key)."""

    prompt: None = None  # type: ignore[assignment]
    tracing: None = None  # type: ignore[assignment]
    tools: list[FunctionTool] | None = None  # type: ignore[assignment]


class ApiKeys(_Strict):
    openai: str = Field(pattern=OPENAI_KEY_PATTERN, repr=False, description="The caller's own OpenAI API key.")


class SessionOptions(_Strict):
    voice: str = Field(default="marin", pattern=VOICE_PATTERN, description="e.g. marin, cedar, alloy.")
    instructions: str | None = Field(default=None, max_length=MAX_INSTRUCTIONS_CHARS)
    model: str = Field(default="gpt-realtime", pattern=MODEL_PATTERN)
    vad: Vad | None = Field(default=None, description="Turn detection; {'type': 'none'} or null for push-to-talk.")
    transcriptionModel: str | None = Field(default="gpt-4o-mini-transcribe", pattern=MODEL_PATTERN)
    session: PolicedSession | None = Field(default=None, description="Any other GA session fields"
                                           " (type 'realtime'), passed through to client_secrets.")

    def ga_session(self) -> dict[str, Any]:
        """The passed-through fields (only those the caller set), as the upstream expects them."""
        return self.session.model_dump(exclude_unset=True, exclude_none=False) if self.session is not None else {}

    @property
    def manual_turns(self) -> bool:
        return isinstance(self.vad, ManualTurns) or ("vad" in self.model_fields_set and self.vad is None)

    def turn_detection(self) -> dict[str, Any] | None:
        if self.vad is None or isinstance(self.vad, ManualTurns):
            return None
        return self.vad.model_dump(exclude_none=True)


class UserKeySessionRequest(SessionOptions):
    """User-key mode: the caller pays with its own key."""

    apiKeys: ApiKeys


class SharedSessionRequest(SessionOptions):
    """Owner-funded mode: a share token spends the flow owner's key."""

    model_config = ConfigDict(regex_engine="python-re")  # RUN_ID_PATTERN uses a lookahead

    session: OwnerFundedSession | None = Field(  # type: ignore[assignment]
        default=None, description="GA session fields as with apiKeys, except those that use the flow owner's"
        " organisation: no stored prompt, no tracing, function tools only.")
    shareToken: str = Field(pattern=TOKEN_PATTERN, repr=False, description="vxs_... as printed by `voxflow share create`.")
    runId: str | None = Field(default=None, pattern=RUN_ID_PATTERN, description="Recorded in the execution log.")



class SessionResponse(BaseModel):
    clientSecret: str = Field(description="Ephemeral key (ek_...) for POST /v1/realtime/calls.")
    expiresAt: int = Field(description="Epoch seconds after which no new session can start with it.")


class ErrorResponse(BaseModel):
    error: str = Field(description="What went wrong and what to do about it.")


_RATE_HEADERS = {
    "X-RateLimit-Limit": ("Sessions allowed per window.", "integer"),
    "X-RateLimit-Remaining": ("Sessions left in the current window.", "integer"),
    "X-RateLimit-Reset": ("Seconds until the current 60 s window ends (200), or until a retry can succeed (429).", "integer"),
}

ERROR_STATUSES: dict[int, str] = {
    400: "Malformed request: not a JSON object, a field invalid, no key given, or the flow owner has not configured an OpenAI API key.",
    401: "Unknown share token.",
    403: "Revoked share token.",
    413: "Body larger than 16 KiB.",
    415: "Content-Type is not application/json.",
    429: "Rate limited: 10 sessions per minute (sliding estimate) per client IP (IPv6: per /64) and per share token.",
    502: "The upstream refused to mint a secret or could not be reached (no upstream detail for owner-funded calls).",
    503: "The token store is unavailable; the service fails closed.",
    504: "The upstream did not answer in time.",
}


def _header_objects(names: dict[str, tuple[str, str]]) -> dict[str, Any]:
    return {name: {"description": text, "schema": {"type": kind}} for name, (text, kind) in names.items()}


def openapi_document() -> dict[str, Any]:
    """OpenAPI 3.1 for the service, its schemas generated from the pydantic models above."""
    _, defs = models_json_schema(
        [
            (UserKeySessionRequest, "validation"),
            (SharedSessionRequest, "validation"),
            (SessionResponse, "serialization"),
            (ErrorResponse, "serialization"),
        ],
        ref_template="#/components/schemas/{model}",
    )
    schemas = defs["$defs"]
    error_content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
    responses: dict[str, Any] = {
        "200": {
            "description": "A freshly minted ephemeral client secret.",
            "headers": _header_objects(_RATE_HEADERS),
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/SessionResponse"}}},
        }
    }
    for status, text in ERROR_STATUSES.items():
        response: dict[str, Any] = {"description": text, "content": error_content}
        if status == 429:
            response["headers"] = _header_objects(
                {"Retry-After": ("Seconds to wait before retrying.", "integer"), **_RATE_HEADERS}
            )
        responses[str(status)] = response
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "voxflow token service",
            "version": "1",
            "description": "Mints short-lived OpenAI Realtime client secrets for terminal clients.",
        },
        "paths": {
            SESSION_PATH: {
                "post": {
                    "operationId": "createRealtimeSession",
                    "summary": "Mint an ephemeral Realtime client secret.",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "oneOf": [
                                        {"$ref": "#/components/schemas/UserKeySessionRequest"},
                                        {"$ref": "#/components/schemas/SharedSessionRequest"},
                                    ]
                                }
                            }
                        },
                    },
                    "responses": responses,
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "getOpenApiDocument",
                    "summary": "This document.",
                    "responses": {"200": {"description": "The OpenAPI document.", "content": {"application/json": {"schema": {"type": "object"}}}}},
                }
            },
        },
        "components": {"schemas": schemas},
    }
