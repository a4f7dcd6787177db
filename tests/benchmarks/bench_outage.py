"""Outage benchmark: how much of what a person says while the link is down reaches the new session, and how far
behind the live microphone is once it is back.

Run: python tests/benchmarks/bench_outage.py [--runs 3] [--transport webrtc|websocket|both]

A session (reconnection on, the default; no ``renew``) talks to the local
Realtime server on loopback. Half a second in, the server goes away (its calls
closed, as a restart does); while it is down a person says two phrases
(``alsa-utils``' recordings: "front center", 1.3 s, and "rear right", 1.4 s,
1.5 s apart); the server comes back on the same port once the second phrase
is over. Per run it reports:

* said: seconds of speech in the input while no connection could hear it
  (the phrases' speech spans, measured on the recording);
* held / sent: the audio the outage buffer held, and the speech of it handed
  to the new session (``Switch.outage``);
* live lag: how far the live microphone audio the server has received trails
  the wall clock after the switch -- at most, and 2 s later. Over WebSocket the
  held speech is appended ahead of the live audio, so the live audio waits for
  it; over WebRTC the live track goes on at once and the speech follows as an
  item over the data channel.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import time
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audio.base.registry import AudioRegistry  # noqa: E402
from audio.io.sources import FileSource, SilenceSource  # noqa: E402
from audio.server import LocalRealtimeServer, ServerConfig  # noqa: E402
from audio.session.backoff import Backoff  # noqa: E402
from audio.session.session import RealtimeSession  # noqa: E402
from audio.speech.engines import RECOGNITION_RATE  # noqa: E402
from audio.transports.secrets import DirectSecretProvider  # noqa: E402
from audio.wire.config import SessionConfig  # noqa: E402

PHRASES = [Path("/usr/share/sounds/alsa/Front_Center.wav"), Path("/usr/share/sounds/alsa/Rear_Right.wav")]
RATE = 48_000


def speech_seconds(path: Path, threshold_dbfs: float = -40.0) -> float:
    """The span from the first to the last 20 ms louder than the threshold."""
    with wave.open(str(path), "rb") as handle:
        rate, channels = handle.getframerate(), handle.getnchannels()
        samples = np.frombuffer(handle.readframes(handle.getnframes()), dtype=np.int16).reshape(-1, channels).mean(axis=1)
    window = rate // 50
    frames = samples[: len(samples) // window * window].reshape(-1, window)
    loud = np.flatnonzero(np.sqrt(np.mean(frames**2, axis=1)) >= 32768 * 10 ** (threshold_dbfs / 20))
    return (loud[-1] + 1 - loud[0]) * 0.02


class Sequence:
    def __init__(self, *sources: object) -> None:
        self.sources = list(sources)
        self.sample_rate, self.channels = RATE, 1

    async def read(self) -> np.ndarray | None:
        while self.sources:
            frame = await self.sources[0].read()  # type: ignore[attr-defined]
            if frame is not None:
                return frame
            self.sources.pop(0)
        return None


async def one_run(transport: str) -> dict[str, float]:
    server = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Okay."]))
    await server.start()
    port = int(server.base_url.rsplit(":", 1)[1])
    last = FileSource(PHRASES[1], sample_rate=RATE, channels=1)
    source = Sequence(SilenceSource(RATE, 1, duration=1.0), FileSource(PHRASES[0], sample_rate=RATE, channels=1),
                      SilenceSource(RATE, 1, duration=1.5), last, SilenceSource(RATE, 1, duration=60.0))
    registry = AudioRegistry()
    session = RealtimeSession(
        SessionConfig.build(base_url=server.base_url, vad={"type": "server_vad"}, transport=transport),
        secret_provider=DirectSecretProvider("sk-bench", base_url=server.base_url), registry=registry,
        input_source=source)
    assert session.renewal is not None
    session.renewal.backoff = Backoff(session.clock, base=0.2, cap=0.3, tries=100, rng=random.Random(1))
    again = None
    try:
        await session.connect()
        await asyncio.sleep(0.5)
        await server.stop()
        for call in list(server.calls.values()):
            await call.close("server stopped")
        while not last.ended:
            await asyncio.sleep(0.01)
        again = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Okay."], port=port))
        released: dict[str, float] = {}
        resume = session.resume_input

        async def resume_and_note():  # the moment the held speech and the live audio are handed over
            report = await resume()
            call = next(iter(again.calls.values()))
            released.update(at=time.monotonic(), received=call.input.received_samples / RECOGNITION_RATE)
            return report

        session.resume_input = resume_and_note  # type: ignore[method-assign]
        await again.start()
        while not (session.renewal.switches and session.connected and released):
            await asyncio.sleep(0.005)
        outage = session.renewal.switches[-1].outage
        assert outage is not None
        call = next(iter(again.calls.values()))
        # the server's input timeline: over WebSocket the held speech is on it too, ahead of the live audio
        ahead = outage.sent_seconds if transport == "websocket" else 0.0
        lags = []
        while time.monotonic() - released["at"] < 2.0:
            await asyncio.sleep(0.02)
            live = call.input.received_samples / RECOGNITION_RATE - released["received"] - ahead
            lags.append(max(0.0, (time.monotonic() - released["at"]) - live))
        said = sum(speech_seconds(path) for path in PHRASES)
        return {"said": said, "held": outage.heard_seconds, "sent": outage.sent_seconds,
                "lag_max": max(lags), "lag_2s": lags[-1]}
    finally:
        await session.disconnect()
        await server.stop()
        if again is not None:
            await again.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--transport", choices=["webrtc", "websocket", "both"], default="both")
    args = parser.parse_args()
    transports = ["webrtc", "websocket"] if args.transport == "both" else [args.transport]
    for transport in transports:
        results = [await one_run(transport) for _ in range(args.runs)]
        for result in results:
            print(f"{transport:9} said {result['said']:.2f} s  held {result['held']:.2f} s  sent {result['sent']:.2f} s  "
                  f"live lag max {result['lag_max'] * 1000:.0f} ms, at +2 s {result['lag_2s'] * 1000:.0f} ms")
        print(f"{transport:9} median: sent/said {statistics.median(r['sent'] / r['said'] for r in results):.2f}, "
              f"live lag max {statistics.median(r['lag_max'] for r in results) * 1000:.0f} ms")


if __name__ == "__main__":
    asyncio.run(main())
