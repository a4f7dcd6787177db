"""Benchmark: the local server's WebSocket transport against its WebRTC transport, same server, same turns.

Run: python tests/benchmarks/bench_websocket.py [--turns 10] [--decode-only]

1. Connect: WebSocket (the SDK's ``realtime.connect()`` until ``session.created``)
   vs WebRTC (mint, offer, answer, ICE/DTLS, data channel until ``session.created``).
2. Text turn -> first reply audio: the first ``response.output_audio.delta`` on the
   WebSocket vs ``output_audio_buffer.started`` on WebRTC (audio already on the track).
The ratio WebSocket / WebRTC is printed for both.
3. Decoding one reply audio delta (100 ms of 24 kHz PCM16, 6.4 kB of base64) in the
   client, with ``type`` first and last: before issue #21 (``type`` looked for in the
   first 200 characters, then ``json.loads`` + ``b64decode``; a delta whose ``type`` came
   later was not played), and the ways considered after it (every message parsed:
   stdlib ``json``, ``orjson`` if installed, msgspec's tagged union, which voxflow uses).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import timeit
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audio.server import LocalRealtimeServer, ServerConfig  # noqa: E402
from audio.wire.audio_delta import AudioDelta, decode_audio_delta  # noqa: E402
from tests.realtime_server.client import RealtimeTestClient  # noqa: E402
from tests.realtime_server.sdk_ws import Recorder, sdk  # noqa: E402

MANUAL = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}
ITEM = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hello there"}]}


async def websocket_run(server: LocalRealtimeServer, turns: int) -> tuple[float, list[float]]:
    started = time.perf_counter()
    async with sdk(server).realtime.connect(model="gpt-realtime") as connection:
        events = Recorder(connection)
        await events.next("session.created")
        connect = time.perf_counter() - started
        await connection.session.update(session=MANUAL)  # type: ignore[arg-type]
        await events.next("session.updated")
        latencies = []
        for _ in range(turns):
            start = events.mark()
            await connection.conversation.item.create(item=ITEM)  # type: ignore[arg-type]
            sent = time.perf_counter()
            await connection.response.create()
            await events.next("response.output_audio.delta", start)
            latencies.append(time.perf_counter() - sent)
            await events.next("response.done", start)
    return connect, latencies


async def webrtc_run(server: LocalRealtimeServer, turns: int) -> tuple[float, list[float]]:
    client = RealtimeTestClient(server.base_url)
    started = time.perf_counter()
    await client.connect(MANUAL)
    connect = time.perf_counter() - started
    latencies = []
    try:
        for _ in range(turns):
            start = len(client.events)
            client.send("conversation.item.create", item=ITEM)
            sent = time.perf_counter()
            client.send("response.create")
            await client.next("output_audio_buffer.started", after=start)
            latencies.append(time.perf_counter() - sent)
            await client.next("output_audio_buffer.stopped", after=start)
    finally:
        await client.close()
    return connect, latencies


def _delta_messages() -> dict[str, str]:
    payload = base64.b64encode(os.urandom(4_800)).decode("ascii")  # 100 ms of 24 kHz PCM16
    fields = {"event_id": "event_0123456789abcdef", "response_id": "resp_0123456789abcdef",
              "item_id": "item_0123456789abcdef", "output_index": 0, "content_index": 0, "delta": payload}
    return {"type first": json.dumps({"type": "response.output_audio.delta", **fields}),
            "type last": json.dumps({**fields, "type": "response.output_audio.delta"})}


def _before(message: str) -> bytes | None:
    """The transport before issue #21: a substring test on the head, then the stdlib."""
    head = message[:200]
    if "output_audio.delta" not in head and "response.audio.delta" not in head:
        return None  # handed to the interpreter as an ordinary event: the audio was never played
    return base64.b64decode(json.loads(message).get("delta") or "")


def _stdlib(message: str) -> bytes | None:
    data = json.loads(message)
    return base64.b64decode(data["delta"]) if data.get("type") == "response.output_audio.delta" else None


def _msgspec(message: str) -> bytes | None:
    delta = decode_audio_delta(message)
    return delta.delta if isinstance(delta, AudioDelta) else None


def decode_costs(number: int = 20_000) -> None:
    ways = {"before (first 200 chars + json)": _before, "stdlib json + b64decode": _stdlib}
    try:
        import orjson

        ways["orjson + b64decode"] = lambda message: (
            (lambda data: base64.b64decode(data["delta"]) if data.get("type") == "response.output_audio.delta"
             else None)(orjson.loads(message)))
    except ImportError:
        pass
    ways["msgspec tagged union (voxflow)"] = _msgspec
    for order, message in _delta_messages().items():
        for name, decode in ways.items():
            played = decode(message) is not None
            seconds = min(timeit.repeat(lambda: decode(message), number=number, repeat=5)) / number
            print(f"decode one delta, {order}: {name:34s} {seconds * 1e6:6.2f} us"
                  f"{'' if played else '  (NOT PLAYED)'}")


async def main(turns: int) -> None:
    server = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Okay."]))
    await server.start()
    try:
        await websocket_run(server, 1)  # warm up both paths
        await webrtc_run(server, 1)
        ws_connect, ws_turns = await websocket_run(server, turns)
        rtc_connect, rtc_turns = await webrtc_run(server, turns)
    finally:
        await server.stop()
    ws_p50, rtc_p50 = statistics.median(ws_turns) * 1000, statistics.median(rtc_turns) * 1000
    print(f"connect: WebSocket {ws_connect * 1000:.1f} ms, WebRTC {rtc_connect * 1000:.1f} ms"
          f" (ratio {ws_connect / rtc_connect:.2f})")
    print(f"text turn -> first reply audio, median of {turns}: WebSocket {ws_p50:.1f} ms, WebRTC {rtc_p50:.1f} ms"
          f" (ratio {ws_p50 / rtc_p50:.2f})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=10)
    parser.add_argument("--decode-only", action="store_true", help="only part 3 (no server)")
    args = parser.parse_args()
    decode_costs()
    if not args.decode_only:
        asyncio.run(main(args.turns))
