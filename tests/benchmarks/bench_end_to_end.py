"""Benchmark: a whole voxflow realtime session end to end against the local Realtime server.

    python tests/benchmarks/bench_end_to_end.py [--quick] [--clicks 50] [--speedup 8] [--keep DIR]

Every figure is measured in the same run; the load average is printed at the
start and the end because the machine may be shared.

1. Round-trip audio latency (local server in ``echo-audio`` mode, in this process).
   An input WAV (48 kHz mono) holds CLICKS clicks: 5 ms bursts of white noise
   at -20 dBFS, 600 ms apart, digital silence between. A real
   :class:`RealtimeSession` plays it through :class:`FileSource` paced in real
   time, over real aiortc WebRTC on loopback, to a ``LocalRealtimeServer`` that
   mirrors the caller's audio back; the reply goes through the session's receive
   pump into its output pipe, which a reader drains into a WAV file. Each click
   is found in four streams (its onset: the first sample reaching 25% of that
   click's peak) and timed on the wall clock:

   * input-file time: when the click is due in the real-time-paced file
     (the moment the source handed out its first frame + the click's offset);
   * send: when the frame holding it left ``SourceTrack.recv()`` (the session's
     per-sent-frame hook, seen through its ``recorder`` interface);
   * receive: when aiortc's decoded frame holding it was handed to the receive
     pump (``TrackPump`` reads the remote track through a stamping proxy);
   * sink: when the pump wrote the resampled frame into the output pipe (the
     session's per-output-frame hook, again via ``recorder``).

   A sample at offset j inside a frame stamped t counts as t + j / rate in every
   stream, so the figures are "how much later this sample would play". Each
   click is looked for from 10 ms before to 550 ms after it is due, so a round
   trip over 550 ms would show up as clicks not found, never as a wrong figure
   for the first click.
   Printed: p50/p95 of the total (sink - input), and its parts: client send path
   (send - input: source pacing, input gate, track queue and pacing),
   network + server + codec (receive - send: Opus encode/decode twice, RTP/SRTP
   over UDP loopback, the server's decode, resample, echo queue and paced
   reply track, aiortc's jitter buffer) and client receive path (sink -
   receive: resampling 48 kHz stereo -> 24 kHz mono and the pipe write), and
   the client's share of the total in %.
   The server's turn detection is set so the clicks never start a turn
   (``server_vad`` threshold 1.0, no response, no interruption: a barge-in would
   clear the mirrored audio) and the echo guard is off (echo-audio mirrors the
   input by design; the guard would mute the next click as "echo").

2. CPU seconds per audio second and peak RSS (client side). The server runs in
   a child process (this script with ``--serve``, the same LocalRealtimeServer
   in echo-audio mode, speech off) so its CPU does not mix in, and each client
   session runs in its own child process (``--client``) so its peak RSS
   (``VmHWM``, else ``ru_maxrss``) is the session's own. A client session is
   the real thing: connect, play a speech-like input file (2 s of a 140 Hz
   harmonic complex with a 4 Hz syllable envelope, then 1 s of silence,
   repeated), drain the reply into a WAV file, disconnect; default session config (semantic VAD, so
   the server takes turns and answers in text), echo guard off as above.
   CPU is ``time.process_time()`` from before ``connect()`` to after
   ``disconnect()``, divided by the input file's length; it is also split
   into connect (keys, DTLS, handshake), streaming (connected until the file
   has been sent: the steady-state cost) and tail + disconnect.

   * baseline: a BASELINE-second input paced in real time;
   * accelerated: a LONG-second (10-minute) input with the client's clock
     running SPEEDUP x fast (``sleep(s)`` waits s / SPEEDUP, ``monotonic()``
     advances SPEEDUP x; the session, its sending track and the FileSource all
     pace on it). The server's reply track is paced by the wall clock, so at
     SPEEDUP x the client receives about 1 / SPEEDUP of the mirrored audio:
     the accelerated CPU figure is mostly the send path. Whether the server
     kept up: audio seconds it consumed (its turn detector's position) versus
     audio seconds the client's track sent.

   Printed per run: CPU s per audio s, RSS after imports and peak RSS, wall
   time and effective speed-up, audio sent / consumed by the server / received,
   the server's CPU per audio second; and the ratio accelerated / baseline.

3. A summary table.

``--quick`` shrinks everything (10 clicks, 5 s baseline, 60 s accelerated) for
a smoke run of well under a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audio.dsp.wavfile import WavWriter  # noqa: E402

RATE = 48_000
OUTPUT_RATE = 24_000
CLICK_MS = 5
CLICK_RMS = 0.1  # -20 dBFS over the burst: -26 dBFS over a 20 ms frame, below the server VAD's -20 dBFS
CLICK_SPACING = 0.6
LEAD_IN = 1.0
ONSET_FRACTION = 0.25
MIN_CLICK_PEAK = 1000  # int16: a window quieter than this (about -30 dBFS) holds no click
TAIL_SECONDS = 1.0
SCRIPT = Path(__file__).resolve()


# ----------------------------------------------------------------------------- shared helpers
class AcceleratedClock:
    """A :class:`audio.base.clock.Clock` running ``speedup`` times faster than the wall clock."""

    def __init__(self, speedup: float) -> None:
        self.speedup = speedup
        self._origin = time.monotonic()
        self._epoch = time.time()

    def monotonic(self) -> float:
        return self._origin + (time.monotonic() - self._origin) * self.speedup

    def time(self) -> float:
        return self._epoch + (time.monotonic() - self._origin) * self.speedup

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds) / self.speedup)


def write_click_train(path: Path, clicks: int) -> tuple[list[int], np.ndarray]:
    """The latency input: silence, ``clicks`` noise bursts CLICK_SPACING apart, silence; (click starts, pcm)."""
    rng = np.random.default_rng(7)
    burst = rng.standard_normal(RATE * CLICK_MS // 1000) * CLICK_RMS * 32767
    total = round((LEAD_IN + clicks * CLICK_SPACING + TAIL_SECONDS) * RATE)
    pcm = np.zeros(total, dtype=np.float64)
    starts = [round((LEAD_IN + k * CLICK_SPACING) * RATE) for k in range(clicks)]
    for start in starts:
        pcm[start:start + len(burst)] = burst
    samples = np.clip(np.rint(pcm), -32768, 32767).astype(np.int16).reshape(-1, 1)
    writer = WavWriter(path, RATE, 1)
    writer.write(samples)
    writer.close()
    return starts, samples


def write_speechlike(path: Path, seconds: float) -> None:
    """2 s of a voiced, syllable-modulated harmonic complex then 1 s of silence, repeated for ``seconds``."""
    t = np.arange(3 * RATE) / RATE
    voiced = sum(np.sin(2 * np.pi * 140.0 * k * t) / k for k in range(1, 11))
    envelope = np.where(t < 2.0, 0.5 - 0.5 * np.cos(2 * np.pi * 4.0 * t), 0.0)
    period = voiced * envelope
    period = np.rint(period / np.max(np.abs(period)) * 0.25 * 32767).astype(np.int16).reshape(-1, 1)
    writer = WavWriter(path, RATE, 1)
    remaining = round(seconds * RATE)
    while remaining > 0:
        block = period[:remaining]
        writer.write(block)
        remaining -= len(block)
    writer.close()


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if values else float("nan")


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores"


def peak_rss_mb() -> float:
    """This process's own peak RSS in MB.

    ``VmHWM`` from /proc where there is one: ``ru_maxrss`` survives ``exec`` on
    Linux, so a child would report its parent's peak if the parent's was higher.
    """
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def quiet_logging() -> None:
    """aiortc/aioice/uvicorn chatter would drown the figures."""
    logging.basicConfig(level=logging.ERROR)


# ----------------------------------------------------------------------------- 1. latency
class StampedStream:
    """Audio chunks of one stream with the wall-clock time each was handed on; sample times follow."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rate = 0
        self._chunks: list[tuple[float, np.ndarray]] = []
        self._times: np.ndarray | None = None
        self._levels: np.ndarray | None = None

    def append(self, stamp: float, pcm: np.ndarray, rate: int) -> None:
        block = np.asarray(pcm)
        if block.ndim == 2:
            block = block[:, 0]
        if block.size:
            self.rate = rate
            self._chunks.append((stamp, np.array(block, dtype=np.int16, copy=True)))

    def _build(self) -> tuple[np.ndarray, np.ndarray]:
        if self._times is None or self._levels is None:
            if not self._chunks:
                self._times, self._levels = np.zeros(0), np.zeros(0, dtype=np.int32)
            else:
                self._times = np.concatenate([stamp + np.arange(len(c)) / self.rate for stamp, c in self._chunks])
                self._levels = np.abs(np.concatenate([c for _, c in self._chunks]).astype(np.int32))
        return self._times, self._levels

    def onset(self, start: float, end: float) -> float | None:
        """Time of the first sample (in stream order) inside [start, end) reaching 25% of the window's peak."""
        times, levels = self._build()
        inside = np.flatnonzero((times >= start) & (times < end))
        if inside.size == 0:
            return None
        window = levels[inside]
        peak = int(window.max())
        if peak < MIN_CLICK_PEAK:
            return None
        first = int(np.argmax(window >= ONSET_FRACTION * peak))
        return float(times[inside[first]])


