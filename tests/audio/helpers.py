"""Signal measurements shared by the audio tests."""

from __future__ import annotations

import numpy as np

from audio.dsp.frames import AudioSource


def dominant_frequency(mono: np.ndarray, rate: int) -> float:
    """Frequency (Hz) of the strongest FFT bin, refined by parabolic interpolation."""
    x = np.asarray(mono, dtype=np.float64).reshape(-1)
    x = x - x.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = int(np.argmax(spectrum[1:]) + 1)
    if 1 <= k < len(spectrum) - 1:
        a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
        k = k + 0.5 * (a - c) / (a - 2 * b + c)
    return k * rate / len(x)


def rms_db(mono: np.ndarray) -> float:
    x = np.asarray(mono, dtype=np.float64).reshape(-1) / 32768.0
    return 20 * np.log10(np.sqrt(np.mean(x * x)) + 1e-12)


async def read_all(source: AudioSource, limit: int = 100_000) -> list[np.ndarray]:
    frames = []
    for _ in range(limit):
        frame = await source.read()
        if frame is None:
            break
        frames.append(frame)
    return frames
