"""The live conversation transcript, ordered the way the service orders items.

Items arrive with ``previous_item_id``; the user's transcription arrives
asynchronously, often after the assistant's reply, so a user entry starts as
a pending entry whose text is filled in when it comes. Times are seconds since the transcript
began (:attr:`Transcript.origin` on the session clock); a spoken user turn
spans the speech itself (``start``/``end``, given by whoever knows: the
interpreter, from the service's turn detection), and its transcription's
arrival is kept apart (``transcribed_at``). Every change calls ``on_change(entry,
index)`` with an immutable :class:`TranscriptEntry` snapshot, which the
session turns into ``TranscriptUpdated`` events. Exports: JSONL (one entry a
line) and Markdown; ``as_text`` gives the ``User: ...`` / ``Assistant: ...``
form the node emits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path

from audio.base.clock import Clock, SystemClock
from audio.session import transcript_format
from audio.session.events import Role, ToolCallInfo, TranscriptEntry

INAUDIBLE = "[inaudible]"
TRANSCRIPTION_FAILED = "[transcription failed]"
PENDING_TEXT = "…"


@dataclass
class _Entry:
    item_id: str
    role: Role
    text: str = ""
    final: bool = False
    start: float = 0.0
    end: float | None = None
    pending: bool = False
    failed: bool = False
    tool: ToolCallInfo | None = None
    interrupted: bool = False
    transcribed_at: float | None = None

    def snapshot(self) -> TranscriptEntry:
        return TranscriptEntry(**{item.name: getattr(self, item.name) for item in fields(self)})


class Transcript:
    """Entries keyed by item id, in conversation order."""

    def __init__(
        self,
        clock: Clock | None = None,
        *,
        on_change: Callable[[TranscriptEntry, int], None] | None = None,
        on_clear: Callable[[], None] | None = None,
    ) -> None:
        self._clock = clock or SystemClock()
        self._entries: dict[str, _Entry] = {}
        self._order: list[str] = []
        self._t0 = self._clock.monotonic()
        self.on_change = on_change
        self.on_clear = on_clear

    # --- reading --------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._order)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._entries

    def entries(self) -> list[TranscriptEntry]:
        return [self._entries[item_id].snapshot() for item_id in self._order]

    def get(self, item_id: str) -> TranscriptEntry | None:
        entry = self._entries.get(item_id)
        return entry.snapshot() if entry else None

    def index(self, item_id: str) -> int:
        return self._order.index(item_id)

    # --- building -------------------------------------------------------------
    def add_item(
        self, item_id: str, role: Role, previous_item_id: str | None = None, *, text: str | None = None,
        spoken: tuple[float, float] | None = None,
    ) -> None:
        """An item exists (``conversation.item.added``); place it after ``previous_item_id``.

        A user audio item starts as a pending placeholder; ``text`` (a typed
        message) makes it final at once. ``spoken``: when the person started
        and stopped saying it (seconds on this transcript's clock). Adding a
        known item only moves it into place when it had been created out of
        order by an early delta.
        """
        entry = self._entries.get(item_id)
        if entry is None:
            entry = _Entry(item_id, role, start=self._now(), pending=role == "user")
            self._entries[item_id] = entry
        else:
            self._order.remove(item_id)
        if spoken is not None:
            entry.start, entry.end = spoken[0], max(spoken)
        if text is not None and not entry.final:
            entry.text, entry.final, entry.pending = text, True, False
            entry.end = self._now()
        self._insert(item_id, previous_item_id)
        self._changed(entry)

    def add_divider(self, item_id: str, text: str) -> None:
        """A visible mark where the conversation moved to a new session (renewal or reconnection).

        Adding a divider that exists changes its text in place (what an outage held is known a moment later).
        """
        entry = self._entries.get(item_id)
        if entry is not None and entry.role == "session":
            entry.text = text
            self._changed(entry)
            return
        entry = _Entry(item_id, "session", text=text, final=True, start=self._now(), end=self._now())
        self._entries[item_id] = entry
        self._order.append(item_id)
        self._changed(entry)

    def _insert(self, item_id: str, previous_item_id: str | None) -> None:
        if previous_item_id is not None and previous_item_id in self._entries and previous_item_id in self._order:
            self._order.insert(self._order.index(previous_item_id) + 1, item_id)
        else:
            self._order.append(item_id)

    def _ensure(self, item_id: str, role: Role) -> _Entry:
        entry = self._entries.get(item_id)
        if entry is None:
            entry = _Entry(item_id, role, start=self._now(), pending=role == "user")
            self._entries[item_id] = entry
            self._order.append(item_id)
        return entry

    def append_delta(self, item_id: str, role: Role, delta: str) -> None:
        entry = self._ensure(item_id, role)
        if entry.final or not delta:
            return
        entry.text += delta
        entry.pending = False
        self._changed(entry)

    def complete(self, item_id: str, role: Role, text: str | None) -> None:
        """The final text; an empty user transcription shows ``[inaudible]``."""
        entry = self._ensure(item_id, role)
        final_text = text if text is not None else entry.text
        if role == "user" and not final_text.strip():
            final_text = INAUDIBLE
        entry.text, entry.final, entry.pending, entry.failed = final_text, True, False, False
        self._finished(entry)
        self._changed(entry)

    def fail(self, item_id: str, reason: str | None = None) -> None:
        """The user's transcription failed: the entry says so instead of staying pending."""
        entry = self._ensure(item_id, "user")
        entry.text = TRANSCRIPTION_FAILED if not reason else f"{TRANSCRIPTION_FAILED[:-1]}: {reason}]"
        entry.final, entry.pending, entry.failed = True, False, True
        self._finished(entry)
        self._changed(entry)

    def _finished(self, entry: _Entry) -> None:
        """Its text is final: a user turn keeps when it was spoken and notes when the transcription came."""
        if entry.role == "user":
            entry.transcribed_at = self._now()
            if entry.end is None:  # nobody said when it was spoken
                entry.end = entry.transcribed_at
        else:
            entry.end = self._now()

    def tool_call(self, item_id: str, info: ToolCallInfo) -> None:
        """A function call started or finished: its own entry, placed where its item was added."""
        entry = self._ensure(item_id, "tool")
        entry.role, entry.tool, entry.pending = "tool", info, False
        entry.text = info.summary()
        entry.final = info.status in ("done", "error", "refused", "cancelled")
        entry.failed = info.status in ("error", "refused", "cancelled")
        if entry.final:
            entry.end = self._now()
        self._changed(entry)

    def interrupt(self, item_id: str) -> None:
        """The person cut in while this assistant reply played: the entry is marked (its text is kept whole)."""
        entry = self._entries.get(item_id)
        if entry is None or entry.role != "assistant" or entry.interrupted:
            return
        entry.interrupted = True
        self._changed(entry)

    def finish_open(self) -> None:
        """Session over: assistant text streamed so far becomes final (user placeholders stay pending)."""
        for item_id in self._order:
            entry = self._entries[item_id]
            if entry.role == "assistant" and not entry.final:
                entry.final = True
                entry.end = self._now()
                self._changed(entry)

    def now(self) -> float:
        """Seconds since the transcript started (the time base of ``start``/``end``)."""
        return self._now()

    @property
    def origin(self) -> float:
        """The clock time of the transcript's 0 s (the session's start; a recording starts here too)."""
        return self._t0

    def _now(self) -> float:
        """Seconds since the transcript began (or was last cleared)."""
        return self._clock.monotonic() - self._t0

    def clear(self) -> None:
        self._entries.clear()
        self._order.clear()
        self._t0 = self._clock.monotonic()
        if self.on_clear is not None:
            self.on_clear()

    def _changed(self, entry: _Entry) -> None:
        if self.on_change is not None:
            self.on_change(entry.snapshot(), self._order.index(entry.item_id))

    # --- exporting ------------------------------------------------------------
    def as_text(self) -> str:
        """``User: ...`` / ``Assistant: ...`` lines, a pending user turn shown as ``…``."""
        lines = []
        for entry in self.entries():
            text = PENDING_TEXT if entry.pending and not entry.text else transcript_format.shown_text(entry)
            lines.append(transcript_format.text_line(entry.role, text))
        return "\n".join(lines)

    def to_jsonl(self) -> str:
        return transcript_format.to_jsonl(self.entries())

    def to_markdown(self, title: str = "Transcript") -> str:
        return transcript_format.to_markdown(self.entries(), title)

    def export_jsonl(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_jsonl(), encoding="utf-8")
        return path

    def export_markdown(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.to_markdown(), encoding="utf-8")
        return path

