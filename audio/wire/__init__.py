"""The Realtime API's wire format, shared by the client, the local server and the token service.

Event names and parsing (``protocol``), the client's session settings and the one list of voices
(``config``), the GA session object's schema (``session_schema``), and identifiers and error objects
as the service writes them (``objects``), and the audio delta decoded in one pass (``audio_delta``). No I/O.

May import: ``audio.base``.
Public names: ``__all__`` below; other packages import these names only.
"""

from __future__ import annotations

from audio.base.exports import lazy_exports

_HOMES = {
    "Audio": "session_schema",
    "AudioDelta": "audio_delta",
    "AudioOutput": "session_schema",
    "BadAudioDelta": "audio_delta",
    "ConfigError": "session_schema",
    "decode_audio_delta": "audio_delta",
    "DEFAULT_BASE_URL": "config",
    "DEFAULT_MODEL": "objects",
    "default_session": "session_schema",
    "DisabledVad": "config",
    "error_body": "objects",
    "error_object": "objects",
    "event_session": "session_schema",
    "MAX_SESSION_MINUTES": "config",
    "merge": "session_schema",
    "new_id": "objects",
    "normalize_base_url": "config",
    "NOT_AUDIO": "audio_delta",
    "parse_update": "session_schema",
    "protocol": "protocol",
    "secret_session": "session_schema",
    "SEMANTIC_SILENCE_MS": "config",
    "SemanticVad": "config",
    "ServerVad": "config",
    "SessionConfig": "config",
    "SessionUpdate": "session_schema",
    "SPEECH_VOICES": "config",
    "update_voice": "session_schema",
    "Voice": "config",
    "voice_of": "session_schema",
    "VOICES": "config",
}

__all__ = sorted(_HOMES)
__getattr__, __dir__ = lazy_exports(__name__, _HOMES)
