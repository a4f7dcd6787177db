"""File, tone and silence sources: content, conversion, pacing, stopping, errors."""

from __future__ import annotations

import asyncio
import re
import struct
from pathlib import Path

import numpy as np
import pytest

from audio.base.clock import FakeClock
from audio.base.errors import VoxflowError
from audio.dsp.formats import pcm_to_wav_bytes, to_int16
from audio.dsp.frames import AudioSource
from audio.io.sinks import WavFileSink
from audio.io.sources import FileSource, SilenceSource, ToneSource
from tests.audio.helpers import dominant_frequency, read_all, rms_db


def write_tone_wav(path: Path, freq: float, rate: int, seconds: float, channels: int = 1) -> Path:
    t = np.arange(round(rate * seconds)) / rate
    mono = to_int16(0.5 * np.sin(2 * np.pi * freq * t)).reshape(-1, 1)
    path.write_bytes(pcm_to_wav_bytes(np.repeat(mono, channels, axis=1), rate))
    return path


async def test_tone_source_frequency_level_and_duration() -> None:
    source = ToneSource(frequency=1000, level_dbfs=-6, sample_rate=48000, channels=2, duration=0.5, realtime=False)
    assert isinstance(source, AudioSource)
    frames = await read_all(source)
    assert len(frames) == 25 and all(f.shape == (960, 2) and f.dtype == np.int16 for f in frames)
    audio = np.concatenate(frames)
    assert np.array_equal(audio[:, 0], audio[:, 1])
    assert dominant_frequency(audio[:, 0], 48000) == pytest.approx(1000, abs=1)
    assert 20 * np.log10(np.abs(audio).max() / 32767) == pytest.approx(-6, abs=0.05)
    assert rms_db(audio[:, 0]) == pytest.approx(-6 - 3.01, abs=0.1)
    assert source.ended and await source.read() is None


async def test_silence_source_is_zero_and_ends() -> None:
    frames = await read_all(SilenceSource(sample_rate=24000, duration=0.1, realtime=False))
    assert len(frames) == 5 and all(f.shape == (480, 1) and not f.any() for f in frames)


async def test_file_source_converts_stereo_44k1_to_mono_24k(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "in.wav", 600, 44100, 1.0, channels=2)
    source = FileSource(path, sample_rate=24000, channels=1, realtime=False)
    assert source.duration == pytest.approx(1.0) and source.progress == 0.0
    frames = await read_all(source)
    assert all(f.shape == (480, 1) for f in frames)
    audio = np.concatenate(frames)
    assert abs(len(audio) - 24000) <= 480
    assert dominant_frequency(audio[:, 0], 24000) == pytest.approx(600, abs=2)
    assert source.progress == 1.0


async def test_file_source_keeps_file_format_by_default_and_loops(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "in.wav", 300, 16000, 0.1)
    source = FileSource(path, loop=True, realtime=False)
    assert (source.sample_rate, source.channels) == (16000, 1)
    frames = [await source.read() for _ in range(30)]  # 0.6 s from a 0.1 s file
    assert all(f is not None and f.shape == (320, 1) for f in frames)
    assert source.loops >= 5
    source.stop()
    assert await source.read() is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "does not exist: check the path"),
        (b"", "is empty (0 bytes): give a file that holds audio"),
        (b"hello, not audio", "is not an audio file voxflow can read"),
        (
            b"RIFF" + struct.pack("<I", 40) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 0x55, 1, 8000, 1000, 1, 0)
            + b"data" + struct.pack("<I", 4) + b"\0\0\0\0",
            "contains no audio samples",
        ),
    ],
)
def test_file_source_errors_say_what_is_wrong_and_how_to_fix(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "x.wav"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VoxflowError, match=re.escape(message)) as info:
        FileSource(path)
    assert "\n" not in str(info.value)  # one line, which says what to do
    assert any(fix in str(info.value) for fix in ("check the path", "give a", "ffmpeg -i"))


