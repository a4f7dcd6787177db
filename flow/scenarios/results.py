"""What a scenario run found, as plain data: the one shape every report reads.

The runner fills it; JUnit, HTML and ``--json`` only render it, and ``voxflow test merge``
reads it back from the shards' JSON. Keeping it free of behaviour lets the reports be
tested on hand-built results, without running a conversation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Check:
    """One assertion on one turn: what was expected, what came, and where in the recording."""

    kind: str  # reply, reply_not, tool, no_tool, within, transcript, interrupted, yielded, judge, goal
    passed: bool
    expected: str
    actual: str
    at_s: float | None = None  # seconds into the run's recording where the evidence is
    deterministic: bool = True  # False for ``judge``: reported apart from the deterministic checks
    reason: str = ""  # the judge's reason, or why a check could not be made


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]
    output: str
    stubbed: bool = False


@dataclass(frozen=True)
class Turn:
    """One caller turn and the assistant's answer to it. Times are seconds on the recording's clock."""

    index: int  # 1-based
    said: str  # the caller's text, or the file it played
    heard: str = ""  # what the service transcribed of the caller
    reply: str = ""
    interrupted: bool = False
    yielded: bool | None = None  # the agent stopped talking over a backchannel; None when none was played
    caller_start_s: float | None = None
    caller_end_s: float | None = None
    reply_start_s: float | None = None
    reply_end_s: float | None = None
    latency_s: float | None = None  # end of the caller's speech -> first reply audio, from the recording
    latency_events_s: float | None = None  # the same from the session's events (end of speech as the service saw it)
    talk_over_s: float | None = None  # caller and assistant audible at once, this turn to the next, from the recording
    tool_calls: tuple[ToolCall, ...] = ()
    checks: tuple[Check, ...] = ()

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks if check.deterministic)


@dataclass(frozen=True)
class Run:
    """One conversation: a scenario's ``run``-th repeat."""

    scenario: str
    file: str  # the scenario file, as given on the command line
    run: int  # 1-based
    seed: int
    turns: tuple[Turn, ...] = ()
    error: str | None = None  # one line: the session died, a turn was lost, the input was invalid...
    duration_s: float = 0.0
    recording: str | None = None  # stereo WAV: caller left, assistant right, one clock
    transcript: tuple[dict[str, Any], ...] = ()  # the run's transcript entries, as the JSONL transcript has them

    @property
    def passed(self) -> bool:
        return self.error is None and all(turn.passed for turn in self.turns)

    @property
    def first_failure(self) -> str | None:
        """One line naming the turn, what was expected and what came, with a timestamp into the recording."""
        if self.error is not None:
            return self.error
        for turn in self.turns:
            for check in turn.checks:
                if check.deterministic and not check.passed:
                    at = f" at {check.at_s:.2f}s" if check.at_s is not None else ""
                    reason = f" ({check.reason})" if check.reason else ""
                    return (f"{self.scenario} run {self.run} turn {turn.index}: {check.kind} expected "
                            f"{check.expected}, got {check.actual}{at}{reason}")
        return None


@dataclass(frozen=True)
class Scenario:
    """A scenario's runs against its pass rate."""

    name: str
    file: str
    pass_rate: float
    runs: tuple[Run, ...] = ()

    @property
    def passes(self) -> int:
        return sum(run.passed for run in self.runs)

    @property
    def rate(self) -> float:
        return self.passes / len(self.runs) if self.runs else 0.0

    @property
    def passed(self) -> bool:
        return bool(self.runs) and self.passes >= math.ceil(self.pass_rate * len(self.runs) - 1e-9)

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.passes, len(self.runs))


@dataclass(frozen=True)
class Suite:
    """Everything one ``voxflow test`` invocation (or one shard of it) ran."""

    scenarios: tuple[Scenario, ...] = ()
    provider: str = "local"
    transport: str = "webrtc"
    jobs: int = 1
    shard: str | None = None  # "K/N"
    started_at: str = ""  # ISO 8601, UTC
    duration_s: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(scenario.passed for scenario in self.scenarios)

    def to_json(self) -> dict[str, Any]:
        return {"schema": SCHEMA_VERSION, **asdict(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Suite:
        data = {key: value for key, value in data.items() if key != "schema"}
        scenarios = tuple(
            Scenario(**{**scenario, "runs": tuple(_run(run) for run in scenario["runs"])})
            for scenario in data.pop("scenarios", ()))
        return cls(scenarios=scenarios, **data)


def _run(data: dict[str, Any]) -> Run:
    turns = tuple(
        Turn(**{**turn,
                "tool_calls": tuple(ToolCall(**call) for call in turn.get("tool_calls", ())),
                "checks": tuple(Check(**check) for check in turn.get("checks", ()))})
        for turn in data.get("turns", ()))
    return Run(**{**data, "turns": turns, "transcript": tuple(data.get("transcript", ()))})


def wilson_interval(passes: int, runs: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """The 95 % Wilson score interval of a pass rate: honest at 0/n and n/n, unlike p ± z·se."""
    if runs <= 0:
        return (0.0, 1.0)
    p = passes / runs
    denominator = 1 + z * z / runs
    centre = (p + z * z / (2 * runs)) / denominator
    half = z * math.sqrt(p * (1 - p) / runs + z * z / (4 * runs * runs)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))
