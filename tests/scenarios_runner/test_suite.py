"""Planning, sharding, parallel runs and pass rates, with runs made by a stand-in for the conversation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from audio.base.errors import VoxflowError
from flow.scenarios.conversation import RunPlan, RunSettings
from flow.scenarios.loader import ScenarioFile, load_scenarios
from flow.scenarios.results import Run, Scenario, Turn, wilson_interval
from flow.scenarios.suite import INTERRUPTED, Shard, SuiteRunner, holds, plan_runs, shard_runs
from flow.scenarios.summary import run_line, summary_lines

ROOT = Path(__file__).resolve().parents[2]


def scenario_file(tmp_path: Path, name: str = "s.yaml", scenarios: str = "") -> ScenarioFile:
    path = tmp_path / name
    path.write_text(f"version: 1\nflow: {ROOT / 'flows' / 'demo.yaml'}\nscenarios:\n" + (scenarios or """
  - {name: steady, repeat: 3, turns: [{say: hi}]}
  - {name: flaky, repeat: 5, pass_rate: 0.6, turns: [{say: hi}]}
"""))
    return load_scenarios(path)


class FakeConversations:
    """Makes runs like run_conversation does (same signature); 'flaky' fails its runs 2 and 4."""

    def __init__(self, hold: float = 0.01) -> None:
        self.hold = hold
        self.running = 0
        self.most = 0
        self.started: list[tuple[str, str, int]] = []

    async def __call__(self, plan: RunPlan, settings: RunSettings) -> Run:
        self.started.append(plan.key)
        self.running += 1
        self.most = max(self.most, self.running)
        try:
            await asyncio.sleep(self.hold)
        finally:
            self.running -= 1
        error = "turn 1: no reply within 30 s" if plan.scenario.name == "flaky" and plan.run in (2, 4) else None
        return Run(plan.scenario.name, plan.file.name, plan.run, plan.seed, turns=(Turn(1, "hi", latency_s=0.5 + plan.run / 10),),
                   error=error, duration_s=1.0)


def test_plans_repeat_each_scenario_and_seeds_differ_per_run(tmp_path: Path) -> None:
    plans = plan_runs([scenario_file(tmp_path)])
    assert [(p.scenario.name, p.run) for p in plans] == [("steady", 1), ("steady", 2), ("steady", 3)] + [
        ("flaky", n) for n in range(1, 6)]
    assert len({p.seed for p in plans}) == len(plans)
    assert [p.seed for p in plans] == [p.seed for p in plan_runs([scenario_file(tmp_path)])]
    assert len(plan_runs([scenario_file(tmp_path)], repeat=2)) == 4


def test_shards_partition_the_runs_stably(tmp_path: Path) -> None:
    files = [scenario_file(tmp_path), scenario_file(tmp_path, "t.yaml")]
    plans = plan_runs(files)
    for count in (1, 2, 3, 7, 20):
        slices = [shard_runs(plans, Shard(index, count)) for index in range(1, count + 1)]
        keys = [plan.key for part in slices for plan in part]
        assert sorted(keys) == sorted(plan.key for plan in plans) and len(keys) == len(set(keys))
        assert max(map(len, slices)) - min(map(len, slices)) <= 1  # balanced
    again = shard_runs(plan_runs(list(reversed(files))), Shard(2, 3))
    assert {p.key for p in again} == {p.key for p in shard_runs(plans, Shard(2, 3))}  # order of files does not matter


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0", ""])
def test_a_bad_shard_is_refused(text: str) -> None:
    with pytest.raises(VoxflowError, match=r"give K/N with 1 <= K <= N"):
        Shard.parse(text)
    assert str(Shard.parse("2/4")) == "2/4"


async def test_runs_go_n_at_a_time_and_the_verdicts_do_not_depend_on_n(tmp_path: Path) -> None:
    files = [scenario_file(tmp_path)]
    verdicts = []
    for jobs in (1, 3, 4):
        fake = FakeConversations()
        heard: list[str] = []
        runner = SuiteRunner(files, RunSettings(tmp_path, provider="openai"), jobs=jobs, run_one=fake,
                             on_run=lambda run, of: heard.append(run_line(run, of)))
        suite = await runner.run()
        assert fake.most == jobs and len(heard) == 8
        verdicts.append({(s.name, s.passes, len(s.runs), s.passed) for s in suite.scenarios})
        assert runner.verdict(suite) is True
        assert suite.jobs == jobs and suite.extra["planned_runs"][1] == {"file": files[0].name, "scenario": "flaky", "runs": 5}
    assert verdicts[0] == verdicts[1] == verdicts[2] == {("steady", 3, 3, True), ("flaky", 3, 5, True)}


async def test_a_shard_fails_a_scenario_only_when_its_own_failures_already_exceed_the_rate(tmp_path: Path) -> None:
    files = [scenario_file(tmp_path)]
    parts = []
    for index in (1, 2):
        runner = SuiteRunner(files, RunSettings(tmp_path, provider="openai"), shard=Shard(index, 2), run_one=FakeConversations())
        suite = await runner.run()
        parts.append((runner, suite))
    flaky = [next(s for s in suite.scenarios if s.name == "flaky") for _, suite in parts]
    assert sorted(len(s.runs) for s in flaky) == [2, 3] and sum(s.passes for s in flaky) == 3
    for runner, suite in parts:
        assert runner.verdict(suite) is True  # 2 failures of 5 are allowed at 0.6
    strict = Scenario("strict", "s.yaml", 0.8, tuple(Run("strict", "s.yaml", n, 0, error="x" if n < 3 else None)
                                                       for n in (1, 2, 3)))
    assert holds(strict, planned=5) is False  # 2 failures, only 1 allowed of 5 at 0.8
    assert holds(Scenario("ok", "s.yaml", 0.8, strict.runs[1:]), planned=5) is True
    assert holds(strict, planned=3) is strict.passed is False


async def test_an_interrupt_closes_the_runs_in_flight_and_keeps_the_finished_ones(tmp_path: Path) -> None:
    fake = FakeConversations(hold=0.2)
    file = scenario_file(tmp_path, scenarios="""
  - {name: steady, repeat: 3, turns: [{say: hi}]}
  - {name: flaky, repeat: 5, pass_rate: 0.6, turns: [{say: hi}]}
  - {name: never started, turns: [{say: hi}]}
