"""Real network faults for a session: nftables rules in a private network namespace (root, ``nft``, ``unshare``).

User-space impairment (``audio/transports/impairment.py``) models a lossy
UDP link well, but not TCP: its retransmission backoff and its kernel
acknowledgments are what a WebSocket watch meets on a real bad network. So
this runs the local server and a session inside ``unshare -n`` (only ``lo``,
nothing shared with the machine's other processes) and drops packets with
nftables: ``cut`` drops everything between them for SECONDS, ``loss`` drops
each packet with 20 % probability for SECONDS. Each round prints one JSON line
(transport, fault, whether the session reconnected and why, the longest
silence the watch counted, when it noticed, measured from the fault's start).

Run: unshare -n python -m tests.realtime_session.kernel_faults cut|loss SECONDS ROUNDS [TRANSPORTS]
(``available()`` says whether this machine can; tests/realtime_session/test_dead_link.py
and tests/benchmarks/bench_link_faults.py run it.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import shutil
import subprocess
import sys
import time
from typing import Any

from audio.base.registry import AudioRegistry
from audio.io.sources import SilenceSource
from audio.server import LocalRealtimeServer, ServerConfig
from audio.session.events import SessionEvent, SessionState, StateChanged
from audio.session.renewal import STABLE_SECONDS
from audio.session.session import RealtimeSession
from audio.transports.secrets import DirectSecretProvider
from audio.wire.config import SessionConfig

TABLE = "voxflow_faults"


def available() -> str | None:
    """None if this machine can run the faults, else why not."""
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux"
    for tool in ("unshare", "nft", "ip"):
        if shutil.which(tool) is None:
            return f"needs {tool} (apt-get install nftables iproute2 util-linux)"
    probe = subprocess.run(["unshare", "-n", "nft", "add", "table", "inet", TABLE], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"cannot use nftables in a private network namespace: {probe.stderr.strip()}"
    return None


def run_in_namespace(fault: str, seconds: float, rounds: int, transports: str = "webrtc,websocket",
                     timeout: float = 600) -> list[dict[str, Any]]:
    """Run the rounds in a fresh network namespace; their results."""
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "tests.realtime_session.kernel_faults", fault, str(seconds), str(rounds),
         transports], capture_output=True, text=True, timeout=timeout, check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"the fault run failed ({done.returncode}): {done.stderr[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def nft(*words: str) -> None:
    subprocess.run(["nft", *words], check=True)


class Held:
    def __init__(self, session: RealtimeSession) -> None:
        self.session = session
        self.drops: list[tuple[float, str]] = []
        session.events.add_callback(self.follow)

    def follow(self, event: SessionEvent) -> None:
        if isinstance(event, StateChanged) and event.state is SessionState.RECONNECTING and event.reason \
                and not event.reason.startswith("attempt "):
            self.drops.append((time.monotonic(), event.reason))


async def main(fault: str, seconds: float, rounds: int, transports: list[str]) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", "10.9.9.1/32", "dev", "lo"], check=True)  # aioice skips 127.0.0.1
    server = LocalRealtimeServer(ServerConfig(speech=False))
    await server.start()
    port = server.base_url.rsplit(":", 1)[1]
    nft("add", "table", "inet", TABLE)
    nft("add", "chain", "inet", TABLE, "input", "{", "type", "filter", "hook", "input", "priority", "0", ";", "}")
    held: dict[str, Held] = {}
    try:
        for transport in transports:
            session = RealtimeSession(
                SessionConfig.build(base_url=server.base_url, transport=transport, renew=True),
                secret_provider=DirectSecretProvider("sk-faults", base_url=server.base_url),
                registry=AudioRegistry(), input_source=SilenceSource(48_000, 1),
            )
            held[transport] = Held(session)
            await asyncio.wait_for(session.connect(), 30)
        rng = random.Random(26)
        drop = ["drop"] if fault == "cut" else ["numgen", "random", "mod", "100", "<", "20", "drop"]
        for round_ in range(rounds):
            await asyncio.sleep(rng.uniform(2.0, 3.0))  # every phase of the watch's polls and of TCP's timers
            watches = {t: h.session._transport.watch for t, h in held.items()}  # type: ignore[union-attr]
            for w in watches.values():
                w.longest = 0.0
            before = {t: len(h.drops) for t, h in held.items()}
            started = time.monotonic()
            rules = [f"add rule inet {TABLE} input {match} {' '.join(drop)}"
                     for match in (f"tcp dport {port}", f"tcp sport {port}", "meta l4proto udp")]
            subprocess.run(["nft", "-f", "-"], input="\n".join(rules), text=True, check=True)  # one transaction
            await asyncio.sleep(seconds)
            nft("flush", "chain", "inet", TABLE, "input")
            await asyncio.sleep(4.0)  # what the fault left behind: a late detection, a reconnection
            for transport, h in held.items():
                new = h.drops[before[transport]:]
                print(json.dumps({
                    "transport": transport, "fault": fault, "seconds": seconds, "round": round_,
                    "reconnected": bool(new), "reason": new[0][1] if new else None,
                    "noticed_after": round(new[0][0] - started, 3) if new else None,
                    "longest_silence": round(watches[transport].longest, 3),
                }), flush=True)
            for transport, h in held.items():  # let a reconnection finish, and last, before the next round
                deadline = time.monotonic() + 60
                while not h.session.connected and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                if not h.session.connected:
                    raise RuntimeError(f"{transport}: no reconnection within 60 s ({h.session.reason})")
            if any(len(h.drops) > before[t] for t, h in held.items()):
                # a connection that drops within 10 s of opening keeps the retry count (renewal.STABLE_SECONDS):
                # without this pause, round after round would count as one flapping link and be given up
                await asyncio.sleep(STABLE_SECONDS)
    finally:
        for h in held.values():
            await h.session.disconnect()
        await server.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]),
                     (sys.argv[4] if len(sys.argv) > 4 else "webrtc,websocket").split(",")))
