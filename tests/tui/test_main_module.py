"""``python -m tui`` is the voxflow command (what every subprocess test and the checkout's README run)."""

from __future__ import annotations

import sys

import pytest


def test_running_the_package_runs_the_voxflow_command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["voxflow", "--help"])
    monkeypatch.delitem(sys.modules, "tui.__main__", raising=False)
    with pytest.raises(SystemExit) as exited:
        import tui.__main__  # noqa: F401  (importing it runs it, as ``python -m tui`` does)
    assert exited.value.code == 0
    out = capsys.readouterr().out
    assert "Usage:" in out and "validate" in out and "serve-realtime" in out
