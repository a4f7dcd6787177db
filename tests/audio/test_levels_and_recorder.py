"""Levels in dBFS and the time-aligned stereo recorder."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from audio.base.clock import FakeClock
from audio.dsp.levels import SILENCE_DBFS, LevelMeter, frame_level, peak_dbfs, rms_dbfs
from audio.io.recorder import StereoRecorder
from tests.audio.helpers import read_all
from audio.io.sources import FileSource, ToneSource


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


def read_stereo(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)


async def test_recorder_puts_user_left_and_assistant_right_aligned_on_the_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    recorder = StereoRecorder(tmp_path / "rec.wav", sample_rate=24000, clock=clock)
    user = await read_all(ToneSource(500, sample_rate=48000, duration=1.0, realtime=False))
    assistant = await read_all(ToneSource(900, sample_rate=24000, channels=2, duration=0.5, realtime=False))
    # the user speaks during the first second; the assistant answers from 2.0 s to 2.5 s
    for frame in user:
        await clock.advance(0.02)
        recorder.write_user(frame, 48000)
    for _ in range(50):
        await clock.advance(0.02)  # nobody sends anything for a second
    for frame in assistant:
        await clock.advance(0.02)
        recorder.write_assistant(frame, 24000)
    assert recorder.duration > 1.5  # written as it goes, not only on close
    recorder.close()
    audio = read_stereo(tmp_path / "rec.wav")
    assert len(audio) == pytest.approx(2.5 * 24000, abs=480)
    left_on = np.flatnonzero(np.abs(audio[:, 0]) > 1000)
    right_on = np.flatnonzero(np.abs(audio[:, 1]) > 1000)
    assert left_on[0] / 24000 == pytest.approx(0.0, abs=0.03)
    assert left_on[-1] / 24000 == pytest.approx(1.0, abs=0.03)
    assert right_on[0] / 24000 == pytest.approx(2.0, abs=0.03)
    assert right_on[-1] / 24000 == pytest.approx(2.5, abs=0.03)


async def test_recorder_file_is_valid_before_close(tmp_path: Path, fake_clock: FakeClock) -> None:
    recorder = StereoRecorder(tmp_path / "rec.wav", clock=fake_clock)
    for frame in await read_all(ToneSource(sample_rate=24000, duration=0.2, realtime=False)):
        recorder.write_user(frame, 24000)
        recorder.write_assistant(frame, 24000)
    audio = np.concatenate(await read_all(FileSource(tmp_path / "rec.wav", realtime=False)))
    assert audio.shape[1] == 2 and len(audio) >= 4000
    recorder.close()
    recorder.write_user(np.ones((480, 1), dtype=np.int16), 24000)  # after close: ignored
    assert len(read_stereo(tmp_path / "rec.wav")) == 4800
