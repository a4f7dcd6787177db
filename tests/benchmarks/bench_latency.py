"""Benchmark: aiortc's stock receive path against voxflow's adaptive one, side by side in one run.

    python tests/benchmarks/bench_latency.py [--clicks 30] [--barge-ins 5] [--quick]

Every figure comes from this one run; the load average is printed at the start
and the end (the machine may be shared).

1. Round trip through the local server (``echo-audio``, in this process, real
   aiortc WebRTC on loopback), on the same click train as bench_end_to_end:
   input file -> our sink, p50/p95, for each receive path on a clean link and
   at 1 % and 5 % packet loss. The loss is the seeded user-space link of
   ``audio/transports/impairment.py`` applied at *both* receivers (server and client),
   so each direction loses that share. The receive path is switched for the
   whole process (both ends) through ``adaptive_receive.SETTINGS``.
2. Underruns over 10 minutes of audio, on simulated time: 30,000 packets
   (20 ms) through the same seeded link into (a) aiortc's own
   ``JitterBuffer(16, prefetch=4)`` with frames handed out the moment it
   releases them, and (b) voxflow's ``AdaptiveJitterBuffer`` popped at its
   deadlines. A player then takes one frame every 20 ms from the first one
   on; an underrun is a 20 ms tick with no frame (silence). Concealed frames
   (PLC/FEC) are audio, so they are counted apart. Also the receive-buffer
   delay per frame (play time - send time - the link's own delay).
   Then the same round trip stage by stage (p50s): the two jitter-buffer
   waits come from the buffers' own stats (aiortc's stock buffer: its fixed
   80 ms), the middle is the measured rest.
3. Client-added latency with voxflow's path, from the clean run of 1:
   send path (input file -> sending track), the client's jitter-buffer wait
   (its own stats), the receive path (decoded frame -> our sink), and the
   speaker playout: the real ``SpeakerSink`` replayed on the measured
   sink-write times against a simulated device taking a 20 ms block every
   20 ms (no sound card here), at 20 callback phases 1 ms apart; a frame's
   delay is its write -> the callback that plays its first sample. Total p95
   is the sum of the parts' p95 (an upper bound).
4. Barge-in delay: while the local server's reply is playing, a person starts speaking (ALSA's "front center")
   (speech onset = the moment our source hands out its first loud frame);
   measured until our playback pipe is flushed (local playback silent; a
   speaker then fades out within 5 ms). Split into onset -> the server's
   ``speech_started`` reaching us (uplink + the server's VAD) and -> flush.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_end_to_end as e2e  # noqa: E402
from audio.transports.impairment import Impairment  # noqa: E402
from audio.dsp.jitter import AdaptiveJitterBuffer, Play  # noqa: E402
from audio.transports import adaptive_receive  # noqa: E402

LINKS = {"clean": Impairment(), "1% loss": Impairment(loss=0.01, seed=11), "5% loss": Impairment(loss=0.05, seed=12)}


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) if values else float("nan")


# ----------------------------------------------------------------------------- 1. round trip
async def round_trip(clicks: int, adaptive: bool, link: Impairment) -> tuple[Any, list[Any]]:
    """One click run; also returns the adaptive paths attached (client first: it attaches before the offer)."""
    import audio.server.webrtc_link as server_link
    import audio.transports.webrtc as client_link

    adaptive_receive.SETTINGS = adaptive_receive.ReceiveSettings(
        adaptive=adaptive, impairment=link if link.loss or link.jitter else None
    )
    attached: list[Any] = []

    def recording_attach(receiver: Any) -> Any:
        path = adaptive_receive.attach(receiver)
        attached.append(path)
        return path

    saved = (client_link.attach_receive, server_link.attach_receive)
    client_link.attach_receive = server_link.attach_receive = recording_attach  # type: ignore[assignment]
    try:
        with tempfile.TemporaryDirectory() as folder:
            result = await e2e.measure_latency(clicks, Path(folder))
    finally:
        client_link.attach_receive, server_link.attach_receive = saved
        adaptive_receive.SETTINGS = adaptive_receive.ReceiveSettings()
    return result, attached


def budget_stages(result: Any, attached: list[Any]) -> dict[str, float]:
    """Where one click's round trip goes (p50s; the server's buffer wait from its own stats, the rest measured)."""
    found = result.found
    send = pct([(t.send - t.file) * 1000 for t in found], 50)
    middle = pct([(t.receive - t.send) * 1000 for t in found], 50)
    receive = pct([(t.sink - t.receive) * 1000 for t in found], 50)
    client = attached[0] if attached and attached[0] is not None else None
    server = attached[1] if len(attached) > 1 and attached[1] is not None else None
    stock_wait = 80.0  # aiortc hands a frame out when the 4th later one arrives
    client_wait = client.stats.wait_percentile(50) if client is not None else stock_wait
    server_wait = server.stats.wait_percentile(50) if server is not None else stock_wait
    return {
        "client send path (file -> sending track)": send,
        "server receive jitter buffer": server_wait,
        "network x2, Opus x2, server echo queue + pacing": middle - server_wait - client_wait,
        "client receive jitter buffer": client_wait,
        "client receive path (decoded -> our sink)": receive,
        "total (input file -> our sink)": pct([(t.sink - t.file) * 1000 for t in found], 50),
    }


# ----------------------------------------------------------------------------- 2. underruns, simulated
class _Pkt:
    def __init__(self, seq: int, ts: int) -> None:
        self.sequence_number = seq
        self.timestamp = ts
        self._data = b"x"


def stock_timeline(link: Impairment, frames: int) -> tuple[int, list[float]]:
    """aiortc's JitterBuffer on the link's arrival timeline -> (underruns, per-frame buffer delay ms)."""
    from aiortc.jitterbuffer import JitterBuffer

    plan = link.plan()
    arrivals = sorted((i * 0.02 + d, i) for i in range(frames) if (d := plan.delay()) is not None)
    buffer = JitterBuffer(capacity=16, prefetch=4)
    released: list[tuple[float, int]] = []  # (release time, send index)
    for at, i in arrivals:
        _, frame = buffer.add(_Pkt(i % 65536, (i * 960) % (1 << 32)))  # type: ignore[arg-type]
        if frame is not None:
            released.append((at, frame.timestamp // 960))
    return play(released)


def play(released: list[tuple[float, int]]) -> tuple[int, list[float]]:
    """A player taking a frame every 20 ms from the first release on: (empty ticks, play - send ms)."""
    if not released:
        return 0, []
    start = released[0][0]
    underruns, delays, queue_at = 0, [], 0
    tick = start
    end = released[-1][0]
    while queue_at < len(released) and tick <= end + 1.0:
        if released[queue_at][0] <= tick + 1e-9:
            delays.append((tick - released[queue_at][1] * 0.02) * 1000)
            queue_at += 1
        else:
            underruns += 1
        tick += 0.02
    return underruns, delays


def ours_timeline(link: Impairment, frames: int) -> tuple[int, int, list[float]]:
    """voxflow's buffer on the same link -> (underruns, concealed, per-frame buffer delay ms).

    Frames come out exactly on their deadlines, played or concealed, so a
    player taking one every 20 ms never finds none: underruns are counted as
    ticks without a frame all the same.
    """
    buffer = AdaptiveJitterBuffer()
    plan = link.plan()
    arrivals = sorted((i * 0.02 + d, i) for i in range(frames) if (d := plan.delay()) is not None)
    released: list[tuple[float, int]] = []

    def pop_until(until: float) -> None:
        while (deadline := buffer.next_deadline()) is not None and deadline < until:
            for item in buffer.pop(deadline):
                if isinstance(item, Play) and item.shrink:
                    buffer.shrunk()  # the payloads stand for silence: dropped to shrink, as the receive path does
                    continue
                seq = item.packet.seq if isinstance(item, Play) else item.seq
                released.append((deadline, seq))

    for at, i in arrivals:
        pop_until(at)
        buffer.push(i % 65536, (i * 960) % (1 << 32), b"", at)
    while buffer.buffered:  # play out the rest, concealing nothing past the last packet
        deadline = buffer.next_deadline()
        assert deadline is not None
        pop_until(deadline + 1e-9)
    underruns, delays = play(released)
    return underruns, buffer.stats.concealed, delays


# ----------------------------------------------------------------------------- 4. barge-in
class BargeSource:
    """Silence paced in real time; ``speak()`` plays a real person saying "front center" (ALSA's recording).

    A tone would not do: the local server's VAD (Silero) scores speech, not
    energy. The onset is the moment the first frame above -40 dBFS is handed out.
    """

    sample_rate = 48_000
    channels = 1

    def __init__(self) -> None:
        from tests.real_speech import ALSA_SOUNDS, decode

        self._frames = 0
        self._start: float | None = None
        self._queued: list[np.ndarray] = []
        self._stopped = False
        self._onset_pending = False
        self.onsets: list[float] = []  # when each utterance's first loud frame was handed out
        voice = decode(ALSA_SOUNDS / "Front_Center.wav", 48_000)
        voice = np.concatenate([voice, np.zeros(-len(voice) % 960, dtype=np.int16)])
        self._voice = [frame.reshape(-1, 1) for frame in voice.reshape(-1, 960)]
        self._silence = np.zeros((960, 1), dtype=np.int16)

    def speak(self) -> None:
        self._queued = list(self._voice)
        self._onset_pending = True

    async def read(self) -> np.ndarray | None:
        if self._stopped:
            return None
        if self._start is None:
            self._start = time.monotonic()
        await asyncio.sleep(max(0.0, self._start + self._frames * 0.02 - time.monotonic()))
        self._frames += 1
        if not self._queued:
            return self._silence
        frame = self._queued.pop(0)
        if self._onset_pending and np.sqrt(np.mean(frame.astype(np.float64) ** 2)) > 32768 * 10 ** (-40 / 20):
            self._onset_pending = False
            self.onsets.append(time.monotonic())
        return frame

    def stop(self) -> None:
        self._stopped = True


async def barge_in(adaptive: bool, count: int) -> list[tuple[float, float]]:
    """(onset -> speech_started, onset -> flush) in ms for each barge-in."""
    from audio.wire.config import ServerVad, SessionConfig
    from audio.session.events import AssistantAudio, SpeechStarted
    from audio.transports.secrets import DirectSecretProvider
    from audio.server import LocalRealtimeServer, ServerConfig
    from audio.session.session import RealtimeSession
    from audio.base.registry import AudioRegistry

    adaptive_receive.SETTINGS = adaptive_receive.ReceiveSettings(adaptive=adaptive)
    long_reply = "This is a long answer that keeps talking for a good while so that it can be interrupted. " * 3
    server = LocalRealtimeServer(ServerConfig(reply="script", script=[long_reply] * (count + 2), speech=False))
    await server.start()
    source = BargeSource()
    registry = AudioRegistry()
    session = RealtimeSession(
        SessionConfig(base_url=server.base_url, vad=ServerVad(), transcription_model=None),
        secret_provider=DirectSecretProvider("bench-key", base_url=server.base_url),
        registry=registry, input_source=source, echo_guard=False,
    )
    playing = asyncio.Event()
    started: list[float] = []
    flushes: list[float] = []

    def on_event(event: Any) -> None:
        if isinstance(event, AssistantAudio) and event.playing:
            playing.set()
        if isinstance(event, SpeechStarted):
            started.append(time.monotonic())

    session.events.add_callback(on_event)
    results: list[tuple[float, float]] = []
    try:
        await asyncio.wait_for(session.connect(), 30)
        pipe = session.output_pipe
        assert pipe is not None
        pipe.add_flush_listener(lambda: flushes.append(time.monotonic()))

        async def drain() -> None:
            while await pipe.read() is not None:
                pass

        reader = asyncio.create_task(drain())
        source.speak()  # the first turn: gets the server talking
        for _ in range(count):
            playing.clear()
            await asyncio.wait_for(playing.wait(), 30)
            await asyncio.sleep(0.8)  # well into the reply
            n_started, n_flushes = len(started), len(flushes)
            source.speak()
            deadline = time.monotonic() + 10
            while (len(flushes) == n_flushes or len(started) == n_started) and time.monotonic() < deadline:
                await asyncio.sleep(0.005)
            if len(flushes) > n_flushes and len(started) > n_started:
                onset = source.onsets[-1]
                results.append(((started[n_started] - onset) * 1000, (flushes[n_flushes] - onset) * 1000))
        await session.disconnect()
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
    finally:
        await server.stop()
        adaptive_receive.SETTINGS = adaptive_receive.ReceiveSettings()
    return results


# ----------------------------------------------------------------------------- main
PHASES = tuple(k / 1000 for k in range(20))  # the device clock is not locked to the network's: every 1 ms offset


def speaker_playout_ms(sink_stream: Any, phases: tuple[float, ...] = PHASES) -> tuple[list[float], list[float], int]:
    """What the adaptive SpeakerSink adds, replayed on a simulated device clock (no sound card here).

    The measured sink-write times drive the real ``SpeakerSink`` (its device is
    the tests' scripted sounddevice) while a device callback takes one 20 ms
    block every 20 ms, as the stream voxflow opens does. A frame's playout
    delay is the time from its write to the callback that plays its first
    sample. Repeated at each callback phase in ``phases``. Returns the delays, the prebuffer level after each
    write, and the underruns (a callback that found too little queued).
    """
    from audio.io import devices
    from audio.io.speaker import SpeakerSink
    from tests.audio.fake_sounddevice import HEADSET, FakeSoundDevice

    rate = sink_stream.rate or e2e.OUTPUT_RATE
    block = rate // 50
    writes = [(stamp, len(chunk)) for stamp, chunk in sink_stream._chunks]
    if not writes:
        return [], [], 0
    fake = FakeSoundDevice(HEADSET, rates=(rate,))
    saved = devices._import_sounddevice, devices._module
    devices._import_sounddevice, devices._module = (lambda: fake), None  # type: ignore[assignment]
    delays: list[float] = []
    levels: list[float] = []
    underruns = 0
    try:
        for phase in phases:
            now = [0.0]
            speaker = SpeakerSink(None, sample_rate=rate, channels=1, now=lambda: now[0])
            start, end = writes[0][0], writes[-1][0] + 0.5
            pending: list[tuple[float, int]] = []  # (write time, index of its first sample)
            written = played = 0
            tick = start + phase
            out = np.zeros((block, 1), dtype=np.int16)
            index = 0
            while tick < end:
                while index < len(writes) and writes[index][0] <= tick:
                    stamp, count = writes[index]
                    now[0] = stamp
                    speaker.write(np.ones((count, 1), dtype=np.int16))
                    pending.append((stamp, written))
                    written += count
                    levels.append(speaker.prebuffer_ms)
                    index += 1
                if speaker.started:
                    before = speaker.samples_played
                    fake.streams[-1].callback(out, block, None, None)
                    played += speaker.samples_played - before
                    while pending and pending[0][1] < played:
                        delays.append((tick - pending.pop(0)[0]) * 1000)
                tick += block / rate
            underruns += speaker.underruns - (1 if played >= written else 0)  # the end of the stream is no underrun
            speaker.stop()
    finally:
        devices._import_sounddevice, devices._module = saved  # type: ignore[assignment]
    return delays, levels, underruns


async def main(clicks: int, barge_ins: int, sim_frames: int) -> None:
    e2e.quiet_logging()
    print(f"bench_latency: {clicks} clicks per run, {barge_ins} barge-ins per path; start {load()}, cpus {os.cpu_count()}")

    print("\n1. Round trip through the local server (echo-audio), input file -> our sink, ms")
    print(f"   {'link':10} {'path':9} {'found':>7} {'p50':>7} {'p95':>7}   (loss applied at both receivers)")
    figures: dict[tuple[str, str], tuple[float, float]] = {}
    stages: dict[str, dict[str, float]] = {}
    clean_ours: Any = None
    client_waits: list[float] = []
    for link_name, link in LINKS.items():
        for path_name, adaptive in (("stock", False), ("voxflow", True)):
            result, attached = await round_trip(clicks, adaptive, link)
            totals = [t.sink - t.file for t in result.found]
            p50, p95 = pct(totals, 50), pct(totals, 95)
            figures[(link_name, path_name)] = (p50, p95)
            aliased = sum(1 for total in totals if total < 0.02)  # nothing is that fast: a previous click's echo
            note = f"  ({aliased} found under 20 ms: round trip beyond the {e2e.CLICK_SPACING * 1000:.0f} ms click spacing)" if aliased else ""
            print(f"   {link_name:10} {path_name:9} {len(result.found):>3}/{result.clicks:<3} {p50 * 1000:7.1f} {p95 * 1000:7.1f}{note}")
            if link_name == "clean":
                stages[path_name] = budget_stages(result, attached)
            if link_name == "clean" and adaptive:
                clean_ours = result
                client_waits = [w for path in attached[:1] if path is not None for w in path.stats.waits_ms]
    for path_name in ("stock", "voxflow"):
        clean95 = figures[("clean", path_name)][1]
        print(f"   {path_name}: p95 at 1% loss - clean p95 = {(figures[('1% loss', path_name)][1] - clean95) * 1000:+.1f} ms;"
              f" at 5% loss {(figures[('5% loss', path_name)][1] - clean95) * 1000:+.1f} ms")

    print("\n   one click, stage by stage (clean link, p50 ms)        stock   voxflow")
    for stage in next(iter(stages.values()), {}):
        print(f"   {stage:52} {stages.get('stock', {}).get(stage, float('nan')):7.1f} {stages.get('voxflow', {}).get(stage, float('nan')):7.1f}")

    print(f"\n2. Underruns over {sim_frames * 0.02 / 60:.0f} minutes of audio, simulated time (seeded link, same packets for both)")
    print(f"   {'link':22} {'path':9} {'underruns':>9} {'concealed':>9} {'buffer p50':>10} {'p95 ms':>7}")
    for name, link in {**LINKS, "5% loss + ±20 ms": Impairment(loss=0.05, jitter=0.02, seed=13),
                       "±20 ms jitter": Impairment(jitter=0.02, seed=14)}.items():
        base = link.jitter * 1000  # the link's mean delay is the link's, not the buffer's
        under, delays = stock_timeline(link, sim_frames)
        print(f"   {name:22} {'stock':9} {under:9d} {'-':>9} {pct(delays, 50) - base:10.1f} {pct(delays, 95) - base:7.1f}")
        under, concealed, delays = ours_timeline(link, sim_frames)
        print(f"   {name:22} {'voxflow':9} {under:9d} {concealed:9d} {pct(delays, 50) - base:10.1f} {pct(delays, 95) - base:7.1f}")
    print("   (stock: frames missing after a loss are simply absent, so the player starves; voxflow conceals them on time)")

    print("\n3. Client-added latency, voxflow path, clean run of 1 (ms)")
    if clean_ours is not None:
        send = [(t.send - t.file) * 1000 for t in clean_ours.found]
        receive = [(t.sink - t.receive) * 1000 for t in clean_ours.found]
        playout, prebuffer, underruns = speaker_playout_ms(clean_ours.sink)
        parts = {"send path": send, "jitter buffer wait": client_waits, "receive path": receive, "speaker playout": playout}
        for name, values in parts.items():
            print(f"   {name:22} p50 {pct(values, 50):6.1f}  p95 {pct(values, 95):6.1f}")
        print(f"   total (sum of p50s / of p95s): {sum(pct(v, 50) for v in parts.values()):.1f} / "
              f"{sum(pct(v, 95) for v in parts.values()):.1f}")
        print(f"   (speaker: the SpeakerSink replayed on a 20 ms device clock at {len(PHASES)} phases; its prebuffer level"
              f" p50 {pct(prebuffer, 50):.1f}, p95 {pct(prebuffer, 95):.1f}; underruns {underruns}, all phases together)")

    print("\n4. Barge-in: speech onset -> server speech_started -> our playback flushed (ms)")
    for path_name, adaptive in (("stock", False), ("voxflow", True)):
        results = await barge_in(adaptive, barge_ins)
        if not results:
            print(f"   {path_name:9} no barge-in completed")
            continue
        to_started = [a for a, _ in results]
        to_flush = [b for _, b in results]
        print(f"   {path_name:9} {len(results)}/{barge_ins}: onset->speech_started p50 {pct(to_started, 50):6.1f};"
              f" onset->silence p50 {pct(to_flush, 50):6.1f} p95 {pct(to_flush, 95):6.1f}")
    print(f"\nend {load()}")


def cli() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--clicks", type=int, default=30)
    parser.add_argument("--barge-ins", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    clicks, barge_ins, frames = (args.clicks, args.barge_ins, 30_000) if not args.quick else (6, 2, 3_000)
    asyncio.run(main(clicks, barge_ins, frames))


if __name__ == "__main__":
    cli()
