"""Subprocesses run this checkout, never whatever voxflow happens to be installed.

``python -m tui`` imports ``tui`` from the working directory or ``PYTHONPATH``
first and only then from site-packages; a test that runs it from a temporary
folder would otherwise test the installed copy. ``checkout_env`` puts this
checkout first on ``PYTHONPATH`` and ``voxflow`` builds the command line.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def checkout_env(extra: Mapping[str, str] | None = None, drop: Iterable[str] = ()) -> dict[str, str]:
    """The current environment with this checkout first on PYTHONPATH, ``drop`` removed and ``extra`` added."""
    env = {key: value for key, value in os.environ.items() if key not in set(drop)}
    env.update(extra or {})
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    return env


def voxflow(*args: str) -> list[str]:
    """The command line that runs this checkout's ``voxflow``."""
    return [sys.executable, "-m", "tui", *args]
