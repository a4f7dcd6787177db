"""Every assertion kind passes on a turn that meets it and fails, with what was expected and what came, on one that does not."""

from __future__ import annotations

from dataclasses import replace

import pytest

from audio.speech.english_normalizer import normalize_english
from audio.speech.wer import word_error_rate, word_errors
from flow.scenarios.checks import check_turn, contains
from flow.scenarios.results import Run, ToolCall, Turn
from flow.scenarios.spec import Expect

TURN = Turn(
    index=2, said="What's the weather in Paris?", heard="what's the weather in paris", reply="In Paris it is sunny.",
    caller_start_s=4.0, caller_end_s=5.5, reply_start_s=6.25, reply_end_s=8.0, latency_s=0.75,
    tool_calls=(ToolCall("get_weather", {"city": "Paris", "units": "metric"}, "sunny", stubbed=True),),
)


def checked(turn: Turn, **expect: object) -> Turn:
    spec = Expect.model_validate(expect)
    return replace(turn, checks=check_turn(spec, turn, reference=turn.said))


@pytest.mark.parametrize(("expect", "passing"), [
    ({"reply": "(?i)paris"}, True),
    ({"reply_not": "(?i)rain"}, True),
    ({"tool": {"name": "get_weather", "arguments": {"city": "Paris"}}}, True),
    ({"tool": "get_weather"}, True),
    ({"no_tool": "current_time"}, True),
    ({"within": "1s"}, True),
    ({"transcript": {"max_wer": 0.2}}, True),
    ({"interrupted": False}, True),
])
def test_a_turn_that_meets_its_expectations_passes(expect: dict[str, object], passing: bool) -> None:
    turn = checked(TURN, **expect)
    assert len(turn.checks) == 1 and turn.checks[0].passed is passing and turn.passed


@pytest.mark.parametrize(("expect", "line"), [
    ({"reply": "(?i)london"}, "reply expected /(?i)london/, got 'In Paris it is sunny.' at 6.25s"),
    ({"reply_not": "(?i)sunny"}, "reply_not expected not /(?i)sunny/, got 'In Paris it is sunny.' (matched 'sunny') at 6.25s"),
    ({"tool": {"name": "get_weather", "arguments": {"city": "London"}}},
     'tool expected get_weather {"city": "London"}, got get_weather {"city": "Paris", "units": "metric"} (stubbed) at 5.50s'),
    ({"no_tool": True}, 'no_tool expected no tool call, got get_weather {"city": "Paris", "units": "metric"} (stubbed) at 5.50s'),
    ({"no_tool": ["get_weather"]},
     'no_tool expected no call of get_weather, got get_weather {"city": "Paris", "units": "metric"} (stubbed) at 5.50s'),
    ({"within": "500ms"}, "within expected a reply within 0.5s, got 0.75s at 6.25s"),
    ({"transcript": {"text": "what is the time in Berlin", "max_wer": 0.2}},
     "transcript expected 'what is the time in Berlin' heard with WER <= 0.2, got \"what's the weather in paris\" (WER 0.67) at 4.00s"),
    ({"interrupted": True}, "interrupted expected the reply cut by the caller, got it played to its end at 8.00s"),
    ({"yielded": False}, "yielded expected the agent talks on over the backchannel, got no backchannel was said during a reply at 8.00s"),
])
def test_every_kind_fails_with_scenario_run_turn_expected_got_and_a_time(expect: dict[str, object], line: str) -> None:
    turn = checked(TURN, **expect)
    assert not turn.passed
    run = Run(scenario="weather", file="s.yaml", run=3, seed=1, turns=(turn,))
    assert not run.passed
    assert run.first_failure == f"weather run 3 turn 2: {line}"


def test_yield_and_latency_edge_cases() -> None:
    yielded = replace(TURN, yielded=True)
    assert checked(yielded, yielded=True).passed
    assert checked(replace(TURN, yielded=False), yielded=True).checks[0].actual == "it kept talking"
    silent = replace(TURN, latency_s=None, reply_start_s=None, reply="")
    assert checked(silent, within="2s").checks[0].actual == "no reply audio"
    assert checked(silent, reply=".").checks[0].actual == "no reply"
    nothing_heard = replace(TURN, heard="")
    assert checked(nothing_heard, transcript={"max_wer": 0.5}).checks[0].actual == "nothing heard (WER 1.00)"


def test_argument_subsets_are_deep() -> None:
    assert contains({"a": {"b": 1, "c": 2}, "d": [1]}, {"a": {"b": 1}})
    assert not contains({"a": {"b": 1}}, {"a": {"b": 2}})
    assert not contains({"a": 1}, {"b": 1})
    assert contains({"a": [1, 2]}, {"a": [1, 2]}) and not contains({"a": [1, 2]}, {"a": [1]})


def test_a_run_error_is_its_first_failure() -> None:
    run = Run(scenario="weather", file="s.yaml", run=1, seed=1, turns=(checked(TURN, reply="x"),),
              error="turn 2: no reply within 30 s")
    assert run.first_failure == "turn 2: no reply within 30 s" and not run.passed


def test_word_errors_count_words_after_english_normalisation() -> None:
    assert normalize_english("Mr. Smith has 10 cards & twenty five coins.") == [
        "mister", "smith", "has", "10", "cards", "and", "25", "coins"]
    assert word_errors("ten of clubs.", "10 of Clubs") == (0, 3)
    assert word_errors("the weather in paris", "what is the weather in Paris") == (2, 6)
    assert word_error_rate("", "two words") == 1.0
