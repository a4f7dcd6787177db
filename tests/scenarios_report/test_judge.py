"""The ``judge`` assertion: a Realtime session in text mode grades a transcript against a criterion.

Offline it asks the local server, whose rule script answers PASS or FAIL deterministically; the
real service is asked only when ``OPENAI_API_KEY`` is set (otherwise that test is skipped, and
pytest's summary says why).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from audio.base.errors import VoxflowError
from flow.scenarios.judge import judge, judge_turns, parse_verdict, question
from flow.scenarios.run_transcript import transcript_text
from tests.scenarios_report.suites import barge_run, weather_run

CRITERION = "the assistant names the city"
NAMED = "User: what's the weather in Paris?\nAssistant: It is sunny in Paris today."
NOT_NAMED = "User: what's the weather in Paris?\nAssistant: It is sunny today."
RULES = r"""
- when: '(?sm)^Criterion: the assistant names the city\n\nTranscript:\n.*^Assistant: [^\n]*Paris'
  say: 'PASS: the reply says Paris'
- when: '(?sm)^Criterion: the assistant names the city'
  say: 'FAIL: no reply names the city'
- when: '^Criterion: ramble'
  say: 'I think it went rather well overall'
"""


@pytest.fixture
def rules(tmp_path: Path) -> Path:
    path = tmp_path / "judge.yaml"
    path.write_text(RULES, encoding="utf-8")
    return path


def test_the_question_is_the_criterion_then_the_transcript() -> None:
    assert question("  the assistant names the city ", NAMED + "\n") == (
        "Criterion: the assistant names the city\n\nTranscript:\n" + NAMED)


def test_a_finished_run_reads_to_the_judge_as_speaker_lines() -> None:
    assert transcript_text(weather_run(1), times=False).splitlines() == [
        "User: what's the weather in paris today",
        'Tool: get_weather (stubbed) {"city": "Paris"} -> {"forecast": "sunny"}',
        "Assistant: It is sunny in Paris.",
        "User: thanks",
        "Assistant: Goodbye!",
    ]
    assert transcript_text(weather_run(1)).splitlines()[0] == "[   0.20s] User: what's the weather in paris today"


@pytest.mark.parametrize(("answer", "passed", "actual", "reason"), [
    ("PASS: the reply says Paris", True, "PASS", "the reply says Paris"),
    ("FAIL - it never said the city", False, "FAIL", "it never said the city"),
    ("**Pass**. Polite and on topic.", True, "PASS", "Polite and on topic."),
    ("Let me think.\nFAIL: no goodbye", False, "FAIL", "no goodbye"),
    ("PASSABLE, I guess", False, "no verdict", "the judge answered without PASS or FAIL: PASSABLE, I guess"),
    ("", False, "no verdict", "the judge answered without PASS or FAIL: (nothing)"),
])
def test_the_verdict_is_read_from_the_answer(answer: str, passed: bool, actual: str, reason: str) -> None:
    check = parse_verdict(CRITERION, answer)
    assert (check.kind, check.passed, check.actual, check.reason) == ("judge", passed, actual, reason)
    assert check.expected == CRITERION and check.deterministic is False


async def test_openai_without_a_key_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(VoxflowError) as caught:
        await judge(CRITERION, NAMED, provider="openai", transport="websocket")
    assert str(caught.value) == ("the judge needs OPENAI_API_KEY to grade against OpenAI: export it, or grade against "
                                 "the local server (--provider local) with a rule script")


async def test_the_local_server_needs_a_rule_script(tmp_path: Path) -> None:
    with pytest.raises(VoxflowError, match="the judge against the local server needs a rule script"):
        await judge(CRITERION, NAMED, provider="local", transport="websocket")
    with pytest.raises(VoxflowError, match=r"judge rule script .*nope\.yaml: cannot read it \(No such file or directory\)"):
        await judge(CRITERION, NAMED, provider="local", transport="websocket", local_script=tmp_path / "nope.yaml")
    with pytest.raises(VoxflowError, match="unknown provider 'azure'"):
        await judge(CRITERION, NAMED, provider="azure", transport="websocket")
    with pytest.raises(VoxflowError, match="the criterion is empty"):
        await judge("  ", NAMED, provider="local", transport="websocket")


@pytest.mark.slow
@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
async def test_the_local_server_grades_pass_and_fail(rules: Path, transport: str) -> None:
    passed = await judge(CRITERION, NAMED, provider="local", transport=transport, local_script=rules)
    assert (passed.passed, passed.actual, passed.reason, passed.deterministic) == (True, "PASS", "the reply says Paris", False)
    failed = await judge(CRITERION, NOT_NAMED, provider="local", transport=transport, local_script=rules)
    assert (failed.passed, failed.actual, failed.reason) == (False, "FAIL", "no reply names the city")


@pytest.mark.slow
async def test_a_finished_runs_transcript_is_graded(rules: Path) -> None:
    named = await judge(CRITERION, transcript_text(weather_run(1), times=False), provider="local", transport="websocket",
                        local_script=rules)
    not_named = await judge(CRITERION, transcript_text(barge_run(2), times=False), provider="local",
                            transport="websocket", local_script=rules)
    assert (named.actual, not_named.actual) == ("PASS", "FAIL")


@pytest.mark.slow
async def test_an_answer_without_a_verdict_is_a_failed_check(rules: Path) -> None:
    check = await judge("ramble", NAMED, provider="local", transport="websocket", local_script=rules)
    assert (check.passed, check.actual) == (False, "no verdict")
    assert check.reason == "the judge answered without PASS or FAIL: I think it went rather well overall"


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.skipif(not os.environ.get("OPENAI_API_KEY"), reason="OPENAI_API_KEY is not set: the judge against OpenAI is not exercised")
async def test_openai_grades_pass_and_fail() -> None:
    passed = await judge(CRITERION, NAMED, provider="openai", transport="websocket")
    failed = await judge("the assistant says goodbye", NOT_NAMED, provider="openai", transport="websocket")
    assert passed.passed and passed.actual == "PASS" and passed.reason, passed
    assert not failed.passed and failed.actual == "FAIL" and failed.reason, failed


async def test_a_judge_that_cannot_be_asked_is_a_failed_judge_check_on_its_turn() -> None:
    run = weather_run(1)
    judged = await judge_turns(run, {2: CRITERION}, provider="local", transport="websocket")
    assert judged.turns[0] == run.turns[0]
    (added,) = judged.turns[1].checks[len(run.turns[1].checks):]
    assert (added.kind, added.passed, added.actual, added.deterministic, added.expected) == (
        "judge", False, "no verdict", False, CRITERION)
    assert added.reason == "the judge against the local server needs a rule script that says PASS or FAIL"
    assert judged.passed == run.passed  # reported apart: it never decides the run
    assert await judge_turns(run, {}, provider="local", transport="websocket") is run
