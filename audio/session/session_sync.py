"""Whether the service's session matches what the config asks for, and the ``session.update`` if not.

The minted session normally carries voice, instructions, turn detection and
tools already; a service (or a token service) may have dropped some, so after
``session.created`` the session core compares the fields the user can see and
sends one update only when they differ.
"""

from __future__ import annotations

from typing import Any

from audio.wire import protocol
from audio.wire.config import SessionConfig


def session_update_needed(config: SessionConfig, have: dict[str, Any]) -> dict[str, Any] | None:
    """The ``session.update`` event to send, or None when the effective session already matches."""
    wanted = config.session_json()
    have_audio = have.get("audio") or {}
    have_input = have_audio.get("input") or {}
    wanted_input = wanted["audio"]["input"]
    differs = (
        (have_audio.get("output") or {}).get("voice") != config.voice
        or (have.get("instructions") or "") != config.instructions
        or ((have_input.get("turn_detection") or {}).get("type"))
        != ((wanted_input.get("turn_detection") or {}).get("type"))
        or ((have_input.get("transcription") or {}).get("model"))
        != ((wanted_input.get("transcription") or {}).get("model"))
        or _tool_names(have) != _tool_names(wanted)
    )
    if not differs:
        return None
    return protocol.session_update({key: value for key, value in wanted.items() if key not in ("type", "model")})


def _tool_names(session: dict[str, Any]) -> list[str]:
    return sorted(str(tool.get("name")) for tool in session.get("tools") or [] if isinstance(tool, dict))
