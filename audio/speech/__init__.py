"""Speech: offline recognition and synthesis, speech probability, the recogniser's worker, and text to speech over HTTP.

The engines the local Realtime server hears and speaks with (Whisper by default, pocketsphinx as the small
fallback, eSpeak NG for synthesis), the bounded pool of recogniser processes that calls share fairly,
the Silero speech scorer shared by the server's VAD and the client's local barge-in, and the
conditioning recognition wants (mono, 16 kHz, no DC). And the client of OpenAI's ``/v1/audio/speech``
(which the local server answers too) with its on-disk cache, for callers that speak in OpenAI's voices.

May import: ``audio.base``, ``audio.dsp``.
Public names: ``__all__`` below; other packages import these names only.
"""

from __future__ import annotations

from audio.base.exports import lazy_exports

_HOMES = {
    "default_cache_dir": "speech_cache",
    "DEFAULT_SPEECH_MODEL": "speech_client",
    "describe_speech": "engines",
    "EngineName": "settings",
    "filter_mono": "conditioning",
    "MODELS": "speech_probability",
    "normalize_english": "english_normalizer",
    "Piece": "recognizer_pool",
    "Recognition": "recognizer_pool",
    "RECOGNITION_RATE": "engines",
    "RecognitionFailed": "recognizer_pool",
    "RecognizerPool": "recognizer_pool",
    "RecognizerSettings": "settings",
    "remove_dc": "conditioning",
    "resample_mono": "conditioning",
    "SileroScorer": "speech_probability",
    "SPEECH_RATE": "speech_client",
    "SpeechCache": "speech_cache",
    "SpeechClient": "speech_client",
    "SpeechEngines": "engines",
    "SpeechScorer": "speech_probability",
    "Synthesizer": "engines",
    "tone_for": "engines",
    "word_error_rate": "wer",
    "word_errors": "wer",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
