"""Benchmark: what echo cancellation costs per microphone stream, and the delay it adds.

    python tests/benchmarks/bench_echo_cancel.py [--seconds 20]

Feeds SECONDS of the assistant's voice (eSpeak) through the simulated room of
tests/echo (RT60 0.3 s, 70 ms) into an EchoCanceller exactly as the devices
do (20 ms played, then 20 ms captured) and prints, per audio second:

* CPU of livekit's APM alone (10 ms frames, no Python around it) and of the
  whole canceller path (speaker tap, queue, meter, APM), for a 48 kHz
  microphone and for a 44.1 kHz one (two resamplers more), with the ratio to
  the target of 2 % of one core;
* the delay the canceller adds to the microphone, found by cross-correlating
  its output with its input while the speaker is silent (pass-through);
* the echo removed over the run (far end only, after the first 2 s).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audio.echo_cancel import ApmProcessor, EchoCanceller  # noqa: E402
from tests.echo.room import Room, assistant_voice, erle_db, librivox, resample  # noqa: E402

TARGET = 0.02


def cpu_per_second(run, seconds: float) -> float:
    start = time.process_time()
    run()
    return (time.process_time() - start) / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    seconds = parser.parse_args().seconds
    voice = assistant_voice("The weather today is sunny with a light breeze from the west. Tomorrow brings rain.", 48_000)
    far = np.tile(voice, int(seconds * 48_000) // voice.shape[0] + 1)[: int(seconds * 48_000)]
    mic = Room(48_000, delay_ms=70).microphone(far)

    apm = ApmProcessor(48_000)
    def apm_only() -> None:
        for i in range(0, far.shape[0] - 479, 480):
            apm.process_far(far[i : i + 480])
            apm.process_near(mic[i : i + 480])
    raw = cpu_per_second(apm_only, seconds)

    results: dict[int, tuple[float, np.ndarray]] = {}
    for rate in (48_000, 44_100):
        f, m = (far, mic) if rate == 48_000 else (resample(far, 48_000, rate), resample(mic, 48_000, rate))
        canceller = EchoCanceller()
        canceller.attach_speaker()
        block = rate // 50
        out: list[np.ndarray] = []
        def path() -> None:
            for i in range(0, f.shape[0] - block + 1, block):
                canceller.note_played(f[i : i + block].reshape(-1, 1), rate)
                out.append(canceller.process(m[i : i + block].reshape(-1, 1), rate).reshape(-1))
        results[rate] = (cpu_per_second(path, seconds), np.concatenate(out))

    # delay added: speaker silent, a person talking; where does the output line up with the input?
    person = librivox("0870", 48_000)
    canceller = EchoCanceller()
    canceller.attach_speaker()
    silent = np.zeros((960, 1), dtype=np.int16)
    passed = []
    for i in range(0, person.shape[0] - 959, 960):
        canceller.note_played(silent, 48_000)
        passed.append(canceller.process(person[i : i + 960].reshape(-1, 1), 48_000).reshape(-1))
    cleaned = np.concatenate(passed).astype(np.float64)
    source = person[: cleaned.shape[0]].astype(np.float64)
    lags = range(0, 960)
    corr = [abs(np.dot(cleaned[lag:], source[: source.shape[0] - lag])) for lag in lags]
    added_ms = 1000.0 * int(np.argmax(corr)) / 48_000

    cleaned48 = results[48_000][1]
    n = min(cleaned48.shape[0], mic.shape[0])
    print(f"APM alone, 48 kHz:            {raw * 1000:.2f} ms CPU per audio s ({raw * 100:.2f} % of a core)")
    for rate, (cost, _) in results.items():
        print(f"canceller path, {rate / 1000:g} kHz mic:  {cost * 1000:.2f} ms CPU per audio s "
              f"({cost * 100:.2f} % of a core; ratio to the 2 % target {cost / TARGET:.2f})")
    print(f"delay added to the microphone: {added_ms:.2f} ms (20 ms blocks; any other block size holds back < 10 ms)")
    print(f"echo removed (far end only, 2 s on): {erle_db(mic[2 * 48_000 : n], cleaned48[2 * 48_000 : n]):.1f} dB")


if __name__ == "__main__":
    main()
