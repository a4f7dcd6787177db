"""A compressed copy of a recording (what the HTML report embeds): the same speech on the same sides, much smaller.

Read back with PyAV alone: Ogg Opus, the WAV's channels and length within one Opus frame,
each side correlated with the sentence written there, a fraction of the WAV's bytes, the
same bytes every time, and one line when the file cannot be read.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import av
import numpy as np
import pytest

from audio.base.errors import VoxflowError
from audio.dsp.formats import Resampler
from audio.dsp.wavfile import WavWriter
from audio.io.file_transcoder import COPY_BITS_PER_CHANNEL, COPY_FRAME_MS, compressed_copy
from tests.audio.real_recordings import RATE, aligned_correlation, needs_recordings, speech

pytestmark = needs_recordings
OPUS_FRAME_S = 0.020  # Opus's usual frame: the copy's length is within it (its end page trims the padding)


def stereo_wav(path: Path, rate: int) -> np.ndarray:
    """Clip A on the left and clip B on the right (two sentences at once), at ``rate``; the 16 kHz original back."""
    pcm = speech(2)
    resampler = Resampler(rate, 2)
    at_rate = np.concatenate([resampler.process(pcm, RATE), resampler.flush()]) if rate != RATE else pcm
    with WavWriter(path, rate, 2) as writer:
        writer.write(at_rate)
    return pcm


def decoded(data: bytes) -> tuple[str, int, np.ndarray]:
    """Codec, channels and ``(samples, 2)`` float samples at 16 kHz, decoded and resampled by PyAV."""
    with av.open(io.BytesIO(data)) as container:
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=RATE)
        parts = []
        for frame in container.decode(stream):
            frame.pts = None
            parts += [f.to_ndarray().reshape(-1, 2) for f in resampler.resample(frame)]
        parts += [f.to_ndarray().reshape(-1, 2) for f in resampler.resample(None)]
        return stream.codec_context.name, stream.channels, np.concatenate(parts).astype(np.float64)


@pytest.mark.parametrize("rate", [24000, 44100])  # the recorder's rate (Opus takes it), and one it resamples
def test_the_copy_is_the_same_speech_on_the_same_sides(tmp_path: Path, rate: int) -> None:
    wav = tmp_path / "run.wav"
    pcm = stereo_wav(wav, rate)
    data = compressed_copy(wav)
    codec, channels, samples = decoded(data)
    assert codec == "opus" and channels == 2
    assert abs(samples.shape[0] - pcm.shape[0]) / RATE <= OPUS_FRAME_S
    for side in (0, 1):  # the caller stays left, the assistant right
        correlation, lag = aligned_correlation(samples[:, side], pcm[:, side].astype(np.float64))
        assert correlation > 0.9 and abs(lag) <= 0.01 * RATE, (side, correlation, lag)
    assert len(data) < wav.stat().st_size / 8
    with av.open(io.BytesIO(data)) as container:  # long frames: half the encoding time
        stream = container.streams.audio[0]
        durations = [packet.duration * stream.time_base for packet in container.demux(stream) if packet.size]
    assert {float(duration) for duration in durations[1:-1]} == {COPY_FRAME_MS / 1000}, durations[:3]
    assert compressed_copy(wav) == data  # bit-exact: the same page from the same recording


def test_the_bit_rate_is_the_one_asked_for(tmp_path: Path) -> None:
    wav = tmp_path / "run.wav"
    stereo_wav(wav, 24000)
    seconds = speech(2).shape[0] / RATE
    sizes = []
    for bits in (12_000, COPY_BITS_PER_CHANNEL):
        sizes.append(len(compressed_copy(wav, bits_per_channel=bits)))
        rate = sizes[-1] * 8 / seconds
        assert 0.7 * 2 * bits < rate < 1.3 * 2 * bits, (bits, rate)  # VBR speech, plus the Ogg headers
    assert sizes[0] < sizes[1]


def test_an_unreadable_file_is_one_line_and_nothing_is_left_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    stereo_wav(tmp_path / "run.wav", 24000)
    assert compressed_copy(tmp_path / "run.wav")
    with pytest.raises(VoxflowError, match="does not exist"):
        compressed_copy(tmp_path / "missing.wav")
    damaged = tmp_path / "damaged.wav"
    damaged.write_bytes(b"RIFF\x10\x00\x00\x00WAVEfmt not audio" * 4)
    with pytest.raises(VoxflowError, match="not an audio file voxflow can read") as caught:
        compressed_copy(damaged)
    assert "\n" not in str(caught.value)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["damaged.wav", "run.wav"]  # no temporary copy stays