""")
    runner = SuiteRunner([file], RunSettings(tmp_path, provider="openai"), jobs=2, run_one=fake)
    running = asyncio.ensure_future(runner.run())
    while len(fake.started) < 3:
        await asyncio.sleep(0.01)
    runner.interrupt()
    suite = await asyncio.wait_for(running, 5)
    runs = [run for scenario in suite.scenarios for run in scenario.runs]
    assert len(fake.started) == 4  # nothing new started after the interrupt
    assert sum(run.error == INTERRUPTED for run in runs) == 2 and len(runs) == 4
    assert all(run.duration_s > 0 for run in runs)  # an interrupted run lasted until it was cut
    assert suite.extra["interrupted"] is True and runner.verdict(suite) is False
    # no scenario passes with runs missing, not even one that never started (0 failures of its 0 runs)
    assert [(s.name, len(s.runs), runner.holds(s)) for s in suite.scenarios] == [
        ("steady", 3, False), ("flaky", 1, False), ("never started", 0, False)]
    assert [line.split()[0] for line in summary_lines(suite, {(s.file, s.name): runner.holds(s) for s in suite.scenarios})[:3]] \
        == ["FAIL", "FAIL", "FAIL"]


def test_pass_rates_and_their_wilson_interval() -> None:
    runs = tuple(Run("s", "f", n, 0, error=None if n <= 4 else "x") for n in range(1, 6))
    scenario = Scenario("s", "f", 0.8, runs)
    assert (scenario.passes, scenario.rate, scenario.passed) == (4, 0.8, True)
    assert not Scenario("s", "f", 0.81, runs).passed and not Scenario("s", "f", 0.5, ()).passed
    low, high = scenario.interval
    assert (round(low, 3), round(high, 3)) == (0.376, 0.964)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == pytest.approx(1.0)


async def test_the_summary_gives_each_rate_with_its_interval(tmp_path: Path) -> None:
    runner = SuiteRunner([scenario_file(tmp_path)], RunSettings(tmp_path, provider="openai"), run_one=FakeConversations())
    suite = await runner.run()
    lines = summary_lines(suite, {(s.file, s.name): s.passed for s in suite.scenarios})
    name = str(tmp_path / "s.yaml")
    assert lines[0] == f"PASS  steady ({name}): 3/3 passed, 100% (95 % CI 44%-100%), needs 100%; turn latency p50 0.70 s, p95 0.80 s"
    assert lines[1] == f"PASS  flaky ({name}): 3/5 passed, 60% (95 % CI 23%-88%), needs 60%; turn latency p50 0.80 s, p95 1.00 s"
    assert lines[2].startswith("2 scenario(s), 8 run(s) in ") and lines[2].endswith(
        ": 6 passed, 2 failed; every scenario meets its pass rate")
    failed = next(run for run in suite.scenarios[1].runs if run.error)
    assert run_line(failed, 5) == "FAIL  flaky  run 2/5  1.0 s  latency 0.70 s  - turn 1: no reply within 30 s"
