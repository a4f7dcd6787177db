"""Transcript files that are complete and valid at every moment.

Each time a turn finishes, the whole file is written to a temporary file and
atomically renamed over the old one, so a crash or Ctrl-C leaves the last
finished turn on disk and never half a line. Rewriting (not appending) keeps
the order right even though a user's transcription often lands after the
assistant's reply. JSONL holds one object per turn (``role``, ``text``,
``start``, ``end``, ``item_id``, ``final``); Markdown has a heading per speaker
turn with its time. The TUI's export key uses the same functions.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from audio.errors import VoxflowError
from audio.realtime.events import TranscriptEntry

PENDING = "(transcribing…)"


def entry_record(entry: TranscriptEntry) -> dict[str, object]:
    return {
        "item_id": entry.item_id,
        "role": entry.role,
        "text": entry.text if entry.text or not entry.pending else "",
        "start": round(entry.start, 3),
        "end": None if entry.end is None else round(entry.end, 3),
        "final": entry.final,
        **({"pending": True} if entry.pending else {}),
        **({"failed": True} if entry.failed else {}),
    }


def to_jsonl(entries: Iterable[TranscriptEntry]) -> str:
    return "".join(json.dumps(entry_record(e), ensure_ascii=False) + "\n" for e in entries)


def _clock(seconds: float) -> str:
    whole = max(0, int(seconds))
    return f"{whole // 3600:d}:{whole // 60 % 60:02d}:{whole % 60:02d}" if whole >= 3600 else f"{whole // 60:02d}:{whole % 60:02d}"


def to_markdown(entries: Iterable[TranscriptEntry], title: str = "Transcript") -> str:
    lines = [f"# {title}", ""]
    for entry in entries:
        speaker = "User" if entry.role == "user" else "Assistant"
        span = _clock(entry.start) + (f"–{_clock(entry.end)}" if entry.end is not None else "")
        lines += [f"## {speaker} · {span}", "", entry.text or PENDING, ""]
    return "\n".join(lines)


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class TranscriptFiles:
    """Keeps one or more transcript files (``.jsonl`` or ``.md``) up to date."""

    def __init__(self, paths: Sequence[Path], title: str = "Transcript") -> None:
        for path in paths:
            if path.suffix.lower() not in (".jsonl", ".md"):
                raise VoxflowError(f"transcript file {path} must end in .jsonl or .md")
        self.paths = list(paths)
        self.title = title
        self.writes = 0

    def write(self, entries: Sequence[TranscriptEntry]) -> None:
        for path in self.paths:
            text = to_jsonl(entries) if path.suffix.lower() == ".jsonl" else to_markdown(entries, self.title)
            try:
                write_atomic(path, text)
            except OSError as exc:
                raise VoxflowError(f"cannot write the transcript to {path}: {exc.strerror}", hint="Choose a writable path with --transcript.") from None
        self.writes += 1
