"""The app loses nothing when its terminal goes away: a real pseudo-terminal, the demo, a hang-up mid-session.

``python -m tui run flows/demo.yaml --start`` runs in a pty (the local Realtime server answers the
recorded user); once two turns have finished (watched in the session history file, with a deadline),
the terminal goes away as when an SSH connection drops (the pty's master side is closed, so every
later write of the app fails) and the app gets SIGHUP; in the second case a service manager sends
SIGTERM with the terminal still there. Every finished turn must be in the history and the ``--transcript`` file, the recording must be
a complete WAV, and the process must have exited by itself.
"""

from __future__ import annotations

import json
import os
import pty
import select
import signal
import subprocess
import sys
import time
import wave
from pathlib import Path

import pytest

from tests.checkout import checkout_env
from tests.headless.test_run_headless import DEMO, NO_SERVICE, ROOT

pytestmark = [pytest.mark.slow]

DEADLINE = 90.0


def finished_turns(path: Path) -> list[dict[str, object]]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [record for record in map(json.loads, lines) if record.get("final")]


def history_files(data_home: Path) -> list[Path]:
    return sorted((data_home / "voxflow" / "history").glob("*.jsonl"))


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGTERM], ids=["SIGHUP", "SIGTERM"])
def test_a_hang_up_mid_session_keeps_every_finished_turn(tmp_path: Path, sig: signal.Signals) -> None:
    data_home, transcript, record = tmp_path / "data", tmp_path / "t.jsonl", tmp_path / "both.wav"
    master, slave = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "tui", "run", str(DEMO), "--start", "--output", str(tmp_path / "reply.wav"),
         "--record", str(record), "--transcript", str(transcript)],
        cwd=tmp_path, stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
        env=checkout_env(drop=NO_SERVICE) | {"XDG_DATA_HOME": str(data_home), "VOXFLOW_STATE_DIR": str(tmp_path / "state"),
                     "TERM": "xterm-256color", "COLUMNS": "100", "LINES": "30"},
    )
    os.close(slave)
    screen = bytearray()

    hung_up = False

    def pump(seconds: float) -> None:
        """Read what the app draws (a full pty would block it)."""
        if hung_up:
            time.sleep(seconds)
            return
        ready, _, _ = select.select([master], [], [], seconds)
        if ready:
            try:
                screen.extend(os.read(master, 65536))
            except OSError:
                pass

    try:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline and process.poll() is None:
            pump(0.1)
            files = history_files(data_home)
            if files and len(finished_turns(files[0])) >= 2:
                break
        assert process.poll() is None, screen[-2000:].decode(errors="replace")
        files = history_files(data_home)
        assert files and len(finished_turns(files[0])) >= 2, "two turns did not finish in time"
        pump(0.2)
        if sig == signal.SIGHUP:
            os.close(master)
            hung_up = True
        process.send_signal(sig)
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            pump(0.1)
        assert process.poll() is not None, "the app did not quit on the signal"
        assert process.returncode == 0, f"the app died of the signal instead of quitting ({process.returncode})"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if not hung_up:
            os.close(master)
    shown = screen.decode(errors="replace")
    assert "Traceback" not in shown
    assert "Session history" in shown  # the app said where the history is
    kept = finished_turns(files[0])
    assert len(kept) >= 2 and {r["role"] for r in kept} == {"user", "assistant"}
    assert [r["item_id"] for r in finished_turns(transcript)] == [r["item_id"] for r in kept]
    with wave.open(str(record), "rb") as handle:  # completed: a header that matches the data
        assert handle.getnchannels() == 2 and handle.getnframes() > 0
        assert len(handle.readframes(handle.getnframes())) == handle.getnframes() * 4
