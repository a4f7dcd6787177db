"""Real human recordings for server tests, as PCM16 at the rate a transport wants (resampled with PyAV)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

POCKETSPHINX_DATA = Path("/usr/share/pocketsphinx/test/data")
GO_FORWARD = POCKETSPHINX_DATA / "goforward.raw"  # "go forward ten meters", 16 kHz s16 mono (pocketsphinx-testdata)


def raw_recording(path: Path = GO_FORWARD, rate: int = 24_000) -> np.ndarray:
    """A 16 kHz s16 mono ``.raw`` recording as mono int16 at ``rate``."""
    samples = np.fromfile(path, dtype="<i2")
    frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = 16_000
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    out = [f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]]
    return np.concatenate(out)
