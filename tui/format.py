"""Small text formatters shared by the widgets (times, level meters, secrets)."""

from __future__ import annotations

import re

from rich.text import Text

from audio.session.transcript_format import clock_text

__all__ = ["clock_text", "is_secret_name", "meter", "shorten"]

METER_FLOOR_DBFS = -60.0
_SECRET_KEY = re.compile(r"(key|token|secret|password|authorization)", re.IGNORECASE)


def meter(dbfs: float, width: int = 12) -> Text:
    """A level bar from -60 dBFS (empty) to 0 dBFS (full), with its value; green/yellow/red."""
    fraction = (max(METER_FLOOR_DBFS, min(0.0, dbfs)) - METER_FLOOR_DBFS) / -METER_FLOOR_DBFS
    filled = round(fraction * width)
    colour = "green" if dbfs < -12 else "yellow" if dbfs < -3 else "red"
    bar = Text()
    bar.append("█" * filled, style=colour)
    bar.append("░" * (width - filled), style="grey37")
    value = "  -∞ dB" if dbfs <= METER_FLOOR_DBFS else f"{dbfs:4.0f} dB"
    bar.append(f" {value}")
    return bar


def is_secret_name(name: str) -> bool:
    """Whether a setting called ``name`` holds a secret that must not be shown."""
    return bool(_SECRET_KEY.search(name))


def shorten(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: max(0, limit - 1)] + "…"
