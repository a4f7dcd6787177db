"""Benchmark: CPU per audio second to decode each input format and to encode each output format.

    python tests/benchmarks/bench_audio_files.py [--seconds 60]

The five LibriVox clips of pocketsphinx-testdata (real read speech, 16 kHz),
repeated to SECONDS, are encoded with PyAV into every input format voxflow is
tested on. Decoding is timed the way a run reads a file: ``FileSource`` with
no pacing, converted to 24 kHz mono 20 ms frames. Encoding is timed the way a
run writes one: 20 ms int16 frames at 24 kHz mono into ``AudioFileSink``
(WAV, FLAC, Ogg Opus), including closing the file. Figures are CPU seconds per
audio second (process time), best of three, with the file size per audio
second.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audio.dsp.formats import Resampler  # noqa: E402
from audio.io.sinks import AudioFileSink  # noqa: E402
from audio.io.sources import FileSource  # noqa: E402
from tests.audio.real_recordings import ENCODINGS, LIBRIVOX, RATE, encode, read_clip  # noqa: E402

PIPELINE_RATE = 24000
INPUTS = ["wav-s16-44k1-stereo", "wav-s24-96k", "wav-f32-44k1-stereo", "wav-mulaw-8k", "flac-16k", "flac-96k-stereo",
          "mp3-44k1-stereo", "ogg-vorbis-44k1-stereo", "ogg-opus-48k-stereo", "m4a-aac-44k1-stereo"]


def speech(seconds: float) -> np.ndarray:
    clips = np.concatenate([read_clip(path) for path in sorted(LIBRIVOX.glob("*.wav"))])
    return np.resize(clips, round(seconds * RATE))


def best_of(runs: int, work) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        start = time.process_time()
        work()
        times.append(time.process_time() - start)
    return min(times)


def decode_all(path: Path) -> None:
    async def read() -> None:
        source = FileSource(path, sample_rate=PIPELINE_RATE, channels=1, realtime=False)
        while await source.read() is not None:
            pass

    asyncio.run(read())


def encode_all(path: Path, pcm: np.ndarray) -> None:
    sink = AudioFileSink(path, PIPELINE_RATE, 1)
    step = PIPELINE_RATE // 50
    for start in range(0, pcm.shape[0], step):
        sink.write(pcm[start : start + step])
    sink.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    mono = speech(args.seconds)
    seconds = mono.size / RATE
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        print(f"decode ({seconds:.0f} s of LibriVox speech -> FileSource, 24 kHz mono 20 ms frames)")
        print(f"{'format':<24} {'CPU ms / audio s':>17} {'% of a core':>12} {'file kB / s':>12}")
        for name in INPUTS:
            encoding = next(e for e in ENCODINGS if e.name == name)
            pcm = mono.reshape(-1, 1) if encoding.channels == 1 else np.column_stack([mono, mono])
            path = encode(pcm, RATE, encoding, tmp / f"{name}{encoding.suffix}")
            cpu = best_of(3, lambda p=path: decode_all(p)) / seconds  # type: ignore[misc]
            print(f"{name:<24} {cpu * 1000:>17.2f} {cpu * 100:>11.2f}% {path.stat().st_size / seconds / 1000:>12.1f}")

        resampler = Resampler(PIPELINE_RATE, 1)
        pcm24 = np.concatenate([resampler.process(mono.reshape(-1, 1), RATE), resampler.flush()])
        print(f"\nencode ({seconds:.0f} s, 24 kHz mono 20 ms frames -> AudioFileSink, closed)")
        print(f"{'format':<24} {'CPU ms / audio s':>17} {'% of a core':>12} {'file kB / s':>12}")
        for suffix in (".wav", ".flac", ".opus"):
            path = tmp / f"out{suffix}"
            cpu = best_of(3, lambda p=path: encode_all(p, pcm24)) / seconds  # type: ignore[misc]
            print(f"{suffix:<24} {cpu * 1000:>17.2f} {cpu * 100:>11.2f}% {path.stat().st_size / seconds / 1000:>12.1f}")


if __name__ == "__main__":
    main()
