"""Real network faults for a session: nftables rules in a private network namespace (root, ``nft``, ``unshare``).

User-space impairment (``audio/transports/impairment.py``) models a lossy
UDP link well, but not TCP: its retransmission backoff and its kernel
acknowledgments are what a WebSocket watch meets on a real bad network. So
this runs the local server and a session inside ``unshare -n`` (only ``lo``,
nothing shared with the machine's other processes) and drops packets with
nftables: ``cut`` drops everything between them for SECONDS, ``loss`` drops
each packet with 20 % probability for SECONDS. A step may hit one transport's
packets only (WebRTC's UDP, the WebSocket's TCP), so one run can check a cut
that one transport rides through and then one that both must notice. After a
fault a step ends as soon as each session hit has either dropped or heard its
peer again (then that fault can no longer be what drops it). Each step prints
one JSON line per transport hit (transport, fault, whether the session
reconnected and why, the longest silence the watch counted, when it noticed,
measured from the fault's start).

Run: unshare -n python -m tests.realtime_session.kernel_faults cut|loss SECONDS ROUNDS [TRANSPORTS]
  or unshare -n python -m tests.realtime_session.kernel_faults steps FAULT:SECONDS:TRANSPORTS...
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
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Step:
    """One fault: ``cut`` or ``loss`` for ``seconds``, on the packets of ``transports`` (a subset of the sessions)."""

    fault: str
    seconds: float
    transports: tuple[str, ...] = ("webrtc", "websocket")

    @property
    def word(self) -> str:
        return f"{self.fault}:{self.seconds:g}:{','.join(self.transports)}"

    @classmethod
    def parse(cls, word: str) -> Step:
        fault, seconds, transports = word.split(":")
        return cls(fault, float(seconds), tuple(transports.split(",")))


def run_in_namespace(fault: str, seconds: float, rounds: int, transports: str = "webrtc,websocket",
                     timeout: float = 600) -> list[dict[str, Any]]:
    """Run the rounds in a fresh network namespace; their results."""
    return run_plan([Step(fault, seconds, tuple(transports.split(",")))] * rounds, timeout)


def run_steps(steps: list[Step], timeout: float = 600) -> list[list[dict[str, Any]]]:
    """Run the steps, in order, in one fresh network namespace; each step's results."""
    results = run_plan(steps, timeout)
    return [[r for r in results if r["round"] == index] for index in range(len(steps))]


def run_plan(steps: list[Step], timeout: float) -> list[dict[str, Any]]:
    """The JSON lines of all the steps, run in order in one fresh network namespace."""
    done = subprocess.run(
        ["unshare", "-n", sys.executable, "-m", "tests.realtime_session.kernel_faults", "steps",
         *(step.word for step in steps)], capture_output=True, text=True, timeout=timeout, check=False,
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


AFTERMATH = 15.0
"""How long after a fault a session hit may take to drop or to hear its peer again (TCP's backoff after a 6 s
cut: its next retransmission comes up to 6 s later, and the watch's 6.5 s deadline for a lossy link)."""


def rules(step: Step, port: str) -> list[str]:
    drop = "drop" if step.fault == "cut" else "numgen random mod 100 < 20 drop"
    matches = ([f"tcp dport {port}", f"tcp sport {port}"] if "websocket" in step.transports else []) + \
              (["meta l4proto udp"] if "webrtc" in step.transports else [])
    return [f"add rule inet {TABLE} input {match} {drop}" for match in matches]


async def main(steps: list[Step]) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", "10.9.9.1/32", "dev", "lo"], check=True)  # aioice skips 127.0.0.1
    server = LocalRealtimeServer(ServerConfig(speech=False))
    await server.start()
    port = server.base_url.rsplit(":", 1)[1]
    nft("add", "table", "inet", TABLE)
    nft("add", "chain", "inet", TABLE, "input", "{", "type", "filter", "hook", "input", "priority", "0", ";", "}")
    held: dict[str, Held] = {}
    try:
        for transport in dict.fromkeys(t for step in steps for t in step.transports):
            session = RealtimeSession(
                SessionConfig.build(base_url=server.base_url, transport=transport, renew=True),
                secret_provider=DirectSecretProvider("sk-faults", base_url=server.base_url),
                registry=AudioRegistry(), input_source=SilenceSource(48_000, 1),
            )
            held[transport] = Held(session)
            await asyncio.wait_for(session.connect(), 30)
        rng = random.Random(26)
        for index, step in enumerate(steps):
            await asyncio.sleep(rng.uniform(2.0, 3.0))  # every phase of the watch's polls and of TCP's timers
            hit = {t: held[t] for t in step.transports}
            watches = {t: h.session._transport.watch for t, h in hit.items()}  # type: ignore[union-attr]
            for w in watches.values():
                w.longest = 0.0
            before = {t: len(h.drops) for t, h in hit.items()}
            started = time.monotonic()
            subprocess.run(["nft", "-f", "-"], input="\n".join(rules(step, port)), text=True, check=True)  # one transaction
            await asyncio.sleep(step.seconds)  # the fault lasts this long: a duration, not a wait for an event
            nft("flush", "chain", "inet", TABLE, "input")
            silent = {t: w.silent for t, w in watches.items()}

            def settled(t: str) -> bool:  # dropped, or heard again (its silence restarted): the fault's effect is known
                return len(hit[t].drops) > before[t] or watches[t].silent < silent[t] or watches[t].silent == 0.0

            deadline = time.monotonic() + AFTERMATH
            while not all(settled(t) for t in hit) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            for transport, h in hit.items():
                new = h.drops[before[transport]:]
                print(json.dumps({
                    "transport": transport, "fault": step.fault, "seconds": step.seconds, "round": index,
                    "reconnected": bool(new), "reason": new[0][1] if new else None,
                    "noticed_after": round(new[0][0] - started, 3) if new else None,
                    "longest_silence": round(watches[transport].longest, 3),
                    "settled": settled(transport),
                }), flush=True)
            for transport, h in hit.items():  # let a reconnection finish, and last, before the next step
                deadline = time.monotonic() + 60
                while not h.session.connected and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                if not h.session.connected:
                    raise RuntimeError(f"{transport}: no reconnection within 60 s ({h.session.reason})")
            if index + 1 < len(steps) and any(len(h.drops) > before[t] for t, h in hit.items()):
                # a connection that drops within 10 s of opening keeps the retry count (renewal.STABLE_SECONDS):
                # without this pause, round after round would count as one flapping link and be given up
                await asyncio.sleep(STABLE_SECONDS)
    finally:
        for h in held.values():
            await h.session.disconnect()
        await server.stop()


if __name__ == "__main__":
    logging.basicConfig(level=logging.ERROR)
    if sys.argv[1] == "steps":
        plan = [Step.parse(word) for word in sys.argv[2:]]
    else:
        plan = [Step(sys.argv[1], float(sys.argv[2]), tuple((sys.argv[4] if len(sys.argv) > 4 else
                                                              "webrtc,websocket").split(",")))] * int(sys.argv[3])
    asyncio.run(main(plan))
