"""The app's binding to a live session: follow its events into the display models and keep its files current.

A realtime node publishes its session when it connects; the app then follows
that session's events (a new session replaces the previous one), hands them
to the view and transcript models, and keeps ``--transcript`` and the session
history written after every finished turn. Part of :class:`~tui.app.VoxflowApp`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeGuard

from textual.app import App

from audio.base.errors import VoxflowError
from audio.session.events import (
    Notice,
    SessionErrorEvent,
    SessionEvent,
    SessionState,
    StateChanged,
    TranscriptCleared,
    TranscriptUpdated,
)
from audio.session.live import LiveSession
from flow.model import Flow
from tui.history import SessionHistory
from tui.live_transcript import LiveTranscript
from tui.session_view import SessionView
from tui.transcript_model import TranscriptModel
from tui.view_messages import ViewChanged


def is_session(payload: object) -> TypeGuard[LiveSession]:
    """Whether a node published a live realtime session."""
    return isinstance(payload, LiveSession)


class SessionBinding(App[None]):
    """Follows the current session: its events, its transcript files, its history."""

    flow: Flow | None
    view: SessionView
    transcript: TranscriptModel
    transcript_path: Path | None
    history: SessionHistory | None
    session: LiveSession | None = None
    session_node: str | None = None
    session_events: int = 0
    live_files: list[LiveTranscript]
    _unsubscribe_session: Callable[[], None] | None = None

    def attach_session(self, node_id: str, session: LiveSession) -> None:
        """Follow a live session's events (a new session replaces the previous one)."""
        self.detach_session()
        self.session = session
        self.session_node = node_id
        self._unsubscribe_session = session.events.add_callback(self.on_session_event)
        self._follow_with_files(session)
        # what the session already is, before its next event says so
        self.view.apply(session.connection_info)
        if session.state != self.view.state:
            self.view.apply(StateChanged(session.state, session.reason))
        self.post_message(ViewChanged())

    def _follow_with_files(self, session: LiveSession) -> None:
        """Keep --transcript and this session's history file current after every finished turn."""
        for live in self.live_files:
            live.stop()
        self.live_files = []
        on_error = lambda error: self.notify(str(error), severity="error", timeout=8)  # noqa: E731
        if self.transcript_path is not None:
            try:
                self.live_files.append(LiveTranscript(self._transcript_files(), on_error))
            except VoxflowError as error:
                on_error(error)
        if self.history is not None:
            try:
                files = self.history.new_session(self.flow.name if self.flow else "flow")
            except VoxflowError as error:
                on_error(error)
            else:
                self.live_files.append(LiveTranscript(files, on_error))
                self.notify(f"Session history: {files.paths[0]}\n(voxflow history lists past sessions)", timeout=6)
        for live in self.live_files:
            live.follow(session)

    def _transcript_files(self) -> Any:
        from flow.transcript_files import TranscriptFiles

        assert self.transcript_path is not None
        paths = [self.transcript_path]
        if self.transcript_path.suffix.lower() == ".jsonl":
            paths.append(self.transcript_path.with_suffix(".md"))
        return TranscriptFiles(paths, title=self.flow.name if self.flow else "Transcript")

    def detach_session(self) -> None:
        if self._unsubscribe_session is not None:
            self._unsubscribe_session()
            self._unsubscribe_session = None

    def on_session_event(self, event: SessionEvent) -> None:
        """Session events update the display models; a message has the screen catch up."""
        self.session_events += 1
        if isinstance(event, (TranscriptUpdated, TranscriptCleared)):
            self.transcript.apply(event)  # shown by the transcript timer
            return
        self.view.apply(event)
        self.post_message(ViewChanged())
        if isinstance(event, SessionErrorEvent):
            title = "Session error" + (f" ({event.code})" if event.code else "")
            self.notify(event.message, title=title, severity="error", timeout=10)
        elif isinstance(event, StateChanged) and event.state == SessionState.ERROR:
            self.notify(event.reason or "the session failed", title="Session error", severity="error", timeout=10)
        elif isinstance(event, Notice):
            self.notify(event.message, severity="warning" if event.level == "warning" else "information")

    def write_transcript_files(self) -> None:
        """Write --transcript and the history file now (a flow's end, a quit)."""
        for live in self.live_files:
            live.write()
