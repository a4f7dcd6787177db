"""``audio.input.transcription`` checked against what the local recogniser can do, worded as the service words it.

``model``: the service accepts its transcription models by name and refuses
others (``invalid_value`` on ``...transcription.model``); locally every
accepted name is served by the one recogniser the server runs (Whisper
tiny.en by default), which the docs say. ``language`` / ``languages``:
ISO-639-1 codes as in the service; the recogniser honours the language when
its model is multilingual (``--model-dir`` with such a model) and refuses any
language but English when it is English-only, rather than pretending.
``prompt`` is passed to Whisper as its previous-text prompt.
"""

from __future__ import annotations

import re
from typing import Any

from audio.wire.session_schema import ConfigError

SERVICE_MODELS = (  # openai.types.realtime.AudioTranscription.model
    "whisper-1", "gpt-transcribe", "gpt-live-transcribe", "gpt-4o-mini-transcribe",
    "gpt-4o-mini-transcribe-2025-12-15", "gpt-4o-transcribe", "gpt-4o-transcribe-diarize", "gpt-realtime-whisper",
)
PARAM = "session.audio.input.transcription"
ISO_639_1 = re.compile(r"^[a-z]{2}$")


def check_transcription(session: dict[str, Any], *, multilingual: bool | None, recognizer: str) -> None:
    """Refuse (ConfigError) what the service refuses, and languages the local model cannot hear.

    ``multilingual`` is None when no recogniser runs (speech is only described):
    then any valid language is accepted.
    """
    settings = ((session.get("audio") or {}).get("input") or {}).get("transcription")
    if not isinstance(settings, dict):
        return
    model = settings.get("model")
    if model is not None and model not in SERVICE_MODELS:
        raise ConfigError("invalid_value", f"Invalid value: '{model}'. Supported values are: "
                          + ", ".join(f"'{name}'" for name in SERVICE_MODELS) + ".", f"{PARAM}.model")
    languages = [("language", settings.get("language"))]
    languages += [("languages", code) for code in settings.get("languages") or []]
    for field, code in languages:
        if code is None:
            continue
        if not isinstance(code, str) or not ISO_639_1.match(code):
            raise ConfigError("invalid_value", f"Invalid value for '{PARAM}.{field}': '{code}' is not an ISO-639-1"
                              " language code (e.g. 'en').", f"{PARAM}.{field}")
        if multilingual is False and code != "en":
            raise ConfigError("invalid_value", f"Invalid value for '{PARAM}.{field}': the local server's recogniser"
                              f" ({recognizer}) hears English only, not '{code}'; use 'en', or start"
                              " serve-realtime with --model-dir and a multilingual Whisper model.", f"{PARAM}.{field}")
