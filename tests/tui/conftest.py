"""Fixtures for the app tests: a frozen clock, isolated recent-flows file, export dir."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio.base.clock import FakeClock
from flow.options import RunOptions
from tui.app import VoxflowApp
from tui.recent import RecentFlows

from .fakes import demo_like_flow


@pytest.fixture(autouse=True)
def _no_api_key(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.setenv("VOXFLOW_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")


def make_app(tmp_path: Path, **kwargs: object) -> VoxflowApp:
    clock = FakeClock()
    options = RunOptions(clock=clock)
    params: dict[str, object] = {
        "options": options,
        "recent": RecentFlows(tmp_path / "recent.json"),
        "export_dir": tmp_path / "exports",
    }
    params.update(kwargs)
    if "flow" not in params:
        params["flow"] = demo_like_flow()
    app = VoxflowApp(**params)  # type: ignore[arg-type]
    app.animation_level = "none"
    return app
