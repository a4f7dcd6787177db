"""``POST /v1/audio/speech`` answered offline: OpenAI's text-to-speech route, spoken by eSpeak.

The scripted caller of ``voxflow test`` speaks ``openai:NAME`` voices through
this route (``audio/speech/speech_client.py``); against the local server it
gets eSpeak in the voice's local style (``audio/speech/engines.py``'s
``VOICE_STYLES``, the same one a Realtime reply in that voice has), so such a
scenario runs offline and tests have a real server to call. The body is
OpenAI's (``model``, ``voice``, ``input``, ``response_format``); the answer
is ``pcm`` (24 kHz 16-bit little-endian mono) or ``wav``, and anything the
server cannot honour (another format, a speed, streaming) is a 400 in
OpenAI's error shape, never a silent approximation. ``instructions`` (how to
say it) is accepted and not followed, as the service does for ``tts-1``:
eSpeak has one way of speaking per voice.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.responses import JSONResponse, Response

from audio.dsp import wav_header
from audio.speech import SPEECH_RATE, SpeechEngines
from audio.wire import SPEECH_VOICES, error_body

MODELS = re.compile(r"^(gpt-4o-mini-tts|tts-1|tts-1-hd)(-\d{4}-\d{2}-\d{2})?$")
"""The speech models the service names (and their dated snapshots)."""
FORMATS = {"pcm": "audio/pcm", "wav": "audio/wav"}
UNSUPPORTED_FORMATS = ("mp3", "opus", "aac", "flac")  # the service's other formats: refused by name
MAX_INPUT_CHARS = 4096
KNOWN_KEYS = {"model", "voice", "input", "response_format", "instructions", "speed", "stream_format"}


def _refuse(message: str, *, param: str | None, code: str = "invalid_value") -> JSONResponse:
    return JSONResponse(error_body(code, message, param=param), status_code=400)


def _checked(body: Any) -> dict[str, Any] | JSONResponse:
    """The request, or the 400 that says what is wrong with it."""
    if not isinstance(body, dict):
        return _refuse("The request body must be a JSON object.", param=None, code="invalid_json")
    unknown = sorted(body.keys() - KNOWN_KEYS)
    if unknown:
        return _refuse(f"Unrecognized request argument supplied: {unknown[0]}", param=unknown[0],
                       code="unknown_parameter")
    model, voice, text = body.get("model"), body.get("voice"), body.get("input")
    if not isinstance(model, str) or not MODELS.match(model):
        return _refuse(f"Invalid model {model!r}: the local server speaks as gpt-4o-mini-tts, tts-1 or tts-1-hd.",
                       param="model", code="model_not_found")
    if not isinstance(voice, str) or voice not in SPEECH_VOICES:
        return _refuse(f"Invalid voice {voice!r}: expected one of {', '.join(SPEECH_VOICES)}.", param="voice")
    if not isinstance(text, str) or not text.strip():
        return _refuse("'input' must be non-empty text.", param="input")
    if len(text) > MAX_INPUT_CHARS:
        return _refuse(f"'input' is {len(text)} characters; the most is {MAX_INPUT_CHARS}.", param="input",
                       code="string_above_max_length")
    fmt = body.get("response_format", "mp3")
    if fmt not in FORMATS:
        known = fmt in UNSUPPORTED_FORMATS
        return _refuse(f"response_format {fmt!r} is {'not spoken by the local server' if known else 'unknown'};"
                       " use pcm or wav.", param="response_format", code="unsupported_value")
    speed = body.get("speed", 1.0)
    if speed != 1.0:  # eSpeak could, but the service's speed curve is unknown: refused rather than guessed
        return _refuse("The local server speaks at speed 1.0 only.", param="speed", code="unsupported_value")
    if body.get("stream_format", "audio") != "audio":
        return _refuse("The local server answers whole audio only (stream_format: audio).", param="stream_format",
                       code="unsupported_value")
    return body


async def speech_response(raw: bytes, speech: SpeechEngines) -> Response:
    """The route's answer to the request body ``raw`` (the caller has already checked the key)."""
    try:
        parsed = json.loads(raw or b"null")
    except ValueError:
        return _refuse("We could not parse the JSON body of your request.", param=None, code="invalid_json")
    body = _checked(parsed)
    if isinstance(body, JSONResponse):
        return body
    audio = await speech.speak(body["input"], body["voice"], SPEECH_RATE)  # eSpeak; a tone without the local extra
    pcm = audio.astype("<i2").tobytes()
    fmt = body.get("response_format", "mp3")
    if fmt == "wav":
        pcm = wav_header(SPEECH_RATE, 1, len(pcm)) + pcm
    return Response(pcm, media_type=FORMATS[fmt])
