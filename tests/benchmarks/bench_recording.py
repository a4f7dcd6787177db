"""Benchmark: does ``--record`` show the round trip the session measured? Clicks through the local server.

    python tests/benchmarks/bench_recording.py [--clicks 50]

The click train of bench_end_to_end (5 ms noise bursts 600 ms apart) goes
through a real :class:`RealtimeSession` over WebRTC to a ``LocalRealtimeServer``
in ``echo-audio`` mode and back, as in its part 1. The session's recorder
hook feeds both the bench's stamping recorder (the hooks, on the wall clock as
they run: when each frame was sent, when each reply frame was handed to
playback) and a real
:class:`~audio.io.recorder.StereoRecorder` writing ``both.wav``. For each click
the round trip is read twice, the same way (onset: the first sample reaching
25 % of the burst's peak): at the hooks, and in the recording (each onset
looked for within 250 ms of where the hooks put it).

Printed: p50 and spread (min-max) of both, and per click the recording minus
the hooks (p50, and the largest difference either way). The load average is
printed at the start and the end because the machine may be shared.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import wave
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_end_to_end as e2e  # noqa: E402
from audio.io.recorder import StereoRecorder  # noqa: E402

WINDOW = 0.25


class BothRecorders:
    """The session's recorder: the bench's stamping one (the hooks) and the real one (the file)."""

    def __init__(self, stamps: Any, recorder: StereoRecorder) -> None:
        self.stamps, self.recorder = stamps, recorder
        self.sent, self.sink = stamps.sent, stamps.sink

    def write_user(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        self.stamps.write_user(pcm, rate)  # stamped on the wall clock as the hook runs
        self.recorder.write_user(pcm, rate, at)

    def write_assistant(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        self.stamps.write_assistant(pcm, rate)
        self.recorder.write_assistant(pcm, rate, at)

    def cut_assistant(self, at: float | None = None) -> None:
        self.recorder.cut_assistant(at)

    def close(self) -> None:
        """The real recorder is closed by the bench once the session is gone."""


def recording_onset(channel: np.ndarray, origin: float, rate: int, around: float) -> float | None:
    """Clock time of the onset nearest ``around`` in one channel of the recording."""
    stream = e2e.StampedStream("recorded")
    stream.append(origin, channel.reshape(-1, 1), rate)
    return stream.onset(around - WINDOW, around + WINDOW)


async def run(clicks: int, folder: Path) -> dict[str, list[float]]:
    recorder = StereoRecorder(folder / "both.wav", e2e.OUTPUT_RATE)
    original = e2e.StampingRecorder
    e2e.StampingRecorder = lambda: BothRecorders(original(), recorder)  # type: ignore[assignment, misc]
    try:
        result = await e2e.measure_latency(clicks, folder)
    finally:
        e2e.StampingRecorder = original  # type: ignore[misc]
        recorder.close()
    with wave.open(str(folder / "both.wav")) as handle:
        both = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2").reshape(-1, 2)
    hooks, recorded = [], []
    for timing in result.timings:
        if timing.send is None or timing.sink is None:
            continue
        click = recording_onset(both[:, 0], recorder.origin, e2e.OUTPUT_RATE, timing.send)
        echo = recording_onset(both[:, 1], recorder.origin, e2e.OUTPUT_RATE, timing.sink)
        if click is None or echo is None:
            print(f"   a click at {timing.send - recorder.origin:.2f} s is not within {WINDOW * 1000:.0f} ms of its"
                  " time in the recording")
            continue
        hooks.append((timing.sink - timing.send) * 1000)
        recorded.append((echo - click) * 1000)
    return {"hooks": hooks, "recorded": recorded}


def report(figures: dict[str, list[float]], clicks: int) -> None:
    hooks, recorded = figures["hooks"], figures["recorded"]
    print(f"\nclick round trip, {len(hooks)} of {clicks} clicks (ms)")
    if not hooks:
        return
    for name, values in (("at the hooks", hooks), ("in the recording", recorded)):
        print(f"   {name:18} p50 {np.median(values):7.1f}   spread {min(values):7.1f} - {max(values):7.1f}")
    difference = np.subtract(recorded, hooks)
    print(f"   recording - hooks  p50 {np.median(difference):+7.1f}   largest {difference.min():+.1f} / {difference.max():+.1f}"
          f"   echoes before their click in the recording: {int(np.sum(np.asarray(recorded) <= 0))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=50)
    args = parser.parse_args()
    e2e.quiet_logging()
    print(e2e.load())
    with tempfile.TemporaryDirectory() as folder:
        report(asyncio.run(run(args.clicks, Path(folder))), args.clicks)
    print(e2e.load())


if __name__ == "__main__":
    main()
