"""Idle-link benchmark: healthy but quiet connections held for N minutes must never be declared dead.

Run: python tests/benchmarks/bench_idle_link.py [--minutes 30] [--transports webrtc,websocket]

``voxflow serve-realtime --no-speech`` runs in a subprocess (as a user starts
it); this process holds, per transport, concurrently:

* **quiet** -- server VAD, a silent microphone: the assistant never says a
  word, for the whole run;
* **muted push-to-talk** -- ``vad: disabled``, the microphone muted and the
  key never pressed.

Every session has ``renew`` on, so a false detection shows as a switch to
``reconnecting`` (and the session goes on, so the run keeps counting). At
the end it prints per session the drops (with their reasons), the link
watch's questions (how often the quiet link was asked for a sign of life)
and the stalls of this process the watch discounted, and exits 1 if any
connection was dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from audio.base.registry import AudioRegistry  # noqa: E402
from audio.io.sources import SilenceSource  # noqa: E402
from audio.session.events import SessionEvent, SessionState, StateChanged  # noqa: E402
from audio.session.session import RealtimeSession  # noqa: E402
from audio.transports.secrets import DirectSecretProvider  # noqa: E402
from audio.wire.config import SessionConfig  # noqa: E402
from tests.checkout import checkout_env  # noqa: E402


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


@dataclass
class Held:
    name: str
    session: RealtimeSession
    drops: list[str] = field(default_factory=list)
    probes: int = 0
    stalls: int = 0
    ending: bool = False  # the run is over: our own disconnect is no drop

    def follow(self, event: SessionEvent) -> None:
        if not self.ending and isinstance(event, StateChanged) and event.state in (SessionState.RECONNECTING, SessionState.ERROR,
                                                               SessionState.DISCONNECTED) and event.reason:
            if not event.reason.startswith("attempt "):
                self.drops.append(f"{time.strftime('%H:%M:%S')} {event.state.value}: {event.reason}")

    def sample(self) -> None:
        """Keep the live connection's watch figures (a reconnection starts a new watch)."""
        transport = self.session._transport  # a benchmark may look inside
        watch = getattr(transport, "watch", None)
        if watch is not None:
            self.probes, self.stalls = max(self.probes, watch.probes), max(self.stalls, watch.stalls)


async def hold(base_url: str, transport: str, kind: str) -> Held:
    vad = {"type": "server_vad"} if kind == "quiet" else {"type": "disabled"}
    session = RealtimeSession(
        SessionConfig.build(base_url=base_url, transport=transport, renew=True, vad=vad),
        secret_provider=DirectSecretProvider("sk-bench", base_url=base_url),
        registry=AudioRegistry(), input_source=SilenceSource(48_000, 1),
    )
    held = Held(f"{transport} {kind}", session)
    session.events.add_callback(held.follow)
    await session.connect()
    if kind != "quiet":
        session.mute()
    return held


async def run(minutes: float, transports: list[str]) -> int:
    process, base_url = start_server()
    held: list[Held] = []
    try:
        for transport in transports:
            for kind in ("quiet", "muted push-to-talk"):
                held.append(await hold(base_url, transport, kind))
        print(f"holding {len(held)} idle connections for {minutes:g} min against {base_url}", flush=True)
        end = time.monotonic() + minutes * 60
        next_report = time.monotonic() + 60
        while time.monotonic() < end:
            await asyncio.sleep(1.0)
            for h in held:
                h.sample()
            if time.monotonic() >= next_report:
                next_report += 60
                elapsed = (minutes * 60 - (end - time.monotonic())) / 60
                print(f"  {elapsed:4.1f} min: " + ", ".join(f"{h.name} {len(h.drops)} drop(s)" for h in held), flush=True)
    finally:
        for h in held:
            h.ending = True
            await h.session.disconnect()
        process.terminate()
        process.wait(20)
    print(f"\nidle links, {minutes:g} min each (both transports at once):")
    print(f"{'connection':28} {'drops':>5} {'questions':>9} {'stalls':>6}")
    for h in held:
        print(f"{h.name:28} {len(h.drops):5d} {h.probes:9d} {h.stalls:6d}")
        for drop in h.drops:
            print(f"    {drop}")
    dropped = sum(len(h.drops) for h in held)
    print(f"\nfalse drops: {dropped}")
    return 1 if dropped else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--transports", default="webrtc,websocket")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.minutes, args.transports.split(","))))


if __name__ == "__main__":
    main()
