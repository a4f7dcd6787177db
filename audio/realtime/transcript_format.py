"""The one transcript file format, shared by the TUI's export key and headless runs.

JSONL: one object per turn with ``item_id``, ``role``, ``text``, ``start``,
``end`` (seconds from the session start) and ``final`` (plus ``pending`` /
``failed`` when true). Markdown: a ``## Speaker · mm:ss–mm:ss`` heading per
turn, then its text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from audio.realtime.events import TranscriptEntry

PENDING_MARKDOWN = "(transcribing…)"


def entry_record(entry: TranscriptEntry) -> dict[str, object]:
    record: dict[str, object] = {
        "item_id": entry.item_id,
        "role": entry.role,
        "text": entry.text,
        "start": round(entry.start, 3),
        "end": None if entry.end is None else round(entry.end, 3),
        "final": entry.final,
    }
    if entry.pending:
        record["pending"] = True
    if entry.failed:
        record["failed"] = True
    return record


def to_jsonl(entries: Iterable[TranscriptEntry]) -> str:
    return "".join(json.dumps(entry_record(entry), ensure_ascii=False) + "\n" for entry in entries)


def clock_text(seconds: float) -> str:
    """``mm:ss``, or ``h:mm:ss`` past an hour."""
    whole = max(0, int(seconds))
    if whole >= 3600:
        return f"{whole // 3600:d}:{whole // 60 % 60:02d}:{whole % 60:02d}"
    return f"{whole // 60:02d}:{whole % 60:02d}"


SPEAKERS = {"user": "User", "assistant": "Assistant", "session": "Session"}


def text_line(role: str, text: str) -> str:
    """``User: ...`` / ``Assistant: ...``; a renewal divider as ``--- ... ---``."""
    if role == "session":
        return f"--- {text} ---"
    return f"{SPEAKERS.get(role, role)}: {text}"


def to_markdown(entries: Iterable[TranscriptEntry], title: str = "Transcript") -> str:
    lines = [f"# {title}", ""]
    for entry in entries:
        if entry.role == "session":
            lines += ["---", "", f"*{entry.text} · {clock_text(entry.start)}*", ""]
            continue
        speaker = SPEAKERS.get(entry.role, entry.role)
        span = clock_text(entry.start) + (f"–{clock_text(entry.end)}" if entry.end is not None else "")
        lines += [f"## {speaker} · {span}", "", entry.text or PENDING_MARKDOWN, ""]
    return "\n".join(lines)
