"""The app's live transcript files are rewritten only when what they hold changes."""

from __future__ import annotations

from pathlib import Path

from audio.session.events import SessionState, StateChanged, TranscriptEntry, TranscriptUpdated
from flow.transcript_files import TranscriptFiles
from tui.live_transcript import LiveTranscript


def test_a_write_with_nothing_new_leaves_the_files_alone(tmp_path: Path) -> None:
    """A quit writes right after the session's end did: each write is a synced rename per file."""
    files = TranscriptFiles([tmp_path / "t.jsonl", tmp_path / "t.md"])
    live = LiveTranscript(files)
    live(TranscriptUpdated(TranscriptEntry("u1", "user", "Hello", final=True, start=0.0, end=1.0), 0))
    assert files.writes == 1
    live(StateChanged(SessionState.DISCONNECTED, "stopped"))  # the session's end: nothing new to write
    live.write()  # the quit's own write
    assert files.writes == 1
    live(TranscriptUpdated(TranscriptEntry("a1", "assistant", "Hi", final=True, start=1.0, end=2.0), 1))
    live.write()
    assert files.writes == 2 and "Hi" in (tmp_path / "t.md").read_text()
