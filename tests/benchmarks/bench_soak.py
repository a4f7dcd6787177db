"""Soak benchmark: an always-on session for hours at an accelerated clock, renewing on its cap.

Run: python tests/benchmarks/bench_soak.py [--hours 3] [--renew-minutes 20] [--speedup 60] [--turn-every 60]

One ``renew: true`` session against the local Realtime server on loopback,
its clock running SPEEDUP times faster than the wall clock (the session cap,
renewal lead and turn boundaries all follow it), a typed turn every
TURN_EVERY simulated seconds (the server answers with real audio). After each
renewal it records the process RSS, the session's live tasks, peer
transports and peer connections alive (after a GC; the in-process server's
side counts too), the registry size, the audio
gap of the switch (wall time from closing the old connection until the new
one could send). There is no microphone track (an accelerated one would
send SPEEDUP times too many frames); typed turns drive the conversation. Reported: RSS growth
after warm-up (the first renewal) against the +20 MB budget, leaks, and the
gap at each switch against the 1 s budget. The defaults are the issue's
figure: 3 hours, renewing every 20 minutes (9 renewals, about 3 wall minutes).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audio.errors import VoxflowError  # noqa: E402
from audio.realtime.config import SessionConfig  # noqa: E402
from audio.realtime.secrets import DirectSecretProvider  # noqa: E402
from audio.realtime.server import LocalRealtimeServer, ServerConfig  # noqa: E402
from audio.realtime.session import TASK_PREFIX, RealtimeSession  # noqa: E402
from audio.registry import AudioRegistry  # noqa: E402
from tests.benchmarks.bench_end_to_end import AcceleratedClock  # noqa: E402

RSS_BUDGET_MB = 20.0
GAP_BUDGET_S = 1.0
TASKS_PER_CONNECTION = 3  # timer, renewal watch, and for a moment after a reply the playback-events check


def live_objects(type_name: str) -> int:
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj).__name__ == type_name)


def session_tasks() -> int:
    return sum(1 for task in asyncio.all_tasks() if not task.done() and task.get_name().startswith((TASK_PREFIX, "SourceTrack")))


async def soak(hours: float, renew_minutes: float, speedup: float, turn_every: float) -> int:
    clock = AcceleratedClock(speedup)
    server = LocalRealtimeServer(ServerConfig(speech=False, reply="script", script=["Noted, thank you."]))
    await server.start()
    registry = AudioRegistry()
    session = RealtimeSession(
        SessionConfig(base_url=server.base_url, max_duration=renew_minutes, renew=True, transcription_model=None),
        secret_provider=DirectSecretProvider("bench", base_url=server.base_url),
        registry=registry,
        clock=clock,
    )
    process = psutil.Process()
    rows: list[tuple[int, float, int, int, int, int, float, str]] = []
    end = clock.monotonic() + hours * 3600
    try:
        await session.connect()
        assert session.renewal is not None
        seen, turn, next_turn = 0, 0, clock.monotonic()
        while clock.monotonic() < end:
            if session.connected and clock.monotonic() >= next_turn and not session.assistant_busy:
                turn += 1
                try:
                    await session.send_text(f"note number {turn}")
                except VoxflowError:  # the channel closed between the check and the send: a drop, reconnecting
                    turn -= 1
                next_turn = clock.monotonic() + turn_every
            switches = list(session.renewal.switches)
            if len(switches) > seen:
                seen = len(switches)
                await asyncio.sleep(0.2 / speedup * 60)  # let the old connection's last callbacks run
                server.ended_calls.clear()  # the server keeps ended calls for tests to inspect: not the client's
                rss = process.memory_info().rss / 2**20
                rows.append((seen, rss, session_tasks(), live_objects("WebRtcTransport"), live_objects("RTCPeerConnection"),
                             len(registry), switches[-1].gap_seconds, switches[-1].kind))
                sim = session.total_elapsed() / 60
                print(f"switch {seen:2d} at {sim:6.1f} sim-min: rss {rss:6.1f} MB, tasks {rows[-1][2]}, "
                      f"client transports {rows[-1][3]}, peer connections {rows[-1][4]} (both ends), registry {rows[-1][5]}, "
                      f"gap {switches[-1].gap_seconds * 1000:.0f} ms ({switches[-1].kind})", flush=True)
            if not session.connected and not session.renewal.switching:
                print(f"session ended: {session.state} ({session.reason})")
                return 1
            await asyncio.sleep(0.02)
        total_turns = sum(1 for e in session.transcript.entries() if e.role == "user")
        answered = sum(1 for e in session.transcript.entries() if e.role == "assistant")
    finally:
        await session.disconnect()
        await server.stop()
    after_tasks = session_tasks()
    print(f"\n{hours:g} h at {speedup:g}x, renewing every {renew_minutes:g} min: {len(rows)} switches, "
          f"{total_turns} typed turns, {answered} answered")
    if not rows:
        print("no renewal happened")
        return 1
    warm = rows[0][1]
    growth = max(r[1] for r in rows) - warm
    gaps = [r[6] for r in rows]
    leaks = [r for r in rows if r[2] > TASKS_PER_CONNECTION or r[3] > 1 or r[4] > 2 or r[5] != 1]
    print(f"RSS after warm-up {warm:.1f} MB, max growth {growth:+.1f} MB (budget +{RSS_BUDGET_MB:g} MB): "
          f"{'ok' if growth <= RSS_BUDGET_MB else 'OVER'}")
    print(f"audio gap per switch: p50 {statistics.median(gaps) * 1000:.0f} ms, max {max(gaps) * 1000:.0f} ms "
          f"(budget {GAP_BUDGET_S * 1000:.0f} ms; max/budget {max(gaps) / GAP_BUDGET_S:.2f})")
    print(f"leaks: {'none' if not leaks else leaks}; session tasks after disconnect: {after_tasks}, registry {len(registry)}")
    return 0 if growth <= RSS_BUDGET_MB and not leaks and max(gaps) < GAP_BUDGET_S and after_tasks == 0 else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=3.0)
    parser.add_argument("--renew-minutes", type=float, default=20.0)
    parser.add_argument("--speedup", type=float, default=60.0)
    parser.add_argument("--turn-every", type=float, default=60.0, help="simulated seconds between typed turns")
    args = parser.parse_args()
    started = time.perf_counter()
    code = asyncio.run(soak(args.hours, args.renew_minutes, args.speedup, args.turn_every))
    print(f"wall time {time.perf_counter() - started:.0f} s")
    sys.exit(code)


if __name__ == "__main__":
    main()
