"""Turn detection with the service's knobs, on a speech probability (see ``speech_probability``).

``server_vad`` compares each window's speech probability with ``threshold``
(0..1), as the service does: speech starts after two windows (64 ms) at or
above it, ``audio_start_ms`` includes ``prefix_padding_ms``, and it stops once
the probability stayed below ``threshold - 0.15`` (Silero's own hysteresis,
so a word's fading tail does not count as silence) for
``silence_duration_ms``. ``semantic_vad`` is the same detector with a silence
that depends on ``eagerness`` (a model of "is the user done?" is out of scope
offline).
"""

from __future__ import annotations

import collections
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from audio.speech.speech_probability import SileroScorer, SpeechScorer
from audio.wire.config import SEMANTIC_SILENCE_MS

START_WINDOWS = 2  # consecutive speech windows before speech counts as started
HYSTERESIS = 0.15  # speech continues while the probability stays above threshold - this


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
        def number(key: str, default: float) -> float:
            value = config.get(key)
            return default if value is None else float(value)

        return cls(
            number("threshold", 0.5),
            int(number("prefix_padding_ms", 300)),
            int(number("silence_duration_ms", 500)),
            bool(config.get("create_response", True)),
            bool(config.get("interrupt_response", True)),
        )


@dataclass(frozen=True)
class SpeechBoundary:
    """``started`` with ``audio_start_ms``, or not started (stopped) with ``audio_end_ms``."""

    started: bool
    ms: int


class TurnDetector:
    """Feeds on consecutive mono int16 frames at ``sample_rate``; returns a boundary when speech starts or stops.

    Frames of up to one window (32 ms) give at most one boundary each; should a
    longer frame hold several, the later ones come out of the next calls.
    ``scorer`` makes the speech probabilities (Silero by default; benchmarks
    pass others).
    """

    def __init__(self, settings: VadSettings, sample_rate: int, *, start_ms: int = 0,
                 scorer: Callable[[int], SpeechScorer] = SileroScorer) -> None:
        self.settings = settings
        self._rate = sample_rate
        self._scorer = scorer(sample_rate)
        self._start_ms = start_ms
        self._fed = 0  # samples fed since this detector began
        self._windows = 0  # windows scored since this detector began
        self._run = 0
        self._run_start_ms = 0.0
        self._quiet_ms = 0.0
        self._stop_level = max(0.0, min(1.0, settings.threshold) - HYSTERESIS)
        self._queued: collections.deque[SpeechBoundary] = collections.deque()
        self.speaking = False

    @property
    def position_ms(self) -> int:
        return self._start_ms + self._fed * 1000 // self._rate

    def feed(self, frame: np.ndarray) -> SpeechBoundary | None:
        self._fed += len(frame)
        for probability in self._scorer.feed(frame):
            boundary = self._window(probability)
            if boundary is not None:
                self._queued.append(boundary)
        return self._queued.popleft() if self._queued else None

    def _window(self, probability: float) -> SpeechBoundary | None:
        window_ms = self._scorer.window_ms
        start_ms = self._start_ms + self._windows * window_ms
        self._windows += 1
        if not self.speaking:
            if probability < self.settings.threshold:
                self._run = 0
                return None
            if self._run == 0:
                self._run_start_ms = start_ms
            self._run += 1
            if self._run < START_WINDOWS:
                return None
            self.speaking = True
            self._quiet_ms = 0.0
            return SpeechBoundary(True, max(0, round(self._run_start_ms) - self.settings.prefix_padding_ms))
        if probability >= self._stop_level:
            self._quiet_ms = 0.0
            return None
        self._quiet_ms += window_ms
        if self._quiet_ms < self.settings.silence_duration_ms:
            return None
        self.speaking = False
        self._run = 0
        return SpeechBoundary(False, round(start_ms + window_ms))
