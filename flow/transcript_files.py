"""Transcript files that are complete and valid at every moment.

Each time a turn finishes, the whole file is written to a temporary file and
atomically renamed over the old one, so a crash or Ctrl-C leaves the last
finished turn on disk and never half a line. Rewriting (not appending) keeps
the order right even though a user's transcription often lands after the
assistant's reply. The format itself is :mod:`audio.session.transcript_format`,
the same the TUI's export key writes.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from audio.base.errors import VoxflowError
from audio.session.events import TranscriptEntry
from audio.session.transcript_format import to_jsonl, to_markdown


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename (never a half-written file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a transcript is an ordinary file
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
