"""The one transcript file format, shared by the TUI's export key and headless runs.

JSONL: one object per turn with ``item_id``, ``role``, ``text``, ``start``,
``end`` (seconds from the session start, the clock ``--record`` uses too: for a
spoken user turn when the person started and stopped speaking) and ``final``
(plus ``transcribed_at``, when a user turn's transcription arrived, and
``pending`` / ``failed`` / ``interrupted`` when true); a function call is a
``tool`` turn with a ``tool`` object (name, arguments, status, duration, result). Markdown: a ``## Speaker · mm:ss–mm:ss`` heading per
turn, then its text. A reply the person cut in on ends with ``[interrupted]``
in the text forms: its text is the whole reply, which may go past what was heard.
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from audio.session.events import TranscriptEntry

PENDING_MARKDOWN = "(transcribing…)"
INTERRUPTED_MARK = "[interrupted]"


def shown_text(entry: TranscriptEntry) -> str:
    """The entry's text as the text forms show it: an interrupted reply ends with :data:`INTERRUPTED_MARK`."""
    return f"{entry.text.rstrip()} {INTERRUPTED_MARK}".lstrip() if entry.interrupted else entry.text


def entry_record(entry: TranscriptEntry) -> dict[str, object]:
    record: dict[str, object] = {
        "item_id": entry.item_id,
        "role": entry.role,
        "text": entry.text,
        "start": round(entry.start, 3),
        "end": None if entry.end is None else round(entry.end, 3),
        "final": entry.final,
    }
    if entry.transcribed_at is not None:
        record["transcribed_at"] = round(entry.transcribed_at, 3)
    if entry.pending:
        record["pending"] = True
    if entry.failed:
        record["failed"] = True
    if entry.interrupted:
        record["interrupted"] = True
    if entry.tool is not None:
        tool = entry.tool
        record["tool"] = {"call_id": tool.call_id, "name": tool.name, "arguments": tool.arguments, "status": tool.status,
                          "duration": None if tool.duration is None else round(tool.duration, 3), "result": tool.result}
    return record


def to_jsonl(entries: Iterable[TranscriptEntry]) -> str:
    return "".join(json.dumps(entry_record(entry), ensure_ascii=False) + "\n" for entry in entries)


SPEAKERS = {"user": "User", "assistant": "Assistant", "tool": "Tool", "session": "Session"}


def speaker(role: str) -> str:
    """How a role is named in every transcript text: ``User``, ``Assistant``, ``Tool`` (or ``Session``)."""
    return SPEAKERS.get(role, role)


def clock_text(seconds: float | None) -> str:
    """``mm:ss``, or ``h:mm:ss`` past an hour; ``--:--`` when unknown (the app's header and the files use it)."""
    if seconds is None:
        return "--:--"
    whole = max(0, int(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def text_line(role: str, text: str) -> str:
    """``User: ...`` / ``Assistant: ...``; a renewal divider as ``--- ... ---``."""
    if role == "session":
        return f"--- {text} ---"
    return f"{speaker(role)}: {text}"


def to_markdown(entries: Iterable[TranscriptEntry], title: str = "Transcript") -> str:
    lines = [f"# {title}", ""]
    for entry in entries:
        if entry.role == "session":
            lines += ["---", "", f"*{entry.text} · {clock_text(entry.start)}*", ""]
            continue
        name = speaker(entry.role)
        span = clock_text(entry.start) + (f"–{clock_text(entry.end)}" if entry.end is not None else "")
        if entry.tool is not None:
            tool = entry.tool
            took = f" in {tool.duration:.1f} s" if tool.duration is not None else ""
            lines += [f"## {name} · {span}", "", f"`{tool.name}` `{tool.arguments}` — {tool.status}{took}", ""]
            if tool.result.strip():
                lines += ["```", tool.result.strip(), "```", ""]
            continue
        lines += [f"## {name} · {span}", "", shown_text(entry) or PENDING_MARKDOWN, ""]
    return "\n".join(lines)
