"""The lines ``voxflow test`` prints: one per run as it finishes, and a summary per scenario.

Kept apart from the command so the words are tested without a terminal, and
so a shard and a merge print their results alike. Rates come with their 95 %
Wilson interval: 4 of 5 passing says little, and the interval shows how little.
"""

from __future__ import annotations

import math
import statistics

from flow.scenarios.results import Run, Scenario, Suite


def run_line(run: Run, of: int) -> str:
    """``PASS  weather in Paris  run 2/5  9.8 s`` or ``FAIL ... - <the first failure>``."""
    head = f"{'PASS' if run.passed else 'FAIL'}  {run.scenario}  run {run.run}/{of}  {run.duration_s:.1f} s"
    latencies = [turn.latency_s for turn in run.turns if turn.latency_s is not None]
    if latencies:
        head += f"  latency {statistics.median(latencies):.2f} s"
    return head if run.passed else f"{head}  - {run.first_failure}"


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (``share`` 0..1) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


def scenario_line(scenario: Scenario, verdict: bool) -> str:
    low, high = scenario.interval
    line = (f"{'PASS' if verdict else 'FAIL'}  {scenario.name} ({scenario.file}): {scenario.passes}/{len(scenario.runs)} "
            f"passed, {scenario.rate:.0%} (95 % CI {low:.0%}-{high:.0%}), needs {scenario.pass_rate:.0%}")
    latencies = [turn.latency_s for run in scenario.runs for turn in run.turns if turn.latency_s is not None]
    if latencies:
        line += f"; turn latency p50 {percentile(latencies, 0.5):.2f} s, p95 {percentile(latencies, 0.95):.2f} s"
    return line


def summary_lines(suite: Suite, verdicts: dict[tuple[str, str], bool]) -> list[str]:
    """A line per scenario and a total (``verdicts``: (file, scenario) -> passed)."""
    lines = [scenario_line(scenario, verdicts[(scenario.file, scenario.name)]) for scenario in suite.scenarios]
    runs = [run for scenario in suite.scenarios for run in scenario.runs]
    failed = sum(not verdict for verdict in verdicts.values())
    shard = f" (shard {suite.shard})" if suite.shard else ""
    lines.append(f"{len(suite.scenarios)} scenario(s){shard}, {len(runs)} run(s) in {suite.duration_s:.1f} s: "
                 f"{sum(run.passed for run in runs)} passed, {sum(not run.passed for run in runs)} failed; "
                 + ("no scenario ran" if not suite.scenarios else "every scenario meets its pass rate" if not failed
                    else f"{failed} scenario(s) below their pass rate"))
    return lines
