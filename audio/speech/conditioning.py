"""Recognition input: the recogniser's rate and no DC offset, both by FFmpeg through PyAV.

Real recordings often carry a DC offset (a cheap sound card, a phone line's
codec). pocketsphinx's pre-emphasis already ignores it (its WER is the same at
offsets up to half of full scale, see BENCHMARKS.md), but a recogniser
without one would hear it as a loud low tone; the high-pass well below the
voice band costs a fraction of a millisecond per audio second.
"""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np

from audio.dsp.formats import Resampler

DC_CUTOFF_HZ = 60
"""Below the lowest voice fundamental (~80 Hz), far above DC."""


def remove_dc(pcm: np.ndarray, rate: int, cutoff_hz: int = DC_CUTOFF_HZ) -> np.ndarray:
    """A whole mono int16 utterance through FFmpeg's ``highpass`` biquad (same length out)."""
    return filter_mono(pcm, rate, f"highpass=f={cutoff_hz}")


def filter_mono(pcm: np.ndarray, rate: int, chain: str) -> np.ndarray:
    """A whole mono int16 utterance through an FFmpeg filter chain (``"highpass=f=300,lowpass=f=3400"``)."""
    if len(pcm) == 0:
        return np.zeros(0, dtype=np.int16)
    graph = av.filter.Graph()
    nodes = [graph.add_abuffer(format="s16", sample_rate=rate, layout="mono", time_base=Fraction(1, rate))]
    for step in chain.split(","):
        name, _, args = step.partition("=")
        nodes.append(graph.add(name, args or None))
    nodes.append(graph.add("abuffersink"))
    graph.link_nodes(*nodes).configure()
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1),
                                       format="s16", layout="mono")
    frame.sample_rate, frame.pts, frame.time_base = rate, 0, Fraction(1, rate)
    graph.push(frame)
    graph.push(None)
    parts = []
    while True:
        try:
            parts.append(graph.pull().to_ndarray().reshape(-1))
        except (av.error.BlockingIOError, av.error.EOFError):
            break
    return np.concatenate(parts).astype(np.int16) if parts else np.zeros(0, dtype=np.int16)


def resample_mono(pcm: np.ndarray, rate: int, to_rate: int) -> np.ndarray:
    """A whole mono int16 utterance from ``rate`` to ``to_rate`` with PyAV's resampler."""
    if rate == to_rate or len(pcm) == 0:
        return np.asarray(pcm, dtype=np.int16).reshape(-1)
    resampler = Resampler(to_rate, 1)
    return np.concatenate([resampler.process(np.asarray(pcm, dtype=np.int16).reshape(-1, 1), rate),
                           resampler.flush()]).reshape(-1)
