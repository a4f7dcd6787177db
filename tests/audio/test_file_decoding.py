"""Any audio file in: real speech in every format FFmpeg writes decodes to the same speech, at the right rate and length."""

from __future__ import annotations

import asyncio
import struct
import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest

from audio.base.clock import FakeClock
from audio.base.errors import VoxflowError
from audio.io.file_decoder import AudioFileDecoder
from audio.io.sources import FileSource
from audio.dsp.wavfile import WavWriter
from tests.audio.helpers import read_all
from tests.audio.real_recordings import (
    ENCODINGS,
    RATE,
    Encoding,
    aligned_correlation,
    encode,
    mono_reference,
    needs_recordings,
    read_clip,
    speech,
    CLIP_LONG,
)

pytestmark = needs_recordings
FRAME = 0.02
MP3 = next(e for e in ENCODINGS if e.name == "mp3-44k1-stereo")


@pytest.mark.parametrize("encoding", ENCODINGS, ids=lambda e: e.name)
async def test_every_format_decodes_to_the_same_speech(tmp_path: Path, encoding: Encoding) -> None:
    pcm = speech(encoding.channels)
    path = encode(pcm, RATE, encoding, tmp_path / f"speech{encoding.suffix}")
    seconds = pcm.shape[0] / RATE

    native = FileSource(path, realtime=False)  # nothing asked: the file's own rate and channels
    assert (native.sample_rate, native.channels, native.file_channels) == (encoding.output_rate, encoding.channels, encoding.channels)
    assert native.duration == pytest.approx(seconds, abs=2 * FRAME)  # from the header, before decoding
    native.stop()

    source = FileSource(path, sample_rate=RATE, channels=1, realtime=False)
    frames = await read_all(source)
    assert all(f.shape == (320, 1) and f.dtype == np.int16 for f in frames)
    decoded = np.concatenate(frames)[:, 0].astype(np.float64)
    # the last 20 ms frame is padded; FFmpeg keeps AAC's padding to a whole 1024-sample codec frame at the end
    padding = 1024 / encoding.rate if encoding.codec == "aac" else 0.0
    assert decoded.size / RATE == pytest.approx(seconds, abs=2 * FRAME + padding)
    correlation, lag = aligned_correlation(decoded, mono_reference(pcm))  # stereo: the mean of two different sentences
    assert correlation >= (0.99 if encoding.lossless else 0.9), (correlation, lag)
    assert abs(lag) <= 0.03 * RATE  # codec delay (AAC priming) at most
    assert source.progress == 1.0


async def test_a_long_file_is_decoded_as_it_is_read_not_loaded_at_once(tmp_path: Path) -> None:
    path = tmp_path / "long.wav"
    clip = read_clip(CLIP_LONG).reshape(-1, 1)
    with WavWriter(path, RATE, 1) as writer:
        for _ in range(40):  # 284 s: 9 MB of samples
            writer.write(clip)
    tracemalloc.start()
    try:
        source = FileSource(path, sample_rate=24000, realtime=False)
        frames = [await source.read() for _ in range(100)]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(f is not None for f in frames) and source.duration is not None
    assert source.duration == pytest.approx(40 * clip.shape[0] / RATE, abs=0.01)
    assert source.progress == pytest.approx(2.0 / source.duration, rel=0.01)
    assert peak < 1_000_000, f"{peak} bytes held after 2 s of a 284 s file"
    source.stop()


async def test_a_compressed_file_is_paced_on_the_injected_clock_and_loops(tmp_path: Path, fake_clock: FakeClock) -> None:
    path = encode(speech(2), RATE, MP3, tmp_path / "speech.mp3")
    source = FileSource(path, sample_rate=24000, channels=1, realtime=True, loop=True, clock=fake_clock)
    got: list[np.ndarray] = []

    async def consume() -> None:
        while (frame := await source.read()) is not None:
            got.append(frame)

    task = asyncio.create_task(consume())
    await asyncio.sleep(0)
    assert len(got) == 1
    await fake_clock.advance(1.0)
    assert 50 <= len(got) <= 51  # one 20 ms frame per 20 ms of clock time
    await fake_clock.advance(6.0)  # past the end of the 3 s file: it starts again
    assert source.loops >= 1 and 350 <= len(got) <= 351
    source.stop()
    await asyncio.wait_for(task, 5)


