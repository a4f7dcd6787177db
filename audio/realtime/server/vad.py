"""Turn detection: an energy detector with the service's knobs.

``server_vad`` maps ``threshold`` (0..1) to an RMS level between -60 and -20
dBFS, needs speech to last two frames to start, reports ``audio_start_ms``
including ``prefix_padding_ms`` and stops after ``silence_duration_ms`` of
quiet. ``semantic_vad`` is the same detector with a silence that depends on
``eagerness`` (a model of "is the user done?" is out of scope offline).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

SEMANTIC_SILENCE_MS = {"high": 300, "auto": 800, "medium": 800, "low": 1500}
START_FRAMES = 2  # consecutive loud frames before speech counts as started


def threshold_dbfs(threshold: float) -> float:
    """The RMS level (dBFS) a frame needs to count as speech: 0 -> -60, 0.5 -> -40, 1 -> -20."""
    return -60.0 + 40.0 * min(1.0, max(0.0, threshold))


def rms_dbfs(frame: np.ndarray) -> float:
    if frame.size == 0:
        return -120.0
    rms = float(np.sqrt(np.mean(np.square(frame.astype(np.float64)))))
    return 20.0 * np.log10(max(rms, 1e-6) / 32768.0)


@dataclass(frozen=True)
class VadSettings:
    threshold: float = 0.5
    prefix_padding_ms: int = 300
    silence_duration_ms: int = 500
    create_response: bool = True
    interrupt_response: bool = True

    @classmethod
    def from_turn_detection(cls, config: dict[str, Any]) -> VadSettings:
        if config["type"] == "semantic_vad":
            silence = SEMANTIC_SILENCE_MS[config.get("eagerness") or "auto"]
            return cls(0.5, 300, silence, bool(config.get("create_response", True)),
                       bool(config.get("interrupt_response", True)))
        return cls(
            float(config.get("threshold", 0.5) if config.get("threshold") is not None else 0.5),
            int(config.get("prefix_padding_ms") if config.get("prefix_padding_ms") is not None else 300),
            int(config.get("silence_duration_ms") if config.get("silence_duration_ms") is not None else 500),
            bool(config.get("create_response", True)),
            bool(config.get("interrupt_response", True)),
        )


@dataclass(frozen=True)
class SpeechBoundary:
    """``started`` with ``audio_start_ms``, or not started (stopped) with ``audio_end_ms``."""

    started: bool
    ms: int


class EnergyVad:
    """Feeds on consecutive frames; returns a boundary when speech starts or stops."""

    def __init__(self, settings: VadSettings, sample_rate: int, *, start_ms: int = 0) -> None:
        self.settings = settings
        self._rate = sample_rate
        self._level = threshold_dbfs(settings.threshold)
        self._position = start_ms * sample_rate // 1000  # samples since the session's audio began
        self._loud_run = 0
        self._run_start = 0
        self._quiet_samples = 0
        self.speaking = False

    @property
    def position_ms(self) -> int:
        return self._position * 1000 // self._rate

    def feed(self, frame: np.ndarray) -> SpeechBoundary | None:
        start = self._position
        self._position += len(frame)
        loud = rms_dbfs(frame) >= self._level
        if not self.speaking:
            if not loud:
                self._loud_run = 0
                return None
            if self._loud_run == 0:
                self._run_start = start
            self._loud_run += 1
            if self._loud_run < START_FRAMES:
                return None
            self.speaking = True
            self._quiet_samples = 0
            start_ms = self._run_start * 1000 // self._rate - self.settings.prefix_padding_ms
            return SpeechBoundary(True, max(0, start_ms))
        if loud:
            self._quiet_samples = 0
            return None
        self._quiet_samples += len(frame)
        if self._quiet_samples * 1000 < self.settings.silence_duration_ms * self._rate:
            return None
        self.speaking = False
        self._loud_run = 0
        return SpeechBoundary(False, self.position_ms)