class StampingRecorder:
    """Plugs into the session's ``recorder`` hook: frames leaving the sending track and leaving the receive pump."""

    def __init__(self) -> None:
        self.sent = StampedStream("send")
        self.sink = StampedStream("sink")

    def write_user(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        self.sent.append(time.monotonic(), pcm, rate)  # when the hook ran (``at`` is when the frame was due)

    def write_assistant(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        self.sink.append(time.monotonic(), pcm, rate)

    def cut_assistant(self, at: float | None = None) -> None:
        """Nothing is queued here."""

    def close(self) -> None:
        """Nothing to release (the session may call it like a real recorder's)."""


class StampedRemoteTrack:
    """Stands in for aiortc's received track inside ``TrackPump``: stamps every decoded frame as it is handed over."""

    kind = "audio"

    def __init__(self, track: Any, frames: list[tuple[float, Any]]) -> None:
        self._track = track
        self._frames = frames

    async def recv(self) -> Any:
        frame = await self._track.recv()
        self._frames.append((time.monotonic(), frame))
        return frame


@contextlib.contextmanager
def stamping_receive_pump(frames: list[tuple[float, Any]]) -> Iterator[None]:
    """While active, sessions build their receive pump around a :class:`StampedRemoteTrack`.

    The session imports ``TrackPump`` from ``audio.transports.tracks`` when it connects, so
    swapping the module attribute for a subclass is enough; decoded frames are
    converted to arrays only after the run (nothing extra on the measured path).
    """
    import audio.transports.tracks

    original = audio.transports.tracks.TrackPump

    class StampingTrackPump(original):  # type: ignore[misc, valid-type]
        def __init__(self, track: Any, sink: Any, **options: Any) -> None:
            super().__init__(StampedRemoteTrack(track, frames), sink, **options)

    import audio.transports.webrtc  # since the core split the WebRTC transport builds the pump itself

    audio.transports.tracks.TrackPump = StampingTrackPump  # type: ignore[misc]
    audio.transports.webrtc.TrackPump = StampingTrackPump  # type: ignore[misc]
    try:
        yield
    finally:
        audio.transports.tracks.TrackPump = original  # type: ignore[misc]
        audio.transports.webrtc.TrackPump = original  # type: ignore[misc]


class StampedSource:
    """Wraps the FileSource: remembers when it handed out its first frame (the file's time zero)."""

    def __init__(self, source: Any) -> None:
        self.source = source
        self.sample_rate = source.sample_rate
        self.channels = source.channels
        self.first_read: float | None = None

    async def read(self) -> np.ndarray | None:
        frame = await self.source.read()
        if frame is not None and self.first_read is None:
            self.first_read = time.monotonic()
        return frame

    def stop(self) -> None:
        self.source.stop()


@dataclass
class ClickTiming:
    """The four times of one click (None where it was not found)."""

    file: float
    send: float | None
    receive: float | None
    sink: float | None

    @property
    def complete(self) -> bool:
        return self.send is not None and self.receive is not None and self.sink is not None


@dataclass
class LatencyResult:
    clicks: int
    timings: list[ClickTiming]
    output_seconds: float
    sink: StampedStream | None = None  # every frame written to our sink, stamped (bench_latency's playout model)

    @property
    def found(self) -> list[ClickTiming]:
        return [t for t in self.timings if t.complete]

    def part(self, name: str) -> list[float]:
        """Per-click milliseconds of ``total``, ``send``, ``network`` or ``receive``."""
        values = []
        for t in self.found:
            assert t.send is not None and t.receive is not None and t.sink is not None
            values.append({"total": t.sink - t.file, "send": t.send - t.file, "network": t.receive - t.send,
                           "receive": t.sink - t.receive}[name] * 1000.0)
        return values


async def measure_latency(clicks: int, folder: Path) -> LatencyResult:
    from audio.wire.config import ServerVad, SessionConfig
    from audio.transports.secrets import DirectSecretProvider
    from audio.server import LocalRealtimeServer, ServerConfig
    from audio.session.session import RealtimeSession
    from audio.base.registry import AudioRegistry
    from audio.io.sinks import WavFileSink
    from audio.io.sources import FileSource

    input_path = folder / "clicks-input.wav"
    starts, input_pcm = write_click_train(input_path, clicks)
    input_stream = StampedStream("input")
    input_stream.append(0.0, input_pcm, RATE)  # times = offsets in the file

    server = LocalRealtimeServer(ServerConfig(reply="echo-audio", speech=False))
    await server.start()
    recorder = StampingRecorder()
    received: list[tuple[float, Any]] = []
    source = StampedSource(FileSource(input_path, realtime=True))
    config = SessionConfig(
        base_url=server.base_url,
        vad=ServerVad(threshold=1.0, create_response=False, interrupt_response=False),
        transcription_model=None,
    )
    output = WavFileSink(folder / "clicks-output.wav", OUTPUT_RATE, 1)
    try:
        with stamping_receive_pump(received):
            session = RealtimeSession(
                config,
                secret_provider=DirectSecretProvider("bench-key", base_url=server.base_url),
                registry=AudioRegistry(),
                input_source=source,
                output_sample_rate=OUTPUT_RATE,
                recorder=recorder,
                echo_guard=False,
            )
            await asyncio.wait_for(session.connect(), 30)
        pipe = session.output_pipe
        assert pipe is not None

        async def drain() -> None:
            while (frame := await pipe.read()) is not None:
                output.write(frame)

        reader = asyncio.create_task(drain())
        await asyncio.wait_for(source.source.wait_ended(), LEAD_IN + clicks * CLICK_SPACING + 60)
        await asyncio.sleep(TAIL_SECONDS)
        await session.disconnect()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    finally:
        output.stop()
        await server.stop()

    receive_stream = StampedStream("receive")
    for stamp, frame in received:
        pcm = frame.to_ndarray().reshape(-1, len(frame.layout.channels))
        receive_stream.append(stamp, pcm, frame.sample_rate)

    assert source.first_read is not None
    timings = []
    for start in starts:
        offset = input_stream.onset(start / RATE - 0.01, start / RATE + 0.05)
        assert offset is not None, "the generated click is missing from the input file"
        due = source.first_read + offset
        window = (due - 0.01, due + CLICK_SPACING - 0.05)
        timings.append(ClickTiming(due, recorder.sent.onset(*window), receive_stream.onset(*window),
                                   recorder.sink.onset(*window)))
    return LatencyResult(clicks, timings, output.duration, recorder.sink)


def print_latency(result: LatencyResult) -> dict[str, float]:
    found = result.found
    print(f"\n1. Round-trip latency, local server echo-audio, in process: {len(found)}/{result.clicks} clicks found "
          f"(reply audio written: {result.output_seconds:.1f} s)")
    if not found:
        print("   no click made it through: nothing to report")
        return {}
    figures: dict[str, float] = {}
    print(f"   {'':34} {'p50 ms':>8} {'p95 ms':>8} {'mean ms':>8}")
    labels = {"total": "total (input file -> our sink)", "send": "client send path", "network":
              "network + server + codec", "receive": "client receive path"}
    for name, label in labels.items():
        values = result.part(name)
        figures[f"{name}_p50"], figures[f"{name}_p95"] = percentile(values, 50), percentile(values, 95)
        figures[f"{name}_mean"] = float(np.mean(values))
        p50, p95, mean = (figures[f"{name}_{kind}"] for kind in ("p50", "p95", "mean"))
        print(f"   {label:34} {p50:8.1f} {p95:8.1f} {mean:8.1f}")
    client = figures["send_mean"] + figures["receive_mean"]
    figures["client_share"] = client / figures["total_mean"] * 100.0
    print(f"   client share of the total (means): {client:.1f} of {figures['total_mean']:.1f} ms"
          f" = {figures['client_share']:.1f}%")
    return figures


# ----------------------------------------------------------------------------- 2. server child process
async def serve(speech: bool) -> None:
    """``--serve``: a LocalRealtimeServer (echo-audio); prints ``PORT n``, answers ``stats CALL_ID`` lines on stdin."""
    from audio.server import LocalRealtimeServer, ServerConfig

    server = LocalRealtimeServer(ServerConfig(reply="echo-audio", speech=speech))
    await server.start()
    print(f"PORT {server.base_url.rsplit(':', 1)[1]}", flush=True)
    loop = asyncio.get_running_loop()
    try:
        while True:
            line = (await loop.run_in_executor(None, sys.stdin.readline)).split()
            if not line or line[0] == "quit":
                break
            if line[0] == "stats":
                call = server.calls.get(line[1]) or server.ended_calls.get(line[1])
                vad = getattr(call, "_vad", None)  # its position counts every input sample the call consumed
                consumed = vad.position_ms / 1000.0 if vad is not None else None
                print(json.dumps({"consumed_seconds": consumed, "peak_rss_mb": peak_rss_mb()}), flush=True)
    finally:
        await server.stop()


class ServerProcess:
    """The ``--serve`` child: start, ask for a call's stats, stop."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(SCRIPT), "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            self.stop()
            raise RuntimeError("the server child process did not start")
        self.base_url = f"http://127.0.0.1:{line[1]}"

    def stats(self, call_id: str) -> dict[str, Any]:
        assert self._process.stdin is not None and self._process.stdout is not None
        self._process.stdin.write(f"stats {call_id}\n")
        self._process.stdin.flush()
        return json.loads(self._process.stdout.readline())

    def stop(self) -> None:
        if self._process.stdin is not None and not self._process.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                self._process.stdin.write("quit\n")
                self._process.stdin.close()
        try:
            self._process.wait(30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


# ----------------------------------------------------------------------------- 2. client child process
class CountingRecorder:
    """The session's ``recorder`` hook, only counting: audio seconds sent and received."""

    def __init__(self) -> None:
        self.sent_samples = 0
        self.sent_rate = RATE
        self.received_samples = 0

    def write_user(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        self.sent_samples += len(pcm)
        self.sent_rate = rate

    def write_assistant(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        self.received_samples += len(pcm)

    def cut_assistant(self, at: float | None = None) -> None:
        """Counts only what arrived."""

    def close(self) -> None:
        """Nothing to release."""


async def client_session(base_url: str, input_path: Path, speedup: float) -> dict[str, Any]:
    """``--client``: one whole session in this (fresh) process; returns its figures."""
    import psutil

    import audio.transports.tracks  # noqa: F401  (aiortc + PyAV: imported before the RSS baseline, as any session needs them)
    from audio.wire.config import SessionConfig
    from audio.transports.secrets import DirectSecretProvider
    from audio.session.session import RealtimeSession
    from audio.base.registry import AudioRegistry
    from audio.io.sinks import WavFileSink
    from audio.io.sources import FileSource

    clock = AcceleratedClock(speedup) if speedup != 1 else None
    rss_start = psutil.Process().memory_info().rss
    cpu_start, wall_start = time.process_time(), time.monotonic()
    source = FileSource(input_path, realtime=True, clock=clock)
    recorder = CountingRecorder()
    session = RealtimeSession(
        SessionConfig(base_url=base_url),
        secret_provider=DirectSecretProvider("bench-key", base_url=base_url),
        registry=AudioRegistry(),
        clock=clock,
        input_source=source,
        output_sample_rate=OUTPUT_RATE,
        recorder=recorder,
        echo_guard=False,
    )
    with tempfile.TemporaryDirectory() as tmp:
        output = WavFileSink(Path(tmp) / "reply.wav", OUTPUT_RATE, 1)
        await asyncio.wait_for(session.connect(), 30)
        connected, cpu_connected = time.monotonic(), time.process_time()
        pipe = session.output_pipe
        assert pipe is not None

        async def drain() -> None:
            while (frame := await pipe.read()) is not None:
                output.write(frame)

        reader = asyncio.create_task(drain())
        await asyncio.wait_for(source.wait_ended(), source.duration / speedup * 3 + 60)
        streamed, cpu_streamed = time.monotonic() - connected, time.process_time()
        await asyncio.sleep(TAIL_SECONDS)
        call_id = session.call_id
        await session.disconnect()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        output.stop()
    cpu = time.process_time() - cpu_start
    return {
        "call_id": call_id,
        "audio_seconds": source.duration,
        "cpu": cpu,
        "cpu_connect": cpu_connected - cpu_start,
        "cpu_streaming": cpu_streamed - cpu_connected,
        "wall": time.monotonic() - wall_start,
        "streamed_wall": streamed,
        "sent_seconds": recorder.sent_samples / recorder.sent_rate,
        "received_seconds": recorder.received_samples / OUTPUT_RATE,
        "rss_start_mb": rss_start / 2**20,
        "peak_rss_mb": peak_rss_mb(),
        "end_state": session.state.value,
    }


@dataclass
class CpuRun:
    label: str
    speedup: float
    client: dict[str, Any]
    server_cpu: float
    consumed_seconds: float | None
    server_peak_rss_mb: float
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def cpu_per_audio_second(self) -> float:
        return self.client["cpu"] / self.client["audio_seconds"]

    @property
    def streaming_cpu_per_audio_second(self) -> float:
        """From connected until the input file has been sent: the session without its setup and teardown."""
        return self.client["cpu_streaming"] / self.client["audio_seconds"]


def run_client(server: ServerProcess, label: str, input_path: Path, speedup: float) -> CpuRun:
    import psutil

    child = psutil.Process(server._process.pid)
    before = child.cpu_times()
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--client", server.base_url, "--input", str(input_path), "--speedup",
         str(speedup)], capture_output=True, text=True, timeout=3600,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"the {label} client run failed:\n{completed.stderr[-2000:]}")
    after = child.cpu_times()
    client = json.loads(completed.stdout.strip().splitlines()[-1])
    stats = server.stats(client["call_id"])
    return CpuRun(label, speedup, client, (after.user + after.system) - (before.user + before.system),
                  stats["consumed_seconds"], stats["peak_rss_mb"])


def print_cpu(run: CpuRun) -> None:
    c = run.client
    pace = "real time" if run.speedup == 1 else f"{run.speedup:g}x accelerated clock"
    print(f"\n   {run.label}: {c['audio_seconds']:.0f} s of input, {pace}; session ended {c['end_state']}")
    print(f"     client CPU: {c['cpu']:.2f} s = {run.cpu_per_audio_second:.4f} CPU s per audio s"
          f" ({run.cpu_per_audio_second * 100:.2f}% of one core)")
    print(f"       of which connect {c['cpu_connect']:.2f} s, streaming {c['cpu_streaming']:.2f} s"
          f" = {run.streaming_cpu_per_audio_second:.4f} per audio s, tail + disconnect"
          f" {c['cpu'] - c['cpu_connect'] - c['cpu_streaming']:.2f} s")
    print(f"     client RSS: {c['rss_start_mb']:.0f} MB after imports, peak {c['peak_rss_mb']:.0f} MB"
          f" (+{c['peak_rss_mb'] - c['rss_start_mb']:.0f} MB over the session)")
    speed = c["audio_seconds"] / c["streamed_wall"] if c["streamed_wall"] > 0 else float("nan")
    print(f"     wall: {c['wall']:.1f} s in all, streaming {c['streamed_wall']:.1f} s"
          f" (effective speed {speed:.2f}x real time)")
    consumed = run.consumed_seconds
    kept = f"{consumed:.1f} s = {consumed / c['sent_seconds'] * 100:.1f}% of sent" if consumed is not None else "n/a"
    print(f"     audio: sent {c['sent_seconds']:.1f} s (file + trailing silence), consumed by the server {kept},"
          f" reply received {c['received_seconds']:.1f} s")
    print(f"     server child: {run.server_cpu:.2f} CPU s = {run.server_cpu / c['audio_seconds']:.4f} per audio s;"
          f" its peak RSS so far {run.server_peak_rss_mb:.0f} MB")


# ----------------------------------------------------------------------------- main
@dataclass
class Plan:
    clicks: int
    baseline_seconds: float
    long_seconds: float
    speedup: float


def print_summary(latency: dict[str, float], baseline: CpuRun, accelerated: CpuRun) -> None:
    rows = [
        ("round trip p50 / p95", f"{latency.get('total_p50', float('nan')):.1f} / "
                                 f"{latency.get('total_p95', float('nan')):.1f} ms"),
        ("client send / receive path p50", f"{latency.get('send_p50', float('nan')):.1f} / "
                                           f"{latency.get('receive_p50', float('nan')):.1f} ms"),
        ("network + server + codec p50", f"{latency.get('network_p50', float('nan')):.1f} ms"),
        ("client share of round trip", f"{latency.get('client_share', float('nan')):.1f} %"),
        (f"CPU s / audio s, real time ({baseline.client['audio_seconds']:.0f} s)",
         f"{baseline.cpu_per_audio_second:.4f}"),
        (f"CPU s / audio s, {accelerated.speedup:g}x ({accelerated.client['audio_seconds']:.0f} s)",
         f"{accelerated.cpu_per_audio_second:.4f}"),
        ("ratio accelerated / real time", f"{accelerated.cpu_per_audio_second / baseline.cpu_per_audio_second:.2f}"),
        ("streaming only: real time / accel.", f"{baseline.streaming_cpu_per_audio_second:.4f} / "
                                               f"{accelerated.streaming_cpu_per_audio_second:.4f}"),
        (f"peak RSS, {accelerated.client['audio_seconds'] / 60:.0f}-min session",
         f"{accelerated.client['peak_rss_mb']:.0f} MB"),
        ("peak RSS, real-time baseline", f"{baseline.client['peak_rss_mb']:.0f} MB"),
        ("server consumed / client sent (accel.)",
         f"{(accelerated.consumed_seconds or 0) / accelerated.client['sent_seconds'] * 100:.1f} %"),
    ]
    width = max(len(name) for name, _ in rows)
    print("\nSummary")
    print(f"  {'figure':<{width}}  value")
    print(f"  {'-' * width}  {'-' * 16}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


async def run_latency(plan: Plan, keep: Path | None) -> dict[str, float]:
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        return print_latency(await measure_latency(plan.clicks, keep))
    with tempfile.TemporaryDirectory() as tmp:
        return print_latency(await measure_latency(plan.clicks, Path(tmp)))


def main(plan: Plan, keep: Path | None) -> None:
    quiet_logging()
    print(f"end-to-end benchmark: {load()}; python {sys.version.split()[0]}")
    started = time.monotonic()
    latency = asyncio.run(run_latency(plan, keep))

    print(f"\n2. CPU and memory, client side (server in a child process, each session in its own child); {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        short, long = Path(tmp) / "speech-short.wav", Path(tmp) / "speech-long.wav"
        write_speechlike(short, plan.baseline_seconds)
        write_speechlike(long, plan.long_seconds)
        server = ServerProcess()
        try:
            baseline = run_client(server, "baseline", short, 1.0)
            print_cpu(baseline)
            accelerated = run_client(server, "accelerated", long, plan.speedup)
            print_cpu(accelerated)
        finally:
            server.stop()
    ratio = accelerated.cpu_per_audio_second / baseline.cpu_per_audio_second
    streaming = accelerated.streaming_cpu_per_audio_second / baseline.streaming_cpu_per_audio_second
    print(f"\n   ratio of CPU per audio s, accelerated / real time: whole session {ratio:.2f}, streaming only"
          f" {streaming:.2f}\n   (the accelerated run receives only ~1/speed-up of the reply audio, so it is mostly"
          " the send path; the real-time run also carries the connect cost over fewer seconds)")
    print_summary(latency, baseline, accelerated)
    print(f"\ndone in {time.monotonic() - started:.0f} s; {load()}")


def cli() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 clicks, 5 s baseline, 60 s accelerated")
    parser.add_argument("--clicks", type=int, default=None, help="clicks in the latency run (default 50)")
    parser.add_argument("--baseline-seconds", type=float, default=None, help="real-time CPU run (default 20)")
    parser.add_argument("--long-seconds", type=float, default=None, help="accelerated run (default 600)")
    parser.add_argument("--speedup", type=float, default=8.0, help="clock speed-up of the accelerated run")
    parser.add_argument("--keep", type=Path, default=None, help="keep the latency run's input/output WAVs here")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--client", metavar="BASE_URL", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--input", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.serve:
        quiet_logging()
        asyncio.run(serve(speech=False))
        return
    if args.client is not None:
        quiet_logging()
        result = asyncio.run(client_session(args.client, args.input, args.speedup))
        print(json.dumps(result), flush=True)
        return
    quick = args.quick
    plan = Plan(
        clicks=args.clicks or (10 if quick else 50),
        baseline_seconds=args.baseline_seconds or (5.0 if quick else 20.0),
        long_seconds=args.long_seconds or (60.0 if quick else 600.0),
        speedup=args.speedup,
    )
    main(plan, args.keep)


if __name__ == "__main__":
    cli()
