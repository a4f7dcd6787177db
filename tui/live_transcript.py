"""Transcript files that follow one live session in the app, rewritten after every finished turn.

The app's ``--transcript`` file and its session history both use this: it
subscribes to the session's events, keeps the conversation in order (the same
:class:`~flow.turns.TurnTracker` the headless runner's verdict uses) and hands
it to :class:`~flow.transcript_files.TranscriptFiles`, which replaces each file
atomically, exactly as headless runs do. A clear (the app's reset key) does not
wipe what was already said from the files.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from audio.base.errors import VoxflowError
from audio.session.events import StateChanged, TranscriptCleared, TranscriptEntry, TranscriptUpdated
from flow.transcript_files import TranscriptFiles
from flow.turns import TurnTracker


class LiveTranscript:
    """Call :meth:`follow` with a session; every finished turn, a finished reply then cut by the person, and the
    session's end rewrite the files."""

    def __init__(self, files: TranscriptFiles, on_error: Callable[[VoxflowError], None] | None = None) -> None:
        self.files = files
        self.on_error = on_error
        self.turns = TurnTracker()
        self._finished: set[str] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._failed = False
        self._written: list[TranscriptEntry] | None = None  # the entries the files hold now

    def follow(self, session: Any) -> None:
        self.stop()
        self._unsubscribe = session.events.add_callback(self)

    def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def __call__(self, event: object) -> None:
        if isinstance(event, TranscriptCleared):
            return
        before = self.turns.entry(event.entry.item_id) if isinstance(event, TranscriptUpdated) else None
        self.turns(event)
        if isinstance(event, TranscriptUpdated) and event.entry.final and event.entry.item_id not in self._finished:
            self._finished.add(event.entry.item_id)
            self.write()
        elif isinstance(event, TranscriptUpdated) and event.entry.interrupted and before is not None and not before.interrupted:
            self.write()
        elif isinstance(event, StateChanged) and event.reason is not None:
            self.write()  # the session ended: open turns are written as they stand

    def write(self) -> None:
        """Rewrite the files, unless they already hold exactly this (a quit writes right after the session's end did:
        each write is a synced rename per file, and a hang-up must finish in time)."""
        entries = self.turns.entries()
        if entries == self._written:
            return
        try:
            self.files.write(entries)
            self._written = entries
        except VoxflowError as error:
            if not self._failed and self.on_error is not None:
                self.on_error(error)  # said once, not after every turn
            self._failed = True
