"""The conversation so far, as ``conversation.item.create`` events for a new session.

A renewed or reconnected session starts with the instructions (they are part
of the minted session) but no memory of what was said. These items give it
the recent conversation as text: user turns as ``input_text``, assistant turns
as ``output_text`` (the GA item shapes, ``openai.types.realtime``), the most
recent turns first within ``max_chars``, sent oldest first so the new session
reads them in order. Each item carries its own id (prefix :data:`ID_PREFIX`)
so the session can tell these echoes from new turns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from audio.session.events import TranscriptEntry

ID_PREFIX = "carried_"
MAX_CHARS = 4000
MAX_ITEMS = 40


def carried_items(
    entries: Iterable[TranscriptEntry], renewal: int, *, max_chars: int = MAX_CHARS, max_items: int = MAX_ITEMS
) -> list[dict[str, Any]]:
    """Client events recreating the recent conversation (oldest first), within the bounds."""
    chosen: list[TranscriptEntry] = []
    budget = max_chars
    for entry in reversed(list(entries)):
        text = entry.text.strip()
        if entry.role not in ("user", "assistant") or not entry.final or entry.failed or not text:
            continue
        if len(text) > budget or len(chosen) >= max_items:
            break
        budget -= len(text)
        chosen.append(entry)
    events = []
    for index, entry in enumerate(reversed(chosen)):
        part = "input_text" if entry.role == "user" else "output_text"
        events.append({
            "type": "conversation.item.create",
            "item": {
                "id": f"{ID_PREFIX}{renewal}_{index}",  # at most 32 characters, as the service requires
                "type": "message",
                "role": entry.role,
                "content": [{"type": part, "text": entry.text.strip()}],
            },
        })
    return events
