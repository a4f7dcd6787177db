"""Parses human durations for the command line: ``90s``, ``30m``, ``1h``, ``1h30m``, or plain seconds."""

from __future__ import annotations

import re

from audio.base.errors import VoxflowError

_PART = re.compile(r"(\d+(?:\.\d+)?)([hms])")
_UNIT = {"h": 3600.0, "m": 60.0, "s": 1.0}


def parse_duration(text: str) -> float:
    """Seconds in ``text``; raises VoxflowError saying the accepted forms."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = _PART.findall(value)
        if not parts or "".join(number + unit for number, unit in parts) != value:
            raise VoxflowError(
                f"cannot read the duration {text!r}",
                hint="Write it like 90s, 30m, 1h or 1h30m (a plain number means seconds).",
            ) from None
        seconds = sum(float(number) * _UNIT[unit] for number, unit in parts)
    if seconds <= 0:
        raise VoxflowError(f"the duration {text!r} must be longer than zero", hint="For example: --max-duration 30m")
    return seconds
