"""Benchmark: the realtime session core's connect time, turn latency and event-handling headroom.

Run: python tests/benchmarks/bench_realtime_session.py [--sessions 5] [--turns 5] [--events 20000] [--connect-only]

1 and 2 run over each transport (WebRTC, WebSocket), with the ratio WebSocket/WebRTC.

1. Connect: ``RealtimeSession.connect()`` against the local Realtime server on
   loopback (offer, POST, answer, ICE/DTLS, channel open, ``session.created``),
   p50 and max over SESSIONS connects, both ways a standard key connects
   (issue #21): in one request (multipart ``/calls``; the key as the WebSocket's
   Bearer) and by minting a client secret first (``one_request=False``).
2. Turn latency: a typed turn (``send_text``) to the first audible assistant
   frame leaving the receive pump, as the session itself reports it
   (``TurnLatency``), p50 and max over TURNS turns.
3. Event handling: EVENTS server events (transcript deltas with the odd
   ``response.done``) parsed and applied with a subscriber attached, no
   network; events per second and the ratio to a busy service's ~100 events/s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audio.wire.config import SessionConfig  # noqa: E402
from audio.session.events import ResponseDone, TurnLatency  # noqa: E402
from audio.transports.secrets import DirectSecretProvider  # noqa: E402
from audio.server import LocalRealtimeServer, ServerConfig  # noqa: E402
from audio.session.session import RealtimeSession  # noqa: E402
from audio.base.registry import AudioRegistry  # noqa: E402

BUSY_SERVICE_EVENTS_PER_SECOND = 100.0


def make(server: LocalRealtimeServer, transport: str, one_request: bool = True) -> RealtimeSession:
    return RealtimeSession(
        SessionConfig.build(base_url=server.base_url, transport=transport),
        secret_provider=DirectSecretProvider("bench", base_url=server.base_url, one_request=one_request),
        registry=AudioRegistry(),
    )


async def bench_connect(server: LocalRealtimeServer, count: int, transport: str, one_request: bool = True) -> list[float]:
    times = []
    for _ in range(count):
        session = make(server, transport, one_request)
        start = time.perf_counter()
        await session.connect()
        times.append(time.perf_counter() - start)
        await session.disconnect()
    return times


async def bench_turns(server: LocalRealtimeServer, turns: int, transport: str) -> list[float]:
    session = make(server, transport)
    latencies: list[float] = []
    done = asyncio.Event()

    def on_event(event: object) -> None:
        if isinstance(event, TurnLatency):
            latencies.append(event.seconds)
        if isinstance(event, ResponseDone):
            done.set()

    session.events.add_callback(on_event)
    await session.connect()
    pipe = session.output_pipe
    assert pipe is not None

    async def drain() -> None:
        while await pipe.read() is not None:
            pass

    reader = asyncio.create_task(drain())
    for turn in range(turns):
        done.clear()
        await session.send_text(f"turn {turn}")
        await asyncio.wait_for(done.wait(), 30)
        while session.interpreter.assistant_playing:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # a pause between turns, as a person would leave
    await session.disconnect()
    await reader
    return latencies


def bench_events(count: int) -> float:
    session = RealtimeSession(
        SessionConfig(), secret_provider=DirectSecretProvider("bench"), registry=AudioRegistry()
    )
    received = 0

    def count_event(event: object) -> None:
        nonlocal received
        received += 1

    session.events.add_callback(count_event)
    messages = []
    for i in range(count):
        if i % 200 == 199:
            messages.append(json.dumps({"type": "response.done", "response": {
                "id": f"r{i}", "status": "completed", "usage": {"input_tokens": 5, "output_tokens": 9}}}))
        else:
            messages.append(json.dumps({"type": "response.output_audio_transcript.delta",
                                        "item_id": f"a{i // 200}", "delta": "word "}))
    start = time.perf_counter()
    for message in messages:
        session.interpreter.feed(message)
    elapsed = time.perf_counter() - start
    assert received >= count
    return count / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=5)
    parser.add_argument("--turns", type=int, default=5)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--connect-only", action="store_true", help="only the connect figures, both ways")
    args = parser.parse_args()

    server = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["A short reply."]))
    await server.start()
    connects: dict[str, list[float]] = {}
    minted: dict[str, list[float]] = {}
    turns: dict[str, list[float]] = {}
    try:
        await bench_connect(server, 1, "webrtc")  # warm up
        for transport in ("webrtc", "websocket"):
            for _ in range(2):  # interleaved, so load changes hit both ways alike
                connects.setdefault(transport, []).extend(await bench_connect(server, args.sessions, transport))
                minted.setdefault(transport, []).extend(await bench_connect(server, args.sessions, transport, False))
            if not args.connect_only:
                turns[transport] = await bench_turns(server, args.turns, transport)
    finally:
        await server.stop()
    for transport in ("webrtc", "websocket"):
        for way, figures in (("one request", connects), ("secret first", minted)):
            print(f"[{transport:9}] connect, {way:12}: p50 {statistics.median(figures[transport]) * 1000:7.1f} ms"
                  f"   max {max(figures[transport]) * 1000:7.1f} ms   ({len(figures[transport])} sessions)")
    if args.connect_only:
        return
    rate = bench_events(args.events)

    for transport in ("webrtc", "websocket"):
        print(f"[{transport:9}] connect (loopback, local server): p50 {statistics.median(connects[transport]) * 1000:7.1f} ms"
              f"   max {max(connects[transport]) * 1000:7.1f} ms   ({len(connects[transport])} sessions)")
        print(f"[{transport:9}] typed turn -> first audible frame: p50 {statistics.median(turns[transport]) * 1000:7.1f} ms"
              f"   max {max(turns[transport]) * 1000:7.1f} ms   ({len(turns[transport])} turns)")
    for name, figures in (("connect", connects), ("turn latency", turns)):
        ratio = statistics.median(figures["websocket"]) / statistics.median(figures["webrtc"])
        print(f"{name}: WebSocket/WebRTC p50 ratio {ratio:.2f}")
    print(f"server events handled: {rate:,.0f} /s   ratio to a busy service ({BUSY_SERVICE_EVENTS_PER_SECOND:g}/s):"
          f" {rate / BUSY_SERVICE_EVENTS_PER_SECOND:,.0f}x")


if __name__ == "__main__":
    asyncio.run(main())