async def test_file_source_reads_24_bit_and_float_wav(tmp_path: Path) -> None:
    rate = 8000
    t = np.arange(rate // 2) / rate
    x = 0.25 * np.sin(2 * np.pi * 500 * t)
    as24 = (np.round(x * 8388607).astype(np.int32)).astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
    as_float = x.astype("<f4").tobytes()
    for data, tag, bits in ((as24, 1, 24), (as_float, 3, 32)):
        block = bits // 8
        header = b"RIFF" + struct.pack("<I", 36 + len(data)) + b"WAVE" + b"fmt " + struct.pack(
            "<IHHIIHH", 16, tag, 1, rate, rate * block, block, bits
        ) + b"data" + struct.pack("<I", len(data))
        path = tmp_path / f"x{bits}.wav"
        path.write_bytes(header + data)
        audio = np.concatenate(await read_all(FileSource(path, realtime=False)))
        assert dominant_frequency(audio[:4000, 0], rate) == pytest.approx(500, abs=2)
        assert rms_db(audio[:4000, 0]) == pytest.approx(20 * np.log10(0.25 / np.sqrt(2)), abs=0.1)


async def test_realtime_source_is_paced_on_the_clock(fake_clock: FakeClock) -> None:
    source = ToneSource(sample_rate=16000, realtime=True, clock=fake_clock)
    got: list[np.ndarray] = []

    async def consume() -> None:
        while (frame := await source.read()) is not None:
            got.append(frame)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    assert len(got) == 1  # the first frame is due at once
    await fake_clock.advance(1.0)
    assert 50 <= len(got) <= 51  # one frame per 20 ms of clock time
    source.stop()  # stop ends the pending (sleeping) read
    await asyncio.wait_for(task, 5)
    assert task.result() is None


async def test_file_sink_round_trip(tmp_path: Path) -> None:
    sink = WavFileSink(tmp_path / "out.wav", 24000, 1)
    frames = await read_all(ToneSource(800, sample_rate=24000, duration=0.2, realtime=False))
    for frame in frames:
        sink.write(frame)
    sink.stop()
    assert sink.frames_written == 10 and sink.duration == pytest.approx(0.2)
    back = np.concatenate(await read_all(FileSource(tmp_path / "out.wav", realtime=False)))
    assert np.array_equal(back, np.concatenate(frames))


async def test_file_source_reads_extensible_and_8_bit_wav(tmp_path: Path) -> None:
    rate = 16000
    t = np.arange(rate // 4) / rate
    x = 0.5 * np.sin(2 * np.pi * 1000 * t)
    stereo16 = np.repeat(np.rint(x * 32767).astype("<i2").reshape(-1, 1), 2, axis=1).tobytes()
    pcm_guid = struct.pack("<IHH8s", 1, 0x0000, 0x0010, bytes.fromhex("800000aa00389b71"))
    extensible = struct.pack("<HHIIHHHHI", 0xFFFE, 2, rate, rate * 4, 4, 16, 22, 16, 3) + pcm_guid
    unsigned8 = np.rint(x * 127 + 128).astype(np.uint8).tobytes()
    plain8 = struct.pack("<HHIIHH", 1, 1, rate, rate, 1, 8)
    for name, fmt, data in (("ext.wav", extensible, stereo16), ("u8.wav", plain8, unsigned8)):
        chunks = b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"LIST" + struct.pack("<I", 4) + b"INFO"
        chunks += b"data" + struct.pack("<I", len(data)) + data
        path = tmp_path / name
        path.write_bytes(b"RIFF" + struct.pack("<I", 4 + len(chunks)) + b"WAVE" + chunks)
        source = FileSource(path, channels=1, realtime=False)
        audio = np.concatenate(await read_all(source))[:, 0]
        assert dominant_frequency(audio[: rate // 4], rate) == pytest.approx(1000, abs=2)
        assert rms_db(audio[: rate // 4]) == pytest.approx(20 * np.log10(0.5 / np.sqrt(2)), abs=0.2)
