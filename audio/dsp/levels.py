"""Audio levels in dBFS: per-frame RMS and peak, and a smoothed meter for displays.

Levels are decibels relative to full scale (a full-scale square wave is
0 dBFS RMS). Silence reads as :data:`SILENCE_DBFS`, a finite floor, so
front ends and JSON never meet ``-inf``. The meter rises quickly (attack) and
falls slowly (release), like a hardware VU/peak meter, so a level bar is
readable rather than flickering at 50 updates a second.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from audio.dsp.frames import FRAME_MS

SILENCE_DBFS = -100.0
_FULL_SCALE = 32768.0


@dataclass(frozen=True)
class Level:
    """One reading: RMS and peak of the audio, in dBFS (``SILENCE_DBFS`` .. 0)."""

    rms_dbfs: float
    peak_dbfs: float


def _to_dbfs(amplitude: float) -> float:
    if amplitude <= 0.0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, min(0.0, 20.0 * math.log10(amplitude)))


def rms_dbfs(frame: np.ndarray) -> float:
    """RMS level of int16 samples (all channels together) in dBFS."""
    samples = np.asarray(frame)
    if samples.size == 0:
        return SILENCE_DBFS
    as_float = samples.astype(np.float64) / _FULL_SCALE
    return _to_dbfs(math.sqrt(float(np.mean(as_float * as_float))))


def peak_dbfs(frame: np.ndarray) -> float:
    """Peak level of int16 samples in dBFS."""
    samples = np.asarray(frame)
    if samples.size == 0:
        return SILENCE_DBFS
    peak = max(abs(int(samples.max())), abs(int(samples.min())))
    return _to_dbfs(peak / _FULL_SCALE)


def frame_level(frame: np.ndarray) -> Level:
    return Level(rms_dbfs(frame), peak_dbfs(frame))


class LevelMeter:
    """Smooths per-frame levels: ``attack``/``release`` are time constants in seconds.

    Each ``update`` moves the shown level toward the frame's level by
    ``1 - exp(-dt / tau)``, with ``tau = attack`` when rising and ``release``
    when falling; ``dt`` is the frame's duration (20 ms frames by default).
    """

    def __init__(self, attack: float = 0.01, release: float = 0.3, sample_rate: int | None = None) -> None:
        if attack < 0 or release < 0:
            raise ValueError("attack and release must not be negative")
        self.attack = attack
        self.release = release
        self.sample_rate = sample_rate
        self._rms = SILENCE_DBFS
        self._peak = SILENCE_DBFS

    @property
    def level(self) -> Level:
        return Level(self._rms, self._peak)

    def _coefficient(self, tau: float, dt: float) -> float:
        return 1.0 if tau <= 0 else 1.0 - math.exp(-dt / tau)

    def _follow(self, shown: float, target: float, dt: float) -> float:
        tau = self.attack if target > shown else self.release
        return shown + (target - shown) * self._coefficient(tau, dt)

    def update(self, frame: np.ndarray) -> Level:
        """Feed one frame; returns the smoothed level to display."""
        samples = np.asarray(frame)
        if self.sample_rate:
            dt = samples.shape[0] / self.sample_rate
        else:
            dt = FRAME_MS / 1000.0
        self._rms = self._follow(self._rms, rms_dbfs(samples), dt)
        self._peak = self._follow(self._peak, peak_dbfs(samples), dt)
        return self.level

    def reset(self) -> None:
        self._rms = SILENCE_DBFS
        self._peak = SILENCE_DBFS
