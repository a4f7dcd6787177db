"""The type check CI runs: mypy over tui/, flow/, audio/ and the test doubles (config in pyproject.toml).

The doubles declare ``_: type[Protocol] = Fake``, so a fake whose signature
drifts from the real object (a sync ``ptt_toggle``, a missing ``reason``) is a
type error here, not a test that passes against the wrong shape.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml"), *args],
        cwd=ROOT, capture_output=True, text=True, timeout=240, check=False,
    )


def test_mypy_passes() -> None:
    result = mypy()
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_drifting_fake_fails_the_check(tmp_path: Path) -> None:
    drifted = tmp_path / "drifted_fake.py"
    drifted.write_text(
        "from tests.tui.fakes import ScriptedSession\n"
        "from audio.session.live import LiveSession\n"
        "class Drifted:  # ScriptedSession with a sync ptt_toggle, as the fakes once had\n"
        "    events = ScriptedSession().events\n"
        "    state = ScriptedSession().state\n"
        "    reason = None\n"
        "    connection_info = ScriptedSession().connection_info\n"
        "    transcript = ScriptedSession().transcript\n"
        "    mute = ScriptedSession.mute\n"
        "    unmute = ScriptedSession.unmute\n"
        "    send_text = ScriptedSession.send_text\n"
        "    disconnect = ScriptedSession.disconnect\n"
        "    def ptt_toggle(self) -> None: ...\n"
        "ok: type[LiveSession] = ScriptedSession\n"
        "_: type[LiveSession] = Drifted\n",
        encoding="utf-8",
    )
    result = mypy(str(drifted))
    assert result.returncode == 1 and "drifted_fake.py:15" in result.stdout and "drifted_fake.py:14" not in result.stdout, result.stdout + result.stderr
