"""Turn latency across a scenario's runs: p50, p90 and max for each turn index.

The agent's words differ from run to run, so one run's latency says little; the spread over
the repeats of the same turn does. Percentiles interpolate linearly between ranks (numpy's
default), so two runs give a p50 halfway between them and never invent a value outside the
measured ones.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from flow.scenarios.results import Scenario


@dataclass(frozen=True)
class TurnLatency:
    """One turn index's latencies (end of the caller's speech -> first reply audio), in seconds."""

    turn: int  # 1-based
    count: int  # runs that measured this turn
    p50: float
    p90: float
    max: float


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values``, interpolated linearly between ranks."""
    if not values:
        raise ValueError("percentile of no values")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def turn_latencies(scenario: Scenario) -> list[TurnLatency]:
    """Per turn index (in order), the percentiles over the runs that measured that turn."""
    by_turn: dict[int, list[float]] = {}
    for run in scenario.runs:
        for turn in run.turns:
            if turn.latency_s is not None:
                by_turn.setdefault(turn.index, []).append(turn.latency_s)
    return [TurnLatency(index, len(values), percentile(values, 50), percentile(values, 90), max(values))
            for index, values in sorted(by_turn.items())]
