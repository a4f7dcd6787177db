"""A scenario's ``judge:`` graded after its run, and ``voxflow test`` writing every report, end to end.

Both call the demo flow against the local server (it repeats what it heard). The judge asks
its own in-process local server, whose rule script (the scenario file's ``judge.script``)
says PASS for one criterion and FAIL for the other, so the verdicts are known in advance.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from junitparser import JUnitXml

from flow.scenarios.conversation import RunSettings
from flow.scenarios.loader import load_scenarios
from flow.scenarios.results import Suite
from flow.scenarios.suite import SuiteRunner
from tests.checkout import checkout_env, voxflow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), pytest.mark.xdist_group("scenario-cli")]

ROOT = Path(__file__).resolve().parents[2]
NO_SERVICE = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "VOXFLOW_SHARE_TOKEN", "VOXFLOW_TOKEN_SERVICE")
RULES = r"""
- when: '(?sm)^Criterion: the assistant repeats the question\n\nTranscript:\n.*^Assistant: [^\n]*hear me'
  say: 'PASS: it said the question back'
- when: '^Criterion: the assistant says goodbye'
  say: 'FAIL: nobody said goodbye'
"""


def judged_file(folder: Path) -> Path:
    (folder / "rules").mkdir()
    (folder / "rules" / "judge.yaml").write_text(RULES, encoding="utf-8")
    path = folder / "judged.yaml"
    path.write_text(f"""version: 1
flow: {ROOT / 'flows' / 'demo.yaml'}
judge: {{script: rules/judge.yaml}}
scenarios:
  - name: judged
    turns:
      - say: "Hello, can you hear me?"
        expect: {{reply: "(?i)hear me", judge: "the assistant repeats the question"}}
      - say: "Thank you."
        expect: {{judge: "the assistant says goodbye"}}
""", encoding="utf-8")
    return path


async def test_the_judge_grades_each_criterion_apart_from_the_verdict(tmp_path: Path) -> None:
    runner = SuiteRunner([load_scenarios(judged_file(tmp_path))], RunSettings(tmp_path / "art"))
    suite = Suite.from_json(json.loads(json.dumps((await runner.run()).to_json())))  # as --json writes it
    (run,) = suite.scenarios[0].runs
    assert run.error is None, run.error
    first, second = ([check for check in turn.checks if check.kind == "judge"] for turn in run.turns)
    assert [(c.passed, c.actual, c.reason, c.deterministic) for c in first] == [
        (True, "PASS", "it said the question back", False)]
    assert [(c.passed, c.actual, c.reason, c.expected) for c in second] == [
        (False, "FAIL", "nobody said goodbye", "the assistant says goodbye")]
    assert run.passed and runner.verdict(suite)  # a FAIL from the judge never fails the run


def test_the_cli_writes_junit_html_and_json(tmp_path: Path) -> None:
    junit, report, results = tmp_path / "out" / "junit.xml", tmp_path / "out" / "report.html", tmp_path / "results.json"
    result = subprocess.run(voxflow("test", "tests/scenarios/demo.yaml", "--junit", str(junit), "--report", str(report),
                                    "--json", str(results), "--artifacts", str(tmp_path / "art")),
                            cwd=ROOT, env=checkout_env(drop=NO_SERVICE), capture_output=True, text=True, timeout=170)
    assert "Traceback" not in result.stderr, result.stderr
    for path in (junit, report, results):
        assert f"wrote {path}" in result.stderr
    suite = Suite.from_json(json.loads(results.read_text(encoding="utf-8")))
    (scenario,) = suite.scenarios
    assert scenario.name == "heard and answered, then a barge-in" and len(scenario.runs) == 1
    assert result.returncode == (0 if suite.passed else 1), result.stdout + result.stderr
    assert suite.extra["scenarios"] == [["tests/scenarios/demo.yaml", scenario.name]]  # merge's order of the selection

    cases = [case for suite_element in JUnitXml.fromfile(str(junit)) for case in suite_element]
    assert len(cases) == sum(len(s.runs) for s in suite.scenarios) == 1
    assert scenario.name in cases[0].name

    html = report.read_text(encoding="utf-8")
    assert scenario.name in html
    assert re.search(r'<audio [^>]*src="data:audio/ogg;base64,[A-Za-z0-9+/=]{1000,}"', html), html[:2000]