def video_only(path: Path) -> Path:
    with av.open(str(path), "w", format="matroska") as container:
        stream = container.add_stream("mpeg4", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 32, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 40 * i, dtype=np.uint8), format="rgb24")
            for packet in stream.encode(frame.reformat(format="yuv420p")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    real = encode(speech(2), RATE, MP3, tmp_path / "real.mp3").read_bytes()
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfmt ")
    text = tmp_path / "notes.mp3"
    text.write_text("this is not audio\n" * 50)
    noise = tmp_path / "noise.m4a"
    noise.write_bytes(np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    empty = tmp_path / "empty.flac"
    empty.write_bytes(b"")
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(real[:300])  # only the first few hundred bytes of an MP3: too little to recognise
    no_samples = tmp_path / "silent.wav"  # a WAV that declares MP3 data (tag 0x55) and holds 4 zero bytes
    no_samples.write_bytes(
        b"RIFF" + struct.pack("<I", 40) + b"WAVE" + b"fmt " + struct.pack("<IHHIIHH", 16, 0x55, 1, 8000, 1000, 1, 0)
        + b"data" + struct.pack("<I", 4) + b"\0\0\0\0"
    )
    folder = tmp_path / "folder.wav"
    folder.mkdir()
    return {
        "missing": (tmp_path / "nope.ogg", "does not exist: check the path"),
        "folder": (folder, "is a folder: give the path of an audio file"),
        "empty": (empty, "is empty (0 bytes): give a file that holds audio"),
        "text": (text, "is not an audio file voxflow can read"),
        "noise": (noise, "is not an audio file voxflow can read"),
        "header only": (header_only, "is not an audio file voxflow can read"),
        "cut": (cut, "is not an audio file voxflow can read"),
        "no samples": (no_samples, "contains no audio samples"),
        "video only": (video_only(tmp_path / "video.mkv"), "has no audio stream (it holds video)"),
    }


@pytest.mark.parametrize("case", ["missing", "folder", "empty", "text", "noise", "header only", "cut", "no samples", "video only"])
def test_an_unreadable_file_is_one_line_that_says_what_to_do(tmp_path: Path, case: str) -> None:
    path, message = bad_files(tmp_path)[case]
    with pytest.raises(VoxflowError) as info:
        FileSource(path)
    text = str(info.value)
    assert message in text
    assert "\n" not in text and str(path) in text
    assert not any(noise in text for noise in ("Errno", "Invalid data", "av.", "Traceback", "avformat"))
    assert any(fix in text for fix in ("check the path", "give a", "give an", "give the path", "ffmpeg -i"))


async def test_a_damaged_middle_is_skipped_like_ffmpeg_does(tmp_path: Path) -> None:
    path = encode(speech(2), RATE, MP3, tmp_path / "damaged.mp3")
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    data[middle : middle + 600] = np.random.default_rng(2).integers(0, 256, 600, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))
    decoded = np.concatenate(await read_all(FileSource(path, sample_rate=RATE, channels=1, realtime=False)))[:, 0]
    reference = mono_reference(speech(2))
    assert decoded.size / RATE == pytest.approx(reference.size / RATE, abs=0.2)
    head = RATE  # the first second, before the damage, is intact
    correlation, _ = aligned_correlation(decoded[:head].astype(np.float64), reference[:head])
    assert correlation > 0.9


def test_rewind_and_duration_of_the_decoder(tmp_path: Path) -> None:
    path = encode(speech(1), RATE, next(e for e in ENCODINGS if e.name == "flac-16k"), tmp_path / "a.flac")
    with AudioFileDecoder(path) as decoder:
        first = decoder.read()
        assert first is not None and first.shape[1] == 1
        while decoder.read() is not None:
            pass
        assert decoder.progress == pytest.approx(1.0)
        decoder.rewind()
        assert decoder.position == 0.0
        again = decoder.read()
        assert again is not None and np.array_equal(again[: first.shape[0]], first)


async def test_a_wav_whose_writer_crashed_before_fixing_the_header_is_read_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / "crashed.wav"
    WavWriter(path, RATE, 1).close()  # a header that claims no samples...
    clip = read_clip(CLIP_LONG)
    with open(path, "ab") as file:  # ...followed by everything the recorder wrote before it died
        file.write(clip.astype("<i2").tobytes())
    decoded = np.concatenate(await read_all(FileSource(path, realtime=False)))[:, 0]
    assert decoded.size == -(-clip.size // 320) * 320 and np.array_equal(decoded[: clip.size], clip)
