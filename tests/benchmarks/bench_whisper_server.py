"""Benchmark: Whisper in the local server: turn-to-transcript latency, a busy core, four calls at once.

Run: python tests/benchmarks/bench_whisper_server.py [--turns 10] [--repeat 3]
     [--workers N --slots N --threads N]   (0: the server's default)

One in-process ``LocalRealtimeServer`` (the default recogniser: Whisper
tiny.en, one worker process with one decoding slot per core, two threads
each), reached over its WebSocket route as
transcription sessions (``?intent=transcription``), so transcription events go
out as soon as they are ready (no response to wait for).

1. Latency: a real reader's 3 s sentence (LibriVox 0880) appended as 24 kHz
   PCM, then ``input_audio_buffer.commit``; the time from sending the commit
   to ``...input_audio_transcription.completed``, p50 and max over ``--turns``
   turns, idle and with one core kept busy by one spinning process (started
   here, killed by its pid afterwards). (With
   server VAD, add ``silence_duration_ms``: the turn ends that long after the
   voice.)
2. Concurrency: four calls each stream a 10 s recording (LibriVox 0870 +
   0880, read with their pauses) in real time, 100 ms a message, with server
   VAD; every committed turn must be transcribed. Reported: for each call,
   seconds from its stream's start to its first ``completed``, alone and
   with the four together (the difference is what sharing the recogniser
   costs).

Each figure is printed with the load average before it, and the run is
repeated ``--repeat`` times; the last two lines are the issue's two targets,
each with its spread over the runs and whether it was met.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import websockets

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audio.server import LocalRealtimeServer, ServerConfig  # noqa: E402
from tests.real_speech import LIBRIVOX, resample, silence  # noqa: E402

SPINNER = "import time  # bench_whisper_server: one busy core\nx = 0\nwhile 1: x += 1"
TURN_TARGET_MS = 400
SHARING_TARGET_S = 2.0
SESSION = {"type": "transcription", "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}


class Call:
    """One transcription session over the server's WebSocket route, with every event timestamped."""

    def __init__(self, socket: Any) -> None:
        self.socket = socket
        self.events: list[tuple[float, dict[str, Any]]] = []
        self._reader = asyncio.ensure_future(self._read())

    @classmethod
    async def open(cls, base_url: str, turn_detection: bool) -> Call:
        url = base_url.replace("http://", "ws://") + "/v1/realtime?intent=transcription"
        socket = await websockets.connect(url, additional_headers={"Authorization": "Bearer sk-test"},
                                          max_size=None)
        call = cls(socket)
        session = json.loads(json.dumps(SESSION))
        if not turn_detection:
            session["audio"]["input"]["turn_detection"] = None
        await call.send({"type": "session.update", "session": session})
        await call.wait("session.updated")
        return call

    async def _read(self) -> None:
        async for message in self.socket:
            self.events.append((time.perf_counter(), json.loads(message)))

    async def send(self, event: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(event))

    async def append(self, pcm24k: np.ndarray) -> None:
        await self.send({"type": "input_audio_buffer.append",
                         "audio": base64.b64encode(pcm24k.astype("<i2").tobytes()).decode()})

    async def wait(self, kind: str, after: int = 0, timeout: float = 60) -> tuple[float, dict[str, Any]]:
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            for stamp, event in self.events[after:]:
                if event["type"] == kind:
                    return stamp, event
                if event["type"] == "error":
                    raise RuntimeError(event)
            await asyncio.sleep(0.005)
        raise TimeoutError(kind)

    def count(self, kind: str) -> int:
        return sum(event["type"] == kind for _, event in self.events)

    async def close(self) -> None:
        await self.socket.close()
        self._reader.cancel()


async def latency(base_url: str, turns: int) -> list[float]:
    sentence = resample(LIBRIVOX[1].load(), 16_000, 24_000)  # 2.99 s
    call = await Call.open(base_url, turn_detection=False)
    delays = []
    try:
        for _ in range(turns + 1):
            mark = len(call.events)
            await call.append(sentence)
            sent = time.perf_counter()
            await call.send({"type": "input_audio_buffer.commit"})
            done, _ = await call.wait("conversation.item.input_audio_transcription.completed", after=mark)
            delays.append(done - sent)
    finally:
        await call.close()
    return delays[1:]  # the first turn warms the worker's caches


async def stream(call: Call, pcm24k: np.ndarray) -> float:
    """Send ``pcm24k`` in real time; seconds from the start to the first completed transcript."""
    start = time.perf_counter()
    step = 2400
    for index, offset in enumerate(range(0, len(pcm24k), step)):
        await call.append(pcm24k[offset:offset + step])
        await asyncio.sleep(max(0.0, start + (index + 1) * 0.1 - time.perf_counter()))
    first, _ = await call.wait("conversation.item.input_audio_transcription.completed", timeout=60)
    return first - start


