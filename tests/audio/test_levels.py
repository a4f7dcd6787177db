"""Levels in dBFS."""

from __future__ import annotations

import numpy as np
import pytest

from audio.dsp.levels import SILENCE_DBFS, LevelMeter, frame_level, peak_dbfs, rms_dbfs


def sine(level_dbfs: float, n: int = 960) -> np.ndarray:
    t = np.arange(n) / 48000
    return np.rint(32767 * 10 ** (level_dbfs / 20) * np.sin(2 * np.pi * 1000 * t)).astype(np.int16).reshape(-1, 1)


def test_rms_and_peak_of_a_sine_and_of_silence() -> None:
    frame = sine(-6.0)
    assert peak_dbfs(frame) == pytest.approx(-6.0, abs=0.01)
    assert rms_dbfs(frame) == pytest.approx(-6.0 - 3.01, abs=0.05)
    silence = np.zeros((960, 1), dtype=np.int16)
    assert frame_level(silence).rms_dbfs == SILENCE_DBFS == peak_dbfs(silence)
    assert np.isfinite(rms_dbfs(np.zeros((0, 1), dtype=np.int16)))
    assert peak_dbfs(np.full((10, 1), -32768, dtype=np.int16)) == 0.0


def test_meter_attacks_fast_and_releases_slowly() -> None:
    meter = LevelMeter(attack=0.01, release=0.3)
    loud, quiet = sine(-6.0), np.zeros((960, 1), dtype=np.int16)
    meter.update(loud)
    level = meter.update(loud)
    assert level.peak_dbfs > -9  # within 3 dB after 40 ms (attack 10 ms)
    for _ in range(5):
        level = meter.update(loud)
    assert level.peak_dbfs == pytest.approx(-6.0, abs=0.1)
    after = meter.update(quiet)
    assert -20 < after.peak_dbfs < -6  # falls slowly
    for _ in range(200):
        after = meter.update(quiet)
    assert after.rms_dbfs == pytest.approx(SILENCE_DBFS, abs=0.5)
    meter.reset()
    assert meter.level.peak_dbfs == SILENCE_DBFS
