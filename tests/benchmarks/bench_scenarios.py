"""Benchmark: ``voxflow test -j N``: up to which N does turn latency stay within 10 % of N=1?

Run: python tests/benchmarks/bench_scenarios.py [--jobs 1 2 3 4] [--rounds 2] [--transport webrtc]

For each N, N copies of a two-turn scenario against the demo flow (the local
server repeats what it heard) run at once, ``--rounds`` times over, in one
process against one shared local server, exactly as ``voxflow test -j N
--repeat N*rounds`` runs them. Turn latency is read off each run's recording
(end of the caller's speech -> first audible reply), so it is what a caller
on the line would measure, including the reply's queueing behind other calls
(one Whisper worker per two cores, one event loop). Prints p50/p95 latency per
N and its change from N=1, and the load average around each N (the machine
is shared: compare N on one run of this script, not across days).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from flow.scenarios.conversation import RunSettings  # noqa: E402
from flow.scenarios.harness import LocalServers  # noqa: E402
from flow.scenarios.loader import load_scenarios  # noqa: E402
from flow.scenarios.suite import SuiteRunner  # noqa: E402
from flow.scenarios.summary import percentile  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = f"""version: 1
flow: {ROOT / 'flows' / 'demo.yaml'}
caller: {{pause: 0.6s}}
scenarios:
  - name: two turns
    turns:
      - say: "Hello, can you hear me?"
        expect: {{reply: "(?i)hear me"}}
      - say: "What a lovely day it is."
        expect: {{reply: "(?i)lovely"}}
"""


async def measure(jobs: int, rounds: int, folder: Path, transport: str | None, servers: LocalServers) -> dict[str, float]:
    path = folder / "bench.yaml"
    path.write_text(SCENARIO)
    file = load_scenarios(path)
    settings = RunSettings(folder / f"j{jobs}", transport=transport, servers=servers)
    load_before = os.getloadavg()[0]
    began = time.monotonic()
    suite = await SuiteRunner([file], settings, jobs=jobs, repeat=jobs * rounds).run()
    wall = time.monotonic() - began
    runs = [run for scenario in suite.scenarios for run in scenario.runs]
    latencies = [turn.latency_s for run in runs for turn in run.turns if turn.latency_s is not None]
    failed = sum(not run.passed for run in runs)
    return {"p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95), "mean": statistics.mean(latencies),
            "turns": len(latencies), "failed": failed, "wall": wall, "load": (load_before + os.getloadavg()[0]) / 2}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, nargs="+", default=[1, 2, 3, 4])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--transport", choices=["webrtc", "websocket"], default=None)
    args = parser.parse_args()
    servers = LocalServers()
    results: dict[int, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scenarios-") as folder:
        try:
            await servers.url_for(load_scenarios(_write(Path(folder))).flow)  # speech loaded before N=1 is timed
            for jobs in args.jobs:
                results[jobs] = await measure(jobs, args.rounds, Path(folder), args.transport, servers)
                row = results[jobs]
                print(f"N={jobs}: {row['turns']:.0f} turns, p50 {row['p50']:.2f} s, p95 {row['p95']:.2f} s, "
                      f"mean {row['mean']:.2f} s, {row['failed']:.0f} failed runs, {row['wall']:.0f} s wall, "
                      f"load {row['load']:.1f}", flush=True)
        finally:
            await servers.close()
    base = results[min(results)]
    print("\n| N | turns | p50 latency | p95 latency | p50 vs N=1 | failed runs | wall | load average |")
    print("|---|---|---|---|---|---|---|---|")
    within = min(results)
    for jobs, row in sorted(results.items()):
        change = row["p50"] / base["p50"] - 1
        if change <= 0.10 and within == jobs - 1:
            within = jobs
        print(f"| {jobs} | {row['turns']:.0f} | {row['p50']:.2f} s | {row['p95']:.2f} s | {change:+.0%} | "
              f"{row['failed']:.0f} | {row['wall']:.0f} s | {row['load']:.1f} |")
    print(f"\nturn latency (p50) stays within 10 % of N=1 up to N={within}")


def _write(folder: Path) -> Path:
    path = folder / "bench.yaml"
    path.write_text(SCENARIO)
    return path


if __name__ == "__main__":
    asyncio.run(main())
