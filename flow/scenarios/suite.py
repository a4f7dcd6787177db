"""A ``voxflow test`` invocation: which runs to make (repeats, a shard), N at a time, into one :class:`Suite`.

Every run is planned up front from the files (a scenario's ``repeat``, or
``--repeat``), each with its own seed, so the plan, and with it a shard, is
the same on every machine: ``--shard K/N`` keeps the runs whose place in the
plan sorted by (file, scenario, run) is K modulo N, a balanced slice, and the
N shards partition the runs. Runs go ``jobs`` at a time in this process's
event loop against the shared local servers (one per rule script, started
before the first run so no run pays for loading speech). :meth:`SuiteRunner.interrupt`
stops scheduling, cancels the runs in flight (each closes its flow) and
leaves a partial suite.

A scenario passes when at least ``pass_rate`` of its runs pass. A shard holds
only some of a scenario's runs, so it fails the scenario only when its own
failures already exceed what the pass rate allows of all the planned runs
(:func:`holds`); ``voxflow test merge`` judges the whole.
"""

from __future__ import annotations

import asyncio
import datetime
import math
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from audio.base.errors import VoxflowError
from flow.scenarios.conversation import RunPlan, RunSettings, run_conversation
from flow.scenarios.harness import LocalServers
from flow.scenarios.loader import ScenarioFile
from flow.scenarios.results import Run, Scenario, Suite
from flow.scenarios.script import run_seed

INTERRUPTED = "interrupted before it finished"

RunOne = Callable[[RunPlan, RunSettings], Awaitable[Run]]


