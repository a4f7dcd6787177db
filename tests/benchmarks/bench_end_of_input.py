"""Benchmark: how long a headless run takes after its input file ends, per VAD mode.

    python tests/benchmarks/bench_end_of_input.py [--repeat 3]

A run must not end before the last user turn is answered (``flow/turns.py``),
and should not linger after it. Each run is an in-process ``HeadlessRun`` of a
realtime node against a local Realtime server on loopback (no recogniser, a
one-word scripted reply), fed synthesised speech that runs to the last sample
of the file (0 ms of trailing silence, the hardest case), with the product's
default timings (``END_GRACE_SECONDS``, the service's default VAD silences).
Printed per mode: the median wall time of the run, the input's duration, and
the tail (run minus input: connect + VAD silence + reply + playback + grace),
with its ratio to the input's duration.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from audio.server import LocalRealtimeServer, ServerConfig  # noqa: E402
from flow.headless import HeadlessOptions, HeadlessRun  # noqa: E402
from flow.loader import load_flow_text  # noqa: E402
from flow.options import RunOptions  # noqa: E402
from tests.headless.test_end_of_input import FLOW, SYNTH, read_mono, write_case  # noqa: E402


async def one_run(server: LocalRealtimeServer, vad: str, wav: Path) -> tuple[float, int]:
    flow = load_flow_text(FLOW.format(vad=vad), "bench.yaml")
    options = RunOptions(input_file=wav, provider="openai", api_key="sk-bench", base_url=server.base_url)
    started = time.perf_counter()
    code = await HeadlessRun(flow, options, HeadlessOptions(quiet=True), out=io.StringIO(), err=io.StringIO()).run()
    return time.perf_counter() - started, code


async def main(repeat: int) -> None:
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    server = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Okay."]))
    await server.start()
    try:
        with tempfile.TemporaryDirectory() as folder:
            wav = write_case(Path(folder) / "in.wav", SYNTH, 0)
            samples, rate = read_mono(wav)
            seconds = len(samples) / rate
            print(f"input: {seconds:.2f} s (speech to the last sample)")
            for vad in ("server_vad", "semantic_vad", "disabled"):
                results = [await one_run(server, vad, wav) for _ in range(repeat)]
                walls = [wall for wall, _ in results]
                codes = {code for _, code in results}
                wall = statistics.median(walls)
                print(f"{vad:>12}: run {wall:.2f} s (median of {repeat}), tail after the input {wall - seconds:.2f} s"
                      f" (ratio to input {wall / seconds:.2f}), exit codes {sorted(codes)}")
    finally:
        await server.stop()
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    asyncio.run(main(parser.parse_args().repeat))
