"""Input conditioning for detection and recognition: DC removal and rate conversion, both by FFmpeg through PyAV.

Real recordings often carry a DC offset (a cheap sound card, a phone line's
codec) that a speech detector mistakes for energy and that pushes loud speech
into clipping. A high-pass filter well below the voice band removes it without
touching speech. Both classes are streaming: state carries across calls so
consecutive 20 ms frames join without clicks, and each call returns as many
samples as it was given (the resampler: as many as are ready).
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from audio.formats import Resampler

DC_CUTOFF_HZ = 60
"""Below the lowest voice fundamental (~80 Hz), far above DC."""


def _mono_frame(pcm: np.ndarray, rate: int, pts: int | None = None) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1),
                                       format="s16", layout="mono")
    frame.sample_rate = rate
    if pts is not None:
        frame.pts = pts
        frame.time_base = Fraction(1, rate)
    return frame


class HighPass:
    """FFmpeg's ``highpass`` biquad on a stream of mono int16 frames at one rate."""

    def __init__(self, rate: int, cutoff_hz: int = DC_CUTOFF_HZ) -> None:
        self.rate = rate
        graph = av.filter.Graph()
        source = graph.add_abuffer(format="s16", sample_rate=rate, layout="mono", time_base=Fraction(1, rate))
        graph.link_nodes(source, graph.add("highpass", f"f={cutoff_hz}"), graph.add("abuffersink")).configure()
        self._graph = graph
        self._pts = 0

    def process(self, pcm: np.ndarray) -> np.ndarray:
        if len(pcm) == 0:
            return np.zeros(0, dtype=np.int16)
        self._graph.push(_mono_frame(pcm, self.rate, self._pts))
        self._pts += len(pcm)
        parts = []
        while True:
            try:
                parts.append(self._graph.pull().to_ndarray().reshape(-1))
            except (av.error.BlockingIOError, av.error.EOFError):
                break
        return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def remove_dc(pcm: np.ndarray, rate: int) -> np.ndarray:
    """A whole utterance through :class:`HighPass` (for recognition)."""
    return HighPass(rate).process(pcm)


def resample_mono(pcm: np.ndarray, rate: int, to_rate: int) -> np.ndarray:
    """A whole mono int16 utterance from ``rate`` to ``to_rate`` with PyAV's resampler."""
    if rate == to_rate or len(pcm) == 0:
        return np.asarray(pcm, dtype=np.int16).reshape(-1)
    resampler = Resampler(to_rate, 1)
    return np.concatenate([resampler.process(np.asarray(pcm, dtype=np.int16).reshape(-1, 1), rate),
                           resampler.flush()]).reshape(-1)
