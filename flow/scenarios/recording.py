"""Reading a run's stereo recording (caller left, assistant right, one clock): when the assistant was heard.

The recording is written by the session on the transcript's clock
(:mod:`audio.io.recorder`), so a reply's first audible sample, read here, and
the caller's last one are on one time line: their difference is the turn's
latency as a person on the line would measure it, whatever the events said.
Where both channels are audible at once, the two talked over each other.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

AUDIBLE_DBFS = -50.0
WINDOW_SECONDS = 0.01  # 10 ms windows: a reply's start is found to within 10 ms


@dataclass(frozen=True)
class Activity:
    """Which 10 ms windows of each channel are audible."""

    caller: np.ndarray  # bool per window
    assistant: np.ndarray
    window: float = WINDOW_SECONDS

    @property
    def duration(self) -> float:
        return len(self.assistant) * self.window

    def assistant_span(self, start: float, end: float | None) -> tuple[float, float] | None:
        """First and last audible moment of the assistant in [start, end) (None: silent there)."""
        return _span(self.assistant, self.window, start, end)

    def caller_span(self, start: float, end: float | None) -> tuple[float, float] | None:
        return _span(self.caller, self.window, start, end)

    def talk_over(self, start: float, end: float | None) -> float:
        """Seconds in [start, end) when the caller and the assistant were both audible."""
        first = max(0, int(np.floor(start / self.window)))
        last = len(self.assistant) if end is None else min(len(self.assistant), int(np.ceil(end / self.window)))
        both = self.caller[first:last] & self.assistant[first:last]
        return float(np.count_nonzero(both) * self.window)


def _span(active: np.ndarray, window: float, start: float, end: float | None) -> tuple[float, float] | None:
    first = max(0, int(np.floor(start / window)))
    last = len(active) if end is None else min(len(active), int(np.ceil(end / window)))
    hits = np.flatnonzero(active[first:last])
    if not len(hits):
        return None
    return float((first + hits[0]) * window), float((first + hits[-1] + 1) * window)


def read_activity(path: Path) -> Activity:
    """The audible windows of a stereo 16-bit WAV recording."""
    with wave.open(str(path), "rb") as handle:
        rate, channels = handle.getframerate(), handle.getnchannels()
        data = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16)
    data = data.reshape(-1, channels)
    size = max(1, round(rate * WINDOW_SECONDS))
    usable = data[: len(data) // size * size].astype(np.float64) / 32768.0
    windows = usable.reshape(-1, size, channels)
    level = 20 * np.log10(np.sqrt(np.mean(windows**2, axis=1)) + 1e-12)
    loud = level > AUDIBLE_DBFS
    return Activity(loud[:, 0], loud[:, min(1, channels - 1)])
