"""Real human recordings (Debian's pocketsphinx-testdata) and encoded copies of them, made with PyAV.

Nothing encoded is committed: each test writes the formats it needs from the
LibriVox clips, so a claim about "any audio file" is checked on real speech
in real files written by FFmpeg's own encoders.
"""

from __future__ import annotations

import wave
from fractions import Fraction
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from tests.real_speech import POCKETSPHINX_DATA

LIBRIVOX = POCKETSPHINX_DATA / "librivox"
CLIP_A = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0880.wav"  # 2.99 s, 16 kHz mono
CLIP_B = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0930.wav"  # 3.29 s, another sentence
CLIP_LONG = LIBRIVOX / "sense_and_sensibility_01_austen_64kb-0870.wav"  # 7.1 s
RATE = 16000

needs_recordings = pytest.mark.usefixtures("real_recordings")
"""Fails (never skips) with the install hint when the Debian recordings are missing: see tests/conftest.py."""


def read_clip(path: Path) -> np.ndarray:
    """A 16 kHz mono int16 clip as a 1-D array."""
    with wave.open(str(path)) as handle:
        assert handle.getframerate() == RATE and handle.getnchannels() == 1 and handle.getsampwidth() == 2
        return np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").astype(np.int16)


def speech(channels: int) -> np.ndarray:
    """``(samples, channels)`` int16 at 16 kHz: clip A, or A left and B right (different sentences)."""
    a = read_clip(CLIP_A)
    if channels == 1:
        return a.reshape(-1, 1)
    b = read_clip(CLIP_B)[: a.size]
    return np.column_stack([a, b])


def mono_reference(pcm: np.ndarray) -> np.ndarray:
    """What a correct decoder gives after mixing down: the mean of the channels, as float."""
    return pcm.astype(np.float64).mean(axis=1)


@dataclass(frozen=True)
class Encoding:
    """One way of storing the speech: container, codec, rate, channels."""

    name: str
    container: str
    codec: str
    rate: int
    channels: int
    suffix: str
    lossless: bool
    decoded_rate: int | None = None
    """The rate FFmpeg decodes it at (Opus always decodes at 48 kHz); default ``rate``."""
    options: dict[str, str] = field(default_factory=dict)

    @property
    def output_rate(self) -> int:
        return self.decoded_rate or self.rate


ENCODINGS = [
    Encoding("wav-u8-8k", "wav", "pcm_u8", 8000, 1, ".wav", False),  # 8-bit: ~48 dB SNR, counted as lossy
    Encoding("wav-s16-44k1-stereo", "wav", "pcm_s16le", 44100, 2, ".wav", True),
    Encoding("wav-s24-96k", "wav", "pcm_s24le", 96000, 1, ".wav", True),
    Encoding("wav-s32-48k-stereo", "wav", "pcm_s32le", 48000, 2, ".wav", True),
    Encoding("wav-f32-44k1-stereo", "wav", "pcm_f32le", 44100, 2, ".wav", True),
    Encoding("wav-f64-22k05", "wav", "pcm_f64le", 22050, 1, ".wav", True),
    Encoding("wav-mulaw-8k", "wav", "pcm_mulaw", 8000, 1, ".wav", False),
    Encoding("wav-alaw-8k", "wav", "pcm_alaw", 8000, 1, ".wav", False),
    Encoding("flac-96k-stereo", "flac", "flac", 96000, 2, ".flac", True),
    Encoding("flac-16k", "flac", "flac", 16000, 1, ".flac", True),
    Encoding("mp3-44k1-stereo", "mp3", "libmp3lame", 44100, 2, ".mp3", False),
    Encoding("mp3-8k", "mp3", "libmp3lame", 8000, 1, ".mp3", False),
    Encoding("ogg-vorbis-44k1-stereo", "ogg", "vorbis", 44100, 2, ".ogg", False, options={"strict": "experimental"}),
    Encoding("ogg-opus-48k-stereo", "ogg", "libopus", 48000, 2, ".opus", False),
    Encoding("ogg-opus-16k", "ogg", "libopus", 16000, 1, ".ogg", False, decoded_rate=48000),
    Encoding("m4a-aac-44k1-stereo", "ipod", "aac", 44100, 2, ".m4a", False),
    Encoding("m4a-aac-8k", "ipod", "aac", 8000, 1, ".m4a", False),
]


def encode(pcm: np.ndarray, rate: int, encoding: Encoding, path: Path) -> Path:
    """Write ``pcm`` (int16 ``(samples, channels)`` at ``rate``) as ``encoding`` with PyAV."""
    layout = "stereo" if encoding.channels == 2 else "mono"
    assert pcm.shape[1] == encoding.channels
    with av.open(str(path), "w", format=encoding.container) as container:
        stream: Any = container.add_stream(encoding.codec, rate=encoding.rate, options=dict(encoding.options))
        stream.layout = layout
        resampler = av.AudioResampler(format=stream.format.name, layout=layout, rate=encoding.rate)
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm).reshape(1, -1), format="s16", layout=layout)
        frame.sample_rate = rate
        written = 0
        for converted in [*resampler.resample(frame), *resampler.resample(None)]:
            converted.pts, converted.time_base = written, Fraction(1, encoding.rate)  # as ffmpeg's CLI does
            written += converted.samples
            for packet in stream.encode(converted):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def decode_with_pyav(path: Path, rate: int = RATE) -> tuple[np.ndarray, str, int, int]:
    """Mono float samples at ``rate`` (PyAV alone, independent of voxflow), codec, file rate, channels."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        parts = []
        for frame in container.decode(stream):
            frame.pts = None
            parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(frame)]
        parts += [f.to_ndarray().reshape(-1) for f in resampler.resample(None)]
        return np.concatenate(parts).astype(np.float64), stream.codec_context.name, stream.rate, stream.channels


def band(signal: np.ndarray, rate: int = RATE, low: float = 150.0, high: float = 3400.0) -> np.ndarray:
    """Telephone band only, so an 8 kHz file and a 96 kHz file are compared on the same content."""
    spectrum = np.fft.rfft(signal)
    freqs = np.fft.rfftfreq(signal.size, 1.0 / rate)
    spectrum[(freqs < low) | (freqs > high)] = 0
    return np.fft.irfft(spectrum, signal.size)


def aligned_correlation(decoded: np.ndarray, reference: np.ndarray, max_lag: int = 1600) -> tuple[float, int]:
    """Best Pearson correlation of the two (telephone band) over lags up to ``max_lag`` samples, and that lag."""
    n = max(decoded.size, reference.size) + max_lag
    x = band(np.pad(decoded, (0, n - decoded.size)))
    y = band(np.pad(reference, (0, n - reference.size)))
    cross = np.fft.irfft(np.fft.rfft(x) * np.conj(np.fft.rfft(y)), n)
    lags = np.r_[0 : max_lag + 1, n - max_lag : n]
    lag = int(lags[np.argmax(cross[lags])])
    lag = lag if lag <= max_lag else lag - n
    shifted = np.roll(x, -lag)
    return float(np.corrcoef(shifted, y)[0, 1]), lag