@dataclass(frozen=True)
class Shard:
    index: int  # 1-based
    count: int

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``K/N`` with 1 <= K <= N."""
        index, slash, count = text.partition("/")
        if slash and index.strip().isdigit() and count.strip().isdigit():
            shard = cls(int(index), int(count))
            if 1 <= shard.index <= shard.count:
                return shard
        raise VoxflowError(f"--shard {text!r}: give K/N with 1 <= K <= N, e.g. --shard 1/4")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def plan_runs(files: list[ScenarioFile], repeat: int | None = None) -> list[RunPlan]:
    """Every run of every scenario, in file order (``repeat`` overrides each scenario's)."""
    plans = []
    for file in files:
        for scenario in file.spec.scenarios:
            for run in range(1, (repeat or scenario.repeat) + 1):
                plans.append(RunPlan(file, scenario, run, run_seed(file.spec.seed, scenario, run)))
    return plans


def shard_runs(plans: list[RunPlan], shard: Shard | None) -> list[RunPlan]:
    """The runs of ``shard`` (all without one), in plan order."""
    if shard is None:
        return list(plans)
    ordered = sorted(plans, key=lambda plan: plan.key)
    chosen = {plan.key for place, plan in enumerate(ordered) if place % shard.count == shard.index - 1}
    return [plan for plan in plans if plan.key in chosen]


def holds(scenario: Scenario, planned: int) -> bool:
    """The verdict on ``scenario`` from its runs here, of ``planned`` runs in all (see the module docstring)."""
    if len(scenario.runs) >= planned:
        return scenario.passed
    allowed = planned - math.ceil(scenario.pass_rate * planned - 1e-9)
    return len(scenario.runs) - scenario.passes <= allowed


@dataclass
class SuiteRunner:
    """Runs the planned runs of ``files``; ``on_run`` hears of each finished run as it finishes."""

    files: list[ScenarioFile]
    settings: RunSettings
    jobs: int = 1
    repeat: int | None = None
    shard: Shard | None = None
    on_run: Callable[[Run, int], None] | None = None  # (run, how many runs its scenario has in this plan)
    run_one: RunOne = run_conversation
    interrupted: bool = False
    planned: dict[tuple[str, str], int] = field(default_factory=dict)  # (file, scenario) -> runs in the whole plan
    in_shard: dict[tuple[str, str], int] = field(default_factory=dict)  # (file, scenario) -> runs this invocation makes
    _tasks: set[asyncio.Task[Run]] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.jobs < 1:
            raise VoxflowError(f"-j {self.jobs}: run at least one conversation at a time")

    def plans(self) -> list[RunPlan]:
        everything = plan_runs(self.files, self.repeat)
        mine = shard_runs(everything, self.shard)
        self.planned = dict(Counter((plan.file.name, plan.scenario.name) for plan in everything))
        self.in_shard = dict(Counter((plan.file.name, plan.scenario.name) for plan in mine))
        return mine

    async def run(self) -> Suite:
        started_at = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        loop = asyncio.get_running_loop()
        began = loop.time()
        plans = self.plans()
        owns_servers = self.settings.provider == "local" and self.settings.servers is None
        if owns_servers:
            self.settings.servers = LocalServers()
        runs: dict[tuple[str, str, int], Run] = {}
        try:
            if self.settings.servers is not None and self.settings.provider == "local":
                for file in (file for file in self.files if any(plan.file is file for plan in plans)):
                    # up front: loading speech is not any run's latency
                    await self.settings.servers.url_for(file.flow)
            gate = asyncio.Semaphore(self.jobs)

            async def one(plan: RunPlan) -> None:
                async with gate:
                    if self.interrupted:
                        return
                    task = asyncio.ensure_future(self.run_one(plan, self.settings))
                    run_started = loop.time()
                    self._tasks.add(task)
                    try:
                        run = await task
                    except asyncio.CancelledError:
                        if not self.interrupted:
                            raise
                        run = Run(plan.scenario.name, plan.file.name, plan.run, plan.seed, error=INTERRUPTED,
                                  duration_s=round(loop.time() - run_started, 3))
                    finally:
                        self._tasks.discard(task)
                    runs[plan.key] = run
                    if self.on_run is not None:
                        self.on_run(run, self.planned[(plan.file.name, plan.scenario.name)])

            await asyncio.gather(*(one(plan) for plan in plans))
        finally:
            if owns_servers and self.settings.servers is not None:
                await self.settings.servers.close()
                self.settings.servers = None
        return self._suite(plans, runs, started_at, loop.time() - began)

    def interrupt(self) -> None:
        """Ctrl-C or SIGTERM: start nothing more, cancel the runs in flight (each closes its flow first)."""
        self.interrupted = True
        for task in list(self._tasks):
            task.cancel()

    def _suite(self, plans: list[RunPlan], runs: dict[tuple[str, str, int], Run], started_at: str,
               duration: float) -> Suite:
        scenarios = []
        for file in self.files:
            for spec in file.spec.scenarios:
                done = tuple(runs[plan.key] for plan in plans
                             if plan.file is file and plan.scenario is spec and plan.key in runs)
                if done or self.shard is None:
                    scenarios.append(Scenario(spec.name, file.name, spec.pass_rate, done))
        extra: dict[str, Any] = {
            "scenarios": [[file.name, spec.name] for file in self.files for spec in file.spec.scenarios],  # merge's order
            "planned_runs": [{"file": file, "scenario": name, "runs": count} for (file, name), count in self.planned.items()],
        }
        if self.interrupted:
            extra["interrupted"] = True
        return Suite(scenarios=tuple(scenarios), provider=self.settings.provider,
                     transport=self.settings.transport or "flow default", jobs=self.jobs,
                     shard=str(self.shard) if self.shard is not None else None, started_at=started_at,
                     duration_s=round(duration, 3), extra=extra)

    def holds(self, scenario: Scenario) -> bool:
        """The verdict on one scenario of this invocation's suite (:func:`holds`, over its planned runs).

        Interrupted, a scenario whose runs did not all finish has no pass to its name: it fails,
        as the JUnit and HTML reports show it.
        """
        key = (scenario.file, scenario.name)
        if self.interrupted and (len(scenario.runs) < self.in_shard.get(key, 0)
                                 or any(run.error == INTERRUPTED for run in scenario.runs)):
            return False
        return holds(scenario, self.planned.get(key, len(scenario.runs)))

    def verdict(self, suite: Suite) -> bool:
        """Every scenario meets its pass rate (a shard: none has failed beyond what the pass rate allows)."""
        if self.interrupted:
            return False
        return all(self.holds(scenario) for scenario in suite.scenarios)
