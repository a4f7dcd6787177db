"""Writes the live session's transcript to files (JSONL and Markdown) for the `e` key and --transcript.

The session core's transcript does the formatting; this module only picks
file names (flow name + clock time, never overwriting) and writes them.
"""

from __future__ import annotations

import time
from pathlib import Path
from audio.base.clock import Clock
from audio.base.errors import VoxflowError
from audio.session.live import LiveSession


def export_session(session: LiveSession, directory: Path, stem: str, clock: Clock, *, exact: Path | None = None) -> list[Path]:
    """Write ``<stem>-<UTC time>.jsonl`` and ``.md`` under ``directory`` (or ``exact`` and its .md twin)."""
    jsonl, markdown = session.transcript.to_jsonl(), session.transcript.to_markdown()
    if exact is not None:
        targets = [exact, exact.with_suffix(".md")]
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(clock.time()))
        safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in stem) or "flow"
        base = directory / f"{safe}-{stamp}"
        n = 1
        while base.with_suffix(".jsonl").exists() or base.with_suffix(".md").exists():
            n += 1
            base = directory / f"{safe}-{stamp}-{n}"
        targets = [base.with_suffix(".jsonl"), base.with_suffix(".md")]
    try:
        for target, content in zip(targets, (jsonl, markdown), strict=True):
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise VoxflowError(
            f"cannot write the transcript to {targets[0].parent}: {exc.strerror}",
            hint="Check that the directory is writable, or pass another --transcript path.",
        ) from None
    return targets
