"""WAV, FLAC and Ogg Opus out, chosen by extension: each file reads back (with PyAV alone) as the speech written."""

from __future__ import annotations

import struct
from pathlib import Path

import av
import numpy as np
import pytest

from audio.base.clock import FakeClock
from audio.base.errors import VoxflowError
from audio.io.file_writers import output_kind
from audio.io.recorder import StereoRecorder
from audio.io.sinks import AudioFileSink
from flow.nodes.audio_output import AudioOutputSettings
from tests.audio.real_recordings import CLIP_A, CLIP_B, RATE, aligned_correlation, decode_with_pyav, needs_recordings, read_clip

pytestmark = needs_recordings
CODECS = {".wav": "pcm_s16le", ".flac": "flac", ".ogg": "opus", ".opus": "opus"}


def flac_streaminfo(path: Path) -> tuple[int, bytes]:
    """Total samples and MD5 from a FLAC's STREAMINFO: both are only filled in when the file was finalised."""
    data = path.read_bytes()[:42]
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO is the first metadata block
    info = data[8:42]
    total = int.from_bytes(info[13:18], "big") & ((1 << 36) - 1)
    return total, info[18:34]


def ogg_pages(path: Path) -> list[tuple[int, int]]:
    """(header type flags, granule position) of every Ogg page."""
    data, pages, at = path.read_bytes(), [], 0
    while at < len(data):
        assert data[at : at + 4] == b"OggS", f"no Ogg page at byte {at}"
        flags, granule = data[at + 5], struct.unpack("<q", data[at + 6 : at + 14])[0]
        segments = data[at + 26]
        size = 27 + segments + sum(data[at + 27 : at + 27 + segments])
        pages.append((flags, granule))
        at += size
    return pages


def assert_finalised(path: Path, samples_at_file_rate: int | None = None) -> None:
    """The trailer was written: FLAC's length and MD5, or Ogg's end-of-stream page."""
    if path.suffix == ".flac":
        total, md5 = flac_streaminfo(path)
        assert total > 0 and md5 != bytes(16)
        if samples_at_file_rate is not None:
            assert total == samples_at_file_rate
    elif path.suffix in (".ogg", ".opus"):
        flags, granule = ogg_pages(path)[-1]
        assert flags & 0x04, "the last Ogg page has no end-of-stream flag"
        assert granule > 0


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".opus"])
@pytest.mark.parametrize(("rate", "channels"), [(24000, 1), (16000, 2), (44100, 1)])
def test_each_output_type_reads_back_as_the_speech_written(tmp_path: Path, suffix: str, rate: int, channels: int) -> None:
    clip = read_clip(CLIP_A)
    if rate != RATE:  # speech at the sink's rate, resampled by PyAV
        from audio.dsp.formats import Resampler

        resampler = Resampler(rate, 1)
        clip = np.concatenate([resampler.process(clip.reshape(-1, 1), RATE), resampler.flush()])[:, 0]
    pcm = clip.reshape(-1, 1) if channels == 1 else np.column_stack([clip, clip // 2])
    path = tmp_path / f"out{suffix}"
    sink = AudioFileSink(path, rate, channels)
    step = rate // 50
    for start in range(0, pcm.shape[0], step):
        sink.write(pcm[start : start + step])
    sink.stop()
    assert sink.closed and sink.duration == pytest.approx(pcm.shape[0] / rate)

    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.codec_context.name == CODECS[suffix] and stream.channels == channels
        native = np.concatenate([f.to_ndarray().reshape(-1, channels) if f.format.is_packed else f.to_ndarray().T for f in container.decode(stream)])
        file_rate = stream.rate
    assert native.shape[0] / file_rate == pytest.approx(pcm.shape[0] / rate, abs=0.002)  # nothing lost at the end
    if suffix in (".wav", ".flac"):  # lossless: every sample back exactly
        assert file_rate == rate and np.array_equal(native, pcm)
    decoded, *_ = decode_with_pyav(path, RATE)
    reference = read_clip(CLIP_A).astype(np.float64) * (0.75 if channels == 2 else 1.0)  # the mixdown of clip and clip/2
    correlation, lag = aligned_correlation(decoded, reference)
    assert correlation > 0.95 and abs(lag) <= 0.01 * RATE, (correlation, lag)
    assert_finalised(path, native.shape[0] if suffix == ".flac" else None)


@pytest.mark.parametrize("suffix", [".flac", ".opus"])
async def test_the_stereo_recording_can_be_compressed(tmp_path: Path, fake_clock: FakeClock, suffix: str) -> None:
    user, assistant = read_clip(CLIP_A), read_clip(CLIP_B)[: read_clip(CLIP_A).size]
    path = tmp_path / f"both{suffix}"
    recorder = StereoRecorder(path, sample_rate=24000, clock=fake_clock)
    for start in range(0, user.size, 320):  # both sides speak at once, 20 ms at a time on one clock
        await fake_clock.advance(0.02)
        recorder.write_user(user[start : start + 320], RATE)
        recorder.write_assistant(assistant[start : start + 320], RATE)
    recorder.close()
    assert_finalised(path)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        assert stream.channels == 2
        resampler = av.AudioResampler(format="s16", layout="stereo", rate=RATE)
        parts = []
        for frame in container.decode(stream):
            frame.pts = None
            parts += [f.to_ndarray().reshape(-1, 2) for f in resampler.resample(frame)]
        stereo = np.concatenate(parts).astype(np.float64)
    for channel, expected in ((0, user), (1, assistant)):
        correlation, _ = aligned_correlation(stereo[:, channel], expected.astype(np.float64))
        assert correlation > 0.95, (channel, correlation)


@pytest.mark.parametrize("name", ["reply.mp3", "reply.m4a", "reply.WAVE", "reply"])
def test_an_unknown_extension_is_refused_with_the_allowed_ones(tmp_path: Path, name: str) -> None:
    with pytest.raises(VoxflowError) as info:
        AudioFileSink(tmp_path / name, 24000, 1)
    text = str(info.value)
    assert "\n" not in text and ".wav, .flac, .ogg, .opus" in text and "cannot write" in text
    assert not (tmp_path / name).exists()
    with pytest.raises(VoxflowError, match="--record"):
        output_kind(name, "--record")
    with pytest.raises(ValueError, match="end the name in one of .wav, .flac, .ogg, .opus"):
        AudioOutputSettings(sink="file", path=name)


def test_upper_case_extensions_are_accepted(tmp_path: Path) -> None:
    assert [output_kind(f"x{s}") for s in (".WAV", ".Flac", ".OGG", ".opus")] == ["wav", "flac", "opus", "opus"]


def test_a_path_that_cannot_be_created_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(VoxflowError) as info:
        AudioFileSink(blocker / "out.flac", 24000, 1)
    assert "\n" not in str(info.value) and "writable folder" in str(info.value)


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize("suffix", [".flac", ".opus"])
def test_a_full_disk_is_one_line_and_closing_afterwards_is_quiet(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"full{suffix}"
    path.symlink_to("/dev/full")
    sink = AudioFileSink(path, 24000, 1)
    noise = np.random.default_rng(0).normal(0, 3000, (480, 1)).astype(np.int16)  # incompressible: fills FFmpeg's buffer fast
    with pytest.raises(VoxflowError) as info:
        for _ in range(3000):
            sink.write(noise)
        sink.stop()
    assert str(info.value) == f"cannot write the audio file {str(path)!r}: No space left on device; free some disk space or choose another output path."
    sink.stop()  # the node's cleanup after the failure: no second error
    assert sink.closed
