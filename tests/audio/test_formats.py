"""Formats: sample conversion, mixing, resampling and edge buffers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from audio.base.edge import AudioEdgeData
from audio.base.errors import VoxflowError
from audio.dsp.formats import (
    FrameChunker,
    Resampler,
    duration_seconds,
    edge_buffer_from_pcm,
    pcm_from_edge_buffer,
    pcm_to_wav_bytes,
    to_channels,
    to_float32,
    to_int16,
    to_mono,
    wav_bytes_to_pcm,
)
from tests.audio.helpers import dominant_frequency, rms_db


def tone(freq: float, rate: int, seconds: float, amplitude: float = 0.5, channels: int = 1) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    mono = to_int16(amplitude * np.sin(2 * np.pi * freq * t)).reshape(-1, 1)
    return np.repeat(mono, channels, axis=1)


def test_int16_float_round_trip_and_clipping() -> None:
    pcm = np.array([-32768, -1, 0, 1, 32767], dtype=np.int16)
    assert np.array_equal(to_int16(to_float32(pcm)), pcm)
    assert to_int16(np.array([2.0, -2.0])).tolist() == [32767, -32768]


def test_stereo_to_mono_downmix_averages_channels() -> None:
    stereo = np.array([[1000, 3000], [-2000, 2000], [32767, 32767]], dtype=np.int16)
    assert to_mono(stereo).tolist() == [[2000], [0], [32767]]
    assert to_channels(np.array([[5], [-7]], dtype=np.int16), 2).tolist() == [[5, 5], [-7, -7]]
    assert to_channels(stereo, 2) is stereo


def test_resample_1khz_48k_to_24k_keeps_frequency_and_level() -> None:
    source = tone(1000, 48000, 1.0, amplitude=0.5)
    resampler = Resampler(24000, 1)
    pieces = [resampler.process(source[i : i + 960], 48000) for i in range(0, len(source), 960)]
    out = np.concatenate([*pieces, resampler.flush()])
    assert abs(len(out) - 24000) <= 64
    steady = out[1200:-1200, 0]
    assert dominant_frequency(steady, 24000) == pytest.approx(1000, abs=2)
    assert rms_db(steady) == pytest.approx(rms_db(source[2400:-2400, 0]), abs=0.5)


@pytest.mark.parametrize("out_rate", [48000, 24000])
def test_mono_to_stereo_copies_the_channel_at_its_level(out_rate: int) -> None:
    """Not FFmpeg's upmix, which puts mono in the centre at -3 dB per side."""
    source = tone(1000, 48000, 0.5, amplitude=0.5)
    resampler = Resampler(out_rate, 2)
    out = np.concatenate([resampler.process(source[i : i + 960], 48000) for i in range(0, len(source), 960)]
                         + [resampler.flush()])
    assert out.shape[1] == 2 and np.array_equal(out[:, 0], out[:, 1])
    assert rms_db(out[1200:-1200, 0]) == pytest.approx(rms_db(source[2400:-2400, 0]), abs=0.1)


def test_resample_stereo_48k_frames_from_aiortc_to_mono_24k() -> None:
    import av

    stereo = tone(440, 48000, 0.5, channels=2)
    resampler = Resampler(24000, 1)
    out = []
    for i in range(0, len(stereo), 960):
        frame = av.AudioFrame.from_ndarray(stereo[i : i + 960].reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = 48000
        out.append(resampler.process_av(frame))
    mono = np.concatenate(out)
    assert mono.shape[1] == 1
    assert dominant_frequency(mono[600:], 24000) == pytest.approx(440, abs=3)


def test_resampler_follows_a_change_of_input_rate() -> None:
    resampler = Resampler(16000, 1)
    a = resampler.process(tone(300, 48000, 0.2), 48000)
    b = resampler.process(tone(300, 8000, 0.2), 8000)
    total = len(a) + len(b) + len(resampler.flush())
    assert abs(total - 6400) <= 64


def test_wav_bytes_round_trip_and_duration() -> None:
    pcm = tone(500, 16000, 0.25, channels=2)
    decoded, rate = wav_bytes_to_pcm(pcm_to_wav_bytes(pcm, 16000))
    assert rate == 16000 and np.array_equal(decoded, pcm)
    assert duration_seconds(pcm, 16000) == pytest.approx(0.25)


def test_edge_buffer_pcm_24k_is_mono_at_the_named_rate() -> None:
    pcm = tone(1000, 48000, 0.5, channels=2)
    edge = edge_buffer_from_pcm(pcm, 48000)
    assert edge.type == "buffer" and edge.mime_type == "audio/pcm;rate=24000" and edge.sample_rate == 24000
    again = AudioEdgeData.from_dict(edge.to_dict())
    decoded, rate = pcm_from_edge_buffer(again)
    assert rate == 24000 and decoded.shape[1] == 1
    assert abs(len(decoded) - 12000) <= 64
    assert dominant_frequency(decoded[600:-600], 24000) == pytest.approx(1000, abs=3)


def test_edge_buffer_wav_round_trip() -> None:
    pcm = tone(700, 22050, 0.1, channels=2)
    decoded, rate = pcm_from_edge_buffer(edge_buffer_from_pcm(pcm, 22050, mime="audio/wav"))
    assert rate == 22050 and np.array_equal(decoded, pcm)


def test_edge_buffer_errors_say_what_to_use() -> None:
    with pytest.raises(VoxflowError, match="audio/pcm;rate=24000"):
        edge_buffer_from_pcm(tone(100, 8000, 0.1), 8000, mime="audio/mpeg")
    with pytest.raises(VoxflowError, match="stream"):
        pcm_from_edge_buffer(AudioEdgeData.stream("s-1"))
    with pytest.raises(VoxflowError, match="base64"):
        pcm_from_edge_buffer(AudioEdgeData.from_buffer("***", "audio/pcm;rate=24000"))


def test_frame_chunker_recuts_blocks_into_frames() -> None:
    chunker = FrameChunker(480, 1)
    data = np.arange(1000, dtype=np.int16).reshape(-1, 1)
    frames = chunker.push(data[:700]) + chunker.push(data[700:])
    assert [len(f) for f in frames] == [480, 480]
    assert np.array_equal(np.concatenate(frames), data[:960])
    last = chunker.drain()
    assert last is not None and len(last) == 480 and last[:40, 0].tolist() == list(range(960, 1000))
    assert chunker.drain() is None


@given(sizes=st.lists(st.integers(min_value=0, max_value=2000), max_size=30))
def test_frame_chunker_never_loses_or_reorders_samples(sizes: list[int]) -> None:
    chunker = FrameChunker(320, 2)
    total = sum(sizes)
    data = np.arange(total * 2, dtype=np.int64).astype(np.int16).reshape(-1, 2)
    frames, at = [], 0
    for size in sizes:
        frames += chunker.push(data[at : at + size])
        at += size
    assert all(f.shape == (320, 2) for f in frames)
    tail = chunker.drain(pad=False)
    joined = np.concatenate([*frames, tail] if tail is not None else frames) if (frames or tail is not None) else data[:0]
    assert np.array_equal(joined, data)
