"""Resampling for the local server, always through PyAV's stateful ``AudioResampler``.

``audio/formats.py`` is the project's general resampler; this small helper keeps
the server independent of it while it is being written. ``StreamResampler``
keeps filter state across 20 ms frames (a fresh resampler per frame clicks);
``resample_mono`` converts one whole buffer (a synthesized reply) in one go.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np


class StreamResampler:
    """Converts a stream of ``av.AudioFrame`` (any format/layout/rate) to mono int16 at ``rate``."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)

    def convert(self, frame: av.AudioFrame) -> np.ndarray:
        frame.pts = None  # let the resampler keep its own timeline (aiortc pts can jump)
        out = [f.to_ndarray().reshape(-1) for f in self._resampler.resample(frame)]
        if not out:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate(out).astype(np.int16, copy=False)


def resample_mono(samples: np.ndarray, source_rate: int, target_rate: int) -> np.ndarray:
    """A whole mono int16 buffer from ``source_rate`` to ``target_rate`` (flushed, nothing held back)."""
    samples = np.ascontiguousarray(samples, dtype=np.int16).reshape(1, -1)
    if source_rate == target_rate or samples.shape[1] == 0:
        return samples.reshape(-1).copy()
    frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
    frame.sample_rate = source_rate
    frame.time_base = Fraction(1, source_rate)
    frame.pts = 0
    resampler = av.AudioResampler(format="s16", layout="mono", rate=target_rate)
    out = [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
    out += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
    return np.concatenate(out).astype(np.int16, copy=False) if out else np.zeros(0, dtype=np.int16)
