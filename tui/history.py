"""Session history: every app session's transcript, kept on disk while it happens.

Each session the app runs gets an id (its UTC start time and the flow's name,
e.g. ``20261202-051500-demo``) and two files in :func:`history_dir`:
``ID.jsonl`` and ``ID.md``, the same format as ``--transcript``, rewritten
atomically after every finished turn (:class:`tui.live_transcript.LiveTranscript`),
so a dropped SSH connection or a crash keeps every finished turn.
``voxflow history`` lists, shows and exports them; ``voxflow run --no-history``
keeps nothing. The directory is the platform's user data directory
(``$XDG_DATA_HOME/voxflow/history`` on Linux).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import platformdirs

from audio.base.clock import Clock, SystemClock
from audio.base.errors import VoxflowError
from flow.transcript_files import TranscriptFiles

STAMP = "%Y%m%d-%H%M%S"


def history_dir() -> Path:
    return Path(platformdirs.user_data_dir("voxflow")) / "history"


def _slug(name: str) -> str:
    slug = "".join(ch.lower() if ch.isalnum() else "-" for ch in name).strip("-")
    return "-".join(part for part in slug.split("-") if part)[:40] or "flow"


@dataclass(frozen=True)
class HistoryEntry:
    """One past session as ``voxflow history`` shows it."""

    id: str
    jsonl: Path
    title: str
    turns: int
    first_words: str

    @property
    def markdown(self) -> Path:
        return self.jsonl.with_suffix(".md")

    @property
    def started(self) -> str:
        """``2026-12-02 05:15:00 UTC`` from the id."""
        try:
            stamp = time.strptime(self.id[: len("20261202-051500")], STAMP)
        except ValueError:
            return "?"
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", stamp)


class SessionHistory:
    """The history directory: new sessions' files, and reading past ones."""

    def __init__(self, directory: Path | None = None, clock: Clock | None = None) -> None:
        self.directory = directory if directory is not None else history_dir()
        self.clock = clock or SystemClock()

    def new_session(self, flow_name: str) -> TranscriptFiles:
        """Files for a session starting now (a fresh id, never an existing one's)."""
        base = f"{time.strftime(STAMP, time.gmtime(self.clock.time()))}-{_slug(flow_name)}"
        session_id, n = base, 1
        while (self.directory / f"{session_id}.jsonl").exists():
            n += 1
            session_id = f"{base}-{n}"
        path = self.directory / f"{session_id}.jsonl"
        files = TranscriptFiles([path, path.with_suffix(".md")], title=flow_name)
        files.write([])  # the session is in the history from its start, even before its first turn
        return files

    def entries(self) -> list[HistoryEntry]:
        """Past sessions, newest first."""
        if not self.directory.is_dir():
            return []
        return [self._read(path) for path in sorted(self.directory.glob("*.jsonl"), reverse=True)]

    def find(self, session_id: str) -> HistoryEntry:
        """The session with this id, or the only one whose id starts with it."""
        exact = self.directory / f"{session_id}.jsonl"
        if exact.is_file():
            return self._read(exact)
        matches = [entry for entry in self.entries() if entry.id.startswith(session_id)] if session_id else []
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise VoxflowError(f"no session {session_id!r} in the history ({self.directory})",
                               hint="`voxflow history` lists the sessions and their ids.")
        raise VoxflowError(f"{len(matches)} sessions start with {session_id!r}", hint="Give more of the id.")

    def export(self, session_id: str, to: Path) -> list[Path]:
        """Copy a session's JSONL and Markdown into ``to`` (created if needed)."""
        entry = self.find(session_id)
        try:
            to.mkdir(parents=True, exist_ok=True)
            written = []
            for source in (entry.jsonl, entry.markdown):
                if source.is_file():
                    written.append(Path(shutil.copy2(source, to / source.name)))
        except OSError as exc:
            raise VoxflowError(f"cannot export to {to}: {exc.strerror}", hint="Choose a writable folder with --to.") from None
        return written

    @staticmethod
    def _read(path: Path) -> HistoryEntry:
        records = []
        try:
            for line in path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                if isinstance(record, dict):
                    records.append(record)
        except (OSError, ValueError):
            pass  # unreadable: listed with what could be read
        title = path.stem
        try:
            first = path.with_suffix(".md").read_text(encoding="utf-8").splitlines()[:1]
            title = first[0].removeprefix("# ") if first and first[0].startswith("# ") else title
        except OSError:
            pass
        words = next((str(r.get("text") or "") for r in records if r.get("role") == "user" and r.get("text")), "")
        return HistoryEntry(path.stem, path, title, len(records), words)
