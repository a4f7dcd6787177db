"""Benchmark: the local Realtime server's audio latency, turn latency and concurrent calls.

Run: python tests/benchmarks/bench_local_server.py [--clicks 15] [--calls 8]

1. Click latency with ``reply="echo-audio"``: a 20 ms click leaves the
   client's track, goes through the server (decode, resample, paced track,
   encode) and comes back; the time from the click frame leaving ``recv()`` to
   the frame holding it arriving is measured. The same is measured against a
   bare aiortc peer that relays its received track straight back (the floor
   any WebRTC echo has on this machine); the ratio is the server's overhead.
2. Turn latency: text turn sent -> ``output_audio_buffer.started``.
3. N concurrent calls, each doing one text turn: wall time of the lot against
   one call alone.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audio.server import LocalRealtimeServer, ServerConfig  # noqa: E402
from tests.realtime_server.client import FRAME, RATE, PcmTrack, RealtimeTestClient  # noqa: E402

CLICK_GAP_S = 0.4
THRESHOLD = 8000


class TimedTrack(PcmTrack):
    """A PcmTrack that notes the wall time each loud frame left ``recv()``."""

    def __init__(self) -> None:
        super().__init__()
        self.sent_clicks: list[float] = []

    async def recv(self):  # type: ignore[no-untyped-def]
        frame = await super().recv()
        if np.abs(frame.to_ndarray()).max() > THRESHOLD:
            self.sent_clicks.append(time.perf_counter())
        return frame


def click() -> np.ndarray:
    t = np.arange(FRAME) / RATE
    return (0.8 * 32767 * np.sin(2 * np.pi * 1500 * t)).astype(np.int16)


async def measure_clicks(pc: RTCPeerConnection, track: TimedTrack, arrivals: list[tuple[float, np.ndarray]],
                         clicks: int) -> list[float]:
    await asyncio.sleep(1.0)  # let the jitter buffers settle
    for _ in range(clicks):
        track.play(click())
        await asyncio.sleep(CLICK_GAP_S)
    await asyncio.sleep(1.0)
    heard = [when for when, samples in arrivals if np.abs(samples).max() > THRESHOLD]
    onsets = [when for i, when in enumerate(heard) if i == 0 or when - heard[i - 1] > CLICK_GAP_S / 2]
    latencies = []
    for sent in track.sent_clicks:
        later = [when for when in onsets if 0 < when - sent < CLICK_GAP_S]
        if later:
            latencies.append((later[0] - sent) * 1000)
    return latencies


def recorder(arrivals: list[tuple[float, np.ndarray]]):  # type: ignore[no-untyped-def]
    import av

    async def drain(track) -> None:  # type: ignore[no-untyped-def]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=RATE)
        while True:
            try:
                frame = await track.recv()
            except Exception:
                return
            frame.pts = None
            for out in resampler.resample(frame):
                arrivals.append((time.perf_counter(), out.to_ndarray().reshape(-1)))
    return drain


async def server_click_latency(clicks: int) -> list[float]:
    server = LocalRealtimeServer(ServerConfig(reply="echo-audio", speech=False))
    await server.start()
    client = RealtimeTestClient(server.base_url)
    track = TimedTrack()
    client.pc.getSenders()[0].replaceTrack(track)
    arrivals: list[tuple[float, np.ndarray]] = []
    drain = recorder(arrivals)
    tasks: list[asyncio.Task[None]] = []
    client.pc.remove_all_listeners("track")  # this benchmark drains the reply itself, with arrival times
    client.pc.on("track", lambda t: tasks.append(asyncio.ensure_future(drain(t))))
    try:
        await client.connect({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
        return await measure_clicks(client.pc, track, arrivals, clicks)
    finally:
        await client.close()
        for task in tasks:
            task.cancel()
        await server.stop()


async def bare_click_latency(clicks: int) -> list[float]:
    """Two aiortc peers; the answerer relays the received track straight back."""
    config = RTCConfiguration(iceServers=[])
    caller, echoer = RTCPeerConnection(config), RTCPeerConnection(config)
    relay = MediaRelay()
    track = TimedTrack()
    caller.addTrack(track)
    arrivals: list[tuple[float, np.ndarray]] = []
    tasks: list[asyncio.Task[None]] = []
    drain = recorder(arrivals)
    caller.on("track", lambda t: tasks.append(asyncio.ensure_future(drain(t))))
    echoer.on("track", lambda t: echoer.addTrack(relay.subscribe(t)))
    try:
        await caller.setLocalDescription(await caller.createOffer())
        await echoer.setRemoteDescription(RTCSessionDescription(caller.localDescription.sdp, "offer"))
        await echoer.setLocalDescription(await echoer.createAnswer())
        await caller.setRemoteDescription(RTCSessionDescription(echoer.localDescription.sdp, "answer"))
        return await measure_clicks(caller, track, arrivals, clicks)
    finally:
        for task in tasks:
            task.cancel()
        await caller.close()
        await echoer.close()


async def text_turn(client: RealtimeTestClient, text: str) -> float:
    start_index = len(client.events)
    began = time.perf_counter()
    client.send("conversation.item.create", item={
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
    client.send("response.create")
    await client.next("output_audio_buffer.started", after=start_index, timeout=60)
    elapsed = time.perf_counter() - began
    await client.next("output_audio_buffer.stopped", after=start_index, timeout=60)
    return elapsed


async def turns(calls: int) -> tuple[float, list[float]]:
    """First-audio latency of one warm call, then of ``calls`` calls asking at the same moment."""
    server = LocalRealtimeServer(ServerConfig(reply="script", script=["Fine, thanks."]))
    await server.start()
    clients = [RealtimeTestClient(server.base_url) for _ in range(calls)]
    try:
        await asyncio.gather(*(c.connect({"type": "realtime", "audio": {"input": {"turn_detection": None}}})
                               for c in clients))
        await text_turn(clients[0], "warm up")
        single = await text_turn(clients[0], "hello")
        together = await asyncio.gather(*(text_turn(c, "hello") for c in clients))
        return single, list(together)
    finally:
        for c in clients:
            await c.close()
        await server.stop()


def summary(values: list[float]) -> str:
    if not values:
        return "no clicks detected"
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))]
    return f"median {statistics.median(values):6.1f} ms  p90 {p90:6.1f} ms  ({len(values)} clicks)"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clicks", type=int, default=15)
    parser.add_argument("--calls", type=int, default=8)
    args = parser.parse_args()
    server = await server_click_latency(args.clicks)
    bare = await bare_click_latency(args.clicks)
    print(f"click latency, local server (echo-audio): {summary(server)}")
    print(f"click latency, bare aiortc relay       : {summary(bare)}")
    if server and bare:
        print(f"  server / bare median ratio            : {statistics.median(server) / statistics.median(bare):.2f}")
    single, together = await turns(args.calls)
    print(f"text turn -> first reply audio, 1 call : {single * 1000:6.0f} ms")
    print(f"  same with {args.calls} calls at once        : median {statistics.median(together) * 1000:.0f} ms,"
          f" max {max(together) * 1000:.0f} ms  (max / single ratio {max(together) / single:.2f})")

if __name__ == "__main__":
    asyncio.run(main())
