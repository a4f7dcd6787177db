"""Dead-link benchmark: how long a session takes to notice that the server vanished, per transport.

Run: python tests/benchmarks/bench_dead_link.py [--kills 20] [--transports webrtc,websocket] [--freeze]

Each round starts ``voxflow serve-realtime --no-speech`` in a subprocess,
connects a ``renew: true`` session to it (silent microphone, server VAD),
lets the link settle for a moment (a random 0.5-1.5 s, so kills fall at every
phase of the watch's polls and questions), then kills the server with SIGKILL
(and with ``--freeze`` also freezes it with SIGSTOP: nothing arrives and
nothing closes, as when the network is cut). It measures, on the session's
clock, the time from the signal to the session's switch to ``reconnecting``
and keeps which signal fired (the reason). Reported: p50 / p95 / max per
transport and signal against the 3 s requirement (exit 1 if a round missed it
or was never noticed). A frozen server over WebSocket is not a cut network:
its kernel goes on acknowledging TCP until its receive buffer is full, so it is
a hung service, held to the keepalive's 15 s (plus a margin) instead.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import random
import re
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audio.base.registry import AudioRegistry  # noqa: E402
from audio.io.sources import SilenceSource  # noqa: E402
from audio.session.events import SessionEvent, SessionState, StateChanged  # noqa: E402
from audio.session.session import RealtimeSession  # noqa: E402
from audio.transports.secrets import DirectSecretProvider  # noqa: E402
from audio.wire.config import SessionConfig  # noqa: E402
from tests.checkout import checkout_env  # noqa: E402

REQUIRED = 3.0
HUNG = 17.0  # a frozen server over WebSocket: the keepalive's ping every 5 s and its 10 s pong timeout
GIVE_UP = 40.0  # ICE consent's 30 s, and then some: the old behaviour still shows as a number


def start_server() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, "-m", "tui", "serve-realtime", "--port", "0", "--no-speech"],
                               stderr=subprocess.PIPE, text=True, env=checkout_env({}))
    assert process.stderr is not None
    banner = process.stderr.readline()
    match = re.search(r"http://127\.0\.0\.1:\d+", banner)
    if match is None:
        process.kill()
        raise SystemExit(f"the server did not start: {banner!r}")
    return process, match.group(0)


def short(reason: str) -> str:
    return reason.split(" for ")[0].split(" (")[0]


async def one_round(transport: str, how: int, rng: random.Random) -> tuple[float | None, str]:
    process, base_url = start_server()
    session = RealtimeSession(
        SessionConfig.build(base_url=base_url, transport=transport, renew=True),
        secret_provider=DirectSecretProvider("sk-bench", base_url=base_url),
        registry=AudioRegistry(), input_source=SilenceSource(48_000, 1),
    )
    noticed = asyncio.get_running_loop().create_future()

    def follow(event: SessionEvent) -> None:
        if isinstance(event, StateChanged) and event.state is SessionState.RECONNECTING and not noticed.done():
            noticed.set_result((session.clock.monotonic(), event.reason or ""))

    session.events.add_callback(follow)
    try:
        await asyncio.wait_for(session.connect(), 30)
        await asyncio.sleep(rng.uniform(0.5, 1.5))
        vanished = session.clock.monotonic()
        os.kill(process.pid, how)
        try:
            at, reason = await asyncio.wait_for(noticed, GIVE_UP)
        except TimeoutError:
            return None, "never"
        return at - vanished, reason
    finally:
        await session.disconnect()
        process.kill()
        process.wait(20)
        assert process.stderr is not None
        process.stderr.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def run(kills: int, transports: list[str], freeze: bool) -> int:
    rng = random.Random(26)
    signals = [("SIGKILL", signal.SIGKILL)] + ([("SIGSTOP", signal.SIGSTOP)] if freeze else [])
    failed = 0
    rows = []
    for transport in transports:
        for name, how in signals:
            times: list[float] = []
            reasons: Counter[str] = Counter()
            limit = HUNG if (transport, name) == ("websocket", "SIGSTOP") else REQUIRED
            for i in range(kills):
                took, reason = await one_round(transport, how, rng)
                reasons[short(reason)] += 1
                if took is None:
                    failed += 1
                    print(f"  {transport} {name} #{i + 1}: not noticed within {GIVE_UP:g} s", flush=True)
                    continue
                times.append(took)
                failed += took >= limit
                print(f"  {transport} {name} #{i + 1}: {took:.3f} s  ({reason})", flush=True)
            rows.append((transport, name, times, reasons, limit))
    print("\ndetection time from the signal to 'reconnecting' (session clock):")
    print(f"{'transport':10} {'signal':8} {'n':>3} {'p50':>7} {'p95':>7} {'max':>7} {'limit':>6}  signal that fired")
    for transport, name, times, reasons, limit in rows:
        if times:
            p50, p95, top = percentile(times, 50), percentile(times, 95), max(times)
            figures = f"{p50:6.2f}s {p95:6.2f}s {top:6.2f}s"
        else:
            figures = f"{'-':>7} {'-':>7} {'-':>7}"
        fired = "; ".join(f"{count}x {reason}" for reason, count in reasons.most_common())
        print(f"{transport:10} {name:8} {len(times):3d} {figures} {limit:5g}s  {fired}")
    print(f"\nrounds over their limit or never noticed: {failed}")
    return 1 if failed else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--transports", default="webrtc,websocket")
    parser.add_argument("--freeze", action="store_true", help="also freeze the server (SIGSTOP: a cut network)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)  # the watch's own warning repeats the reason printed per round
    sys.exit(asyncio.run(run(args.kills, args.transports.split(","), args.freeze)))


if __name__ == "__main__":
    main()
