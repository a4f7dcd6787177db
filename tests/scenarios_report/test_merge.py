"""``voxflow test merge``: shards' ``--json`` files, merged, equal the unsharded run; anything else is refused in one line."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from audio.base.errors import VoxflowError
from flow.scenarios.html_report import html_report
from flow.scenarios.junit import junit_xml
from flow.scenarios.merge import merge, merge_files
from flow.scenarios.results import Scenario, Suite
from tests.scenarios_report.suites import suite

ORDER = [["weather.yaml", "weather in Paris"], ["barge.yaml", "barge in"], ["weather.yaml", "goodbye"]]


def unsharded() -> Suite:
    return suite(extra={"scenarios": ORDER}, duration_s=30.0)


def shards(whole: Suite, count: int) -> list[Suite]:
    """A slice per shard: the selection's runs dealt out in turn (so one scenario's runs land in several shards)."""
    slices: list[list[Scenario]] = [[] for _ in range(count)]
    position = 0
    for scenario in whole.scenarios:
        dealt: list[list] = [[] for _ in range(count)]
        for run in scenario.runs:
            dealt[position % count].append(run)
            position += 1
        for index, runs in enumerate(dealt):
            if runs:
                slices[index].append(replace(scenario, runs=tuple(runs)))
    return [replace(whole, scenarios=tuple(parts), shard=f"{index + 1}/{count}", duration_s=30.0 - index,
                    started_at=f"2026-12-07T14:00:0{index}Z") for index, parts in enumerate(slices)]


def write(tmp_path: Path, suites: list[Suite]) -> list[Path]:
    paths = []
    for index, part in enumerate(suites, start=1):
        path = tmp_path / f"shard-{index}.json"
        path.write_text(json.dumps(part.to_json()), encoding="utf-8")
        paths.append(path)
    return paths


@pytest.mark.parametrize("count", [2, 3])
def test_merged_shards_equal_the_unsharded_run(tmp_path: Path, count: int) -> None:
    whole = unsharded()
    parts = shards(whole, count)
    assert any(part.scenarios != whole.scenarios for part in parts)
    paths = write(tmp_path, list(reversed(parts)))  # the order the files are given in does not matter
    merged = merge_files(paths)
    expected = Suite.from_json(json.loads(json.dumps(whole.to_json())))  # the unsharded run, as its --json holds it
    assert merged == expected
    assert merged.passed is False and [s.passed for s in merged.scenarios] == [True, False, False]
    assert junit_xml(merged) == junit_xml(expected) and html_report(merged) == html_report(expected)


def test_without_the_selection_order_scenarios_come_in_first_appearance() -> None:
    whole = suite()
    parts = shards(whole, 2)
    merged = merge(parts)
    assert [scenario.name for scenario in merged.scenarios] == ["weather in Paris", "barge in", "goodbye"]
    assert [run.run for run in merged.scenarios[0].runs] == [1, 2, 3, 4, 5]
    assert merged.scenarios == whole.scenarios
    assert merged.shard is None and merged.started_at == "2026-12-07T14:00:00Z" and merged.duration_s == 30.0


def test_the_selection_order_puts_scenarios_back_where_the_unsharded_run_had_them() -> None:
    whole = unsharded()
    weather, barge, goodbye = whole.scenarios
    last_first = replace(whole, scenarios=(goodbye,), shard="1/2")  # a shard holding only the last scenario
    rest = replace(whole, scenarios=(weather, barge), shard="2/2")
    assert [s.name for s in merge([last_first, rest]).scenarios] == ["weather in Paris", "barge in", "goodbye"]
    no_order = [replace(part, extra={}) for part in (last_first, rest)]
    assert [s.name for s in merge(no_order).scenarios] == ["goodbye", "weather in Paris", "barge in"]


def test_runs_are_joined_in_run_order_across_shards() -> None:
    whole = suite()
    first, second = shards(whole, 2)
    merged = merge([second, first])
    assert [run.run for run in merged.scenarios[0].runs] == [1, 2, 3, 4, 5]
    assert [run.seed for run in merged.scenarios[0].runs] == [1001, 1002, 1003, 1004, 1005]


def refusal(tmp_path: Path, *contents: str) -> str:
    paths = []
    for index, text in enumerate(contents, start=1):
        path = tmp_path / f"in-{index}.json"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    with pytest.raises(VoxflowError) as caught:
        merge_files(paths)
    message = caught.value.message
    assert "\n" not in message
    return message


def test_files_that_are_not_voxflow_test_json_are_refused(tmp_path: Path) -> None:
    assert refusal(tmp_path, "<testsuites/>") == f"{tmp_path / 'in-1.json'}: not voxflow test JSON (not a JSON file)"
    assert refusal(tmp_path, '{"flow": "x"}').endswith("in-1.json: not voxflow test JSON (no 'schema' and 'scenarios')")
    assert refusal(tmp_path, "[1, 2]").endswith("not voxflow test JSON (no 'schema' and 'scenarios')")
    newer = json.dumps({**suite().to_json(), "schema": 2})
    assert refusal(tmp_path, newer).endswith("in-1.json: voxflow test JSON schema 2, this voxflow reads schema 1")
    broken = suite().to_json()
    broken["scenarios"][0]["runs"][0]["turns"][0]["colour"] = "blue"
    assert "in-1.json: voxflow test JSON that does not fit schema 1" in refusal(tmp_path, json.dumps(broken))
    with pytest.raises(VoxflowError, match=r"missing\.json: cannot read it \(No such file or directory\)"):
        merge_files([tmp_path / "missing.json"])
    with pytest.raises(VoxflowError, match="no file given"):
        merge_files([])


def test_shards_that_are_not_one_run_are_refused(tmp_path: Path) -> None:
    first, second, third = (json.dumps(part.to_json()) for part in shards(unsharded(), 3))
    assert refusal(tmp_path, first, third) == "voxflow test merge: shard 2/3 is missing"
    assert refusal(tmp_path, first, first, second, third).endswith("in-2.json: shard 1/3 is also " + str(tmp_path / "in-1.json"))
    other = json.dumps(replace(shards(unsharded(), 3)[1], provider="openai").to_json())
    assert refusal(tmp_path, first, other, third).startswith(f"{tmp_path / 'in-2.json'}: ran with provider openai")
    halves = shards(unsharded(), 2)
    assert refusal(tmp_path, first, json.dumps(halves[1].to_json())) == "the shards split the run differently (/2, /3)"
    moved = replace(shards(unsharded(), 3)[1], extra={"scenarios": ORDER[:2]})
    assert "a different selection of scenarios" in refusal(tmp_path, first, json.dumps(moved.to_json()), third)


def test_one_run_in_two_files_or_a_changed_pass_rate_is_refused() -> None:
    whole = suite()
    with pytest.raises(VoxflowError, match=r"run 1 of 'weather in Paris' \(weather\.yaml\) is also in shard 1"):
        merge([whole, whole])
    first, second = shards(whole, 2)
    changed = replace(second, scenarios=tuple(replace(s, pass_rate=0.5) for s in second.scenarios))
    with pytest.raises(VoxflowError, match="has pass_rate 0.5, another shard 0.8"):
        merge([first, changed])
