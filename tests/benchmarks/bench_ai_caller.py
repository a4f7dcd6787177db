"""Benchmark: the AI caller against the local server: how long it takes to answer, and how often it gets its goal.

Run: python tests/benchmarks/bench_ai_caller.py [--repeat 5] [--transport webrtc]

Runs the shipped example's first scenario (tests/scenarios/ai-caller.yaml: an AI caller played
by a rule script asks the tools flow for the weather in Paris and hangs up when it hears it)
``--repeat`` times, one call at a time. Prints, from the recordings: the caller's answer time
(the agent's last reply audio -> the caller's next words: the pause, the key's tail, the
caller's server recognising what it heard and streaming its answer), the agent's turn latency,
turns per call, call length and the share of calls whose goal was met.
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
from flow.scenarios.loader import load_scenarios  # noqa: E402
from flow.scenarios.suite import SuiteRunner  # noqa: E402
from flow.scenarios.summary import percentile  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "tests" / "scenarios" / "ai-caller.yaml"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--transport", choices=["webrtc", "websocket"], default=None)
    args = parser.parse_args()
    file = load_scenarios(EXAMPLE)
    scenario = file.spec.scenarios[0]
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="bench-ai-caller-") as folder:
        runner = SuiteRunner([file], RunSettings(Path(folder), transport=args.transport), repeat=args.repeat)
        began = time.monotonic()
        suite = await runner.run()
        wall = time.monotonic() - began
    runs = next(s for s in suite.scenarios if s.name == scenario.name).runs
    answers = [following.caller_start_s - turn.reply_end_s for run in runs
               for turn, following in zip(run.turns, run.turns[1:], strict=False)
               if turn.reply_end_s is not None and following.caller_start_s is not None]
    latencies = [turn.latency_s for run in runs for turn in run.turns if turn.latency_s is not None]
    met = sum(any(check.kind == "goal" and check.passed for turn in run.turns for check in turn.checks) for run in runs)
    print(f"{len(runs)} calls ({wall:.0f} s wall for the whole suite, load {(load_before + os.getloadavg()[0]) / 2:.1f}), "
          f"goal met in {met}, errors: {sum(run.error is not None for run in runs)}")
    print(f"caller's answer time: p50 {percentile(answers, 0.5):.2f} s, p95 {percentile(answers, 0.95):.2f} s "
          f"({len(answers)} answers)")
    print(f"agent's turn latency: p50 {percentile(latencies, 0.5):.2f} s, p95 {percentile(latencies, 0.95):.2f} s")
    print(f"turns per call: {statistics.mean(len(run.turns) for run in runs):.1f}; "
          f"call length: p50 {percentile([run.duration_s for run in runs], 0.5):.1f} s")


if __name__ == "__main__":
    asyncio.run(main())
