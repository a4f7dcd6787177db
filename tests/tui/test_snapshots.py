"""Snapshot tests at 100x30 and 80x24: idle, mid-conversation, last minute, error, help, too small.

Deterministic: a FakeClock (all times shown come from events), no real
devices, no animations, no blinking cursor, a flow built in code with fixed
paths. Update with ``pytest tests/tui --snapshot-update`` after checking the
SVGs by eye.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from . import scenes
from .conftest import make_app

SIZES = [(100, 30), (80, 24)]
SCENES = {
    "idle": scenes.idle,
    "mid_conversation": scenes.mid_conversation,
    "last_minute": scenes.last_minute,
    "error": scenes.error_state,
    "help": scenes.help_screen,
}


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("scene", list(SCENES))
def test_scene(scene: str, size: tuple[int, int], snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(tmp_path), terminal_size=size, run_before=SCENES[scene])


def test_too_small_terminal(snap_compare, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert snap_compare(make_app(tmp_path), terminal_size=(70, 20), run_before=scenes.settle)