async def concurrency(base_url: str, calls: int) -> tuple[list[float], list[tuple[int, int]]]:
    recording = np.concatenate([silence(0.5, 16_000), LIBRIVOX[0].load(), LIBRIVOX[1].load(), silence(1.5, 16_000)])
    pcm = resample(recording, 16_000, 24_000)
    opened = [await Call.open(base_url, turn_detection=True) for _ in range(calls)]
    try:
        firsts = await asyncio.gather(*(stream(call, pcm) for call in opened))
        await asyncio.sleep(3.0)  # the last turns' transcripts
        counts = [(call.count("input_audio_buffer.committed"),
                   call.count("conversation.item.input_audio_transcription.completed")) for call in opened]
    finally:
        for call in opened:
            await call.close()
    return list(firsts), counts


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


async def one_run(base_url: str, turns: int) -> tuple[float, float, float, bool]:
    """One pass over every figure: idle p50, busy-core p50 (ms), worst four-call delay (s), all transcribed."""
    print(f"  [{load()}] 3 s turns, idle", flush=True)
    idle = await latency(base_url, turns)
    spinner = subprocess.Popen([sys.executable, "-c", SPINNER])
    try:
        await asyncio.sleep(0.5)
        print(f"  [{load()}] 3 s turns, one core busy (spinner pid {spinner.pid})", flush=True)
        busy = await latency(base_url, turns)
    finally:
        spinner.kill()
        spinner.wait()
    for name, delays in (("idle", idle), ("one core busy", busy)):
        print(f"  end of a 3 s turn (commit) to completed, {name}: p50 {statistics.median(delays) * 1000:.0f} ms,"
              f" max {max(delays) * 1000:.0f} ms ({len(delays)} turns)")
    print(f"  [{load()}] one call, then four at once", flush=True)
    alone, _ = await concurrency(base_url, 1)
    together, counts = await concurrency(base_url, 4)
    worst = max(together) - alone[0]
    print(f"  first transcript after the stream starts: alone {alone[0]:.2f} s; four calls at once "
          + ", ".join(f"{seconds:.2f}" for seconds in together) + f" s (worst {worst:+.2f} s)")
    print("  turns committed / transcribed per call: " + ", ".join(f"{c}/{t}" for c, t in counts))
    every_turn = all(c == t and c > 0 for c, t in counts)
    return statistics.median(idle) * 1000, statistics.median(busy) * 1000, worst, every_turn


async def main(turns: int, repeat: int, workers: int, slots: int, threads: int) -> None:
    server = LocalRealtimeServer(ServerConfig(recognizer_workers=workers, recognizer_slots=slots,
                                              recognizer_threads=threads))
    await server.start()
    settings = server.config.recognizer_settings()
    print(f"recogniser: {server.recognizer_name}, {settings.worker_count()} worker(s) x {settings.slot_count()}"
          f" slot(s) x {settings.thread_count()} thread(s); {load()}")
    runs = []
    try:
        for run in range(repeat):
            print(f"run {run + 1} of {repeat}:")
            runs.append(await one_run(server.base_url, turns))
    finally:
        await server.stop()
    idle, busy, worst = ([r[i] for r in runs] for i in range(3))
    spread = lambda values, unit, fmt: (f"{statistics.median(values):{fmt}} {unit} (runs: "  # noqa: E731
                                        + ", ".join(f"{v:{fmt}}" for v in values) + ")")
    turn_met = max(statistics.median(idle), statistics.median(busy)) <= TURN_TARGET_MS
    share_met = statistics.median(worst) <= SHARING_TARGET_S and all(r[3] for r in runs)
    print(f"[{load()}]")
    print(f"TARGET commit of a 3 s turn -> completed, p50: idle {spread(idle, 'ms', '.0f')}, one core busy"
          f" {spread(busy, 'ms', '.0f')}; target <= {TURN_TARGET_MS} ms: {'met' if turn_met else 'MISSED'}")
    print(f"TARGET four calls at once, worst first transcript vs alone: {spread(worst, 's', '+.2f')}, every turn"
          f" transcribed: {'yes' if all(r[3] for r in runs) else 'NO'}; target <= +{SHARING_TARGET_S:.0f} s:"
          f" {'met' if share_met else 'MISSED'}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3, help="whole runs; the targets give their spread")
    parser.add_argument("--workers", type=int, default=0, help="recogniser processes (0: the default, one)")
    parser.add_argument("--slots", type=int, default=0, help="decoding slots per process (0: one per core)")
    parser.add_argument("--threads", type=int, default=0, help="threads per slot (0: the cores left per slot)")
    args = parser.parse_args()
    asyncio.run(main(args.turns, args.repeat, args.workers, args.slots, args.threads))
