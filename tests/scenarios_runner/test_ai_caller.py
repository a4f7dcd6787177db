"""AI callers for real: a second Realtime session plays the caller, against the local server's rule scripts.

Two ``voxflow test`` subprocesses, one after the other, run the shipped example (an AI caller alone,
and scripted turns then an AI caller) and two callers written not to reach their goal: one the agent
hangs up on, one that gives up (the stand-in service test below runs out of turns). Each takes a
call at a time, with the flows over WebSocket: the suite's other workers load the machine, and the
AI caller does not depend on the flow's transport (the stand-in service test calls a WebRTC flow). What is checked is what went
over the line: the agent heard the caller's words (its transcript), and the caller heard the
agent's (its rule script hangs up with a reason only when it hears the forecast). The real model
plays a caller when OPENAI_API_KEY is set; otherwise that test is skipped, visibly.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from audio.speech import word_error_rate
from flow.scenarios.results import Run, Suite
from tests.checkout import checkout_env, voxflow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420), pytest.mark.xdist_group("scenario-ai-callers")]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "tests" / "scenarios" / "ai-caller.yaml"
NO_SERVICE = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "VOXFLOW_SHARE_TOKEN", "VOXFLOW_TOKEN_SERVICE")
OPENER = "Hello, what's the weather in Paris today?"


def unmet_goals(folder: Path) -> Path:
    (folder / "leaving.yaml").write_text('- when: ".*"\n  say: "Thank you, bye."\n')
    (folder / "atlantis.yaml").write_text("""- when: "^$"
  say: "What is the weather in Atlantis?"
- when: "(?i)you said"
  call: end_call
  arguments: {goal_met: false, reason: "the agent only repeated my question"}
  say: "Never mind. Bye."
- when: ".*"
  say: "Hello?"
""")
    path = folder / "unmet.yaml"
    path.write_text(f"""version: 1
flow: {ROOT / 'flows' / 'tools.yaml'}
caller: {{goal: "Learn the weather in Atlantis.", max_turns: 4, script: atlantis.yaml}}
scenarios:
  - name: gives up
""")
    return path


def agent_hangs_up(folder: Path) -> Path:
    """The agent hangs up 2 s after its goodbye (END_GRACE_SECONDS): a caller that pauses longer is cut off."""
    path = folder / "hangs-up.yaml"
    path.write_text(f"""version: 1
flow: {ROOT / 'flows' / 'tools.yaml'}
caller: {{goal: "Learn the weather in Atlantis.", max_turns: 4, script: leaving.yaml, pause: 3s}}
scenarios: [{{name: the agent hangs up}}]
""")
    return path


def run_cli(folder: Path, *files: Path) -> tuple[subprocess.CompletedProcess[str], Suite]:
    out = folder / "results.json"
    result = subprocess.run(voxflow("test", *map(str, files), "--transport", "websocket", "--json", str(out),
                                    "--artifacts", str(folder / "art")),
                            cwd=folder, env=checkout_env(drop=NO_SERVICE), capture_output=True, text=True, timeout=400)
    assert out.exists(), result.stderr
    return result, Suite.from_json(json.loads(out.read_text()))


@pytest.fixture(scope="module")
def example(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Suite]:
    return run_cli(tmp_path_factory.mktemp("ai-example"), EXAMPLE)


@pytest.fixture(scope="module")
def unmet(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Suite]:
    folder = tmp_path_factory.mktemp("ai-unmet")
    return run_cli(folder, unmet_goals(folder), agent_hangs_up(folder))


def the_run(suite: Suite, scenario: str) -> Run:
    return next(s for s in suite.scenarios if s.name == scenario).runs[0]


def answered_in_turn(run: Run) -> None:
    """Each of the caller's turns began after the reply to the one before had ended, and the pause."""
    for turn, following in zip(run.turns, run.turns[1:], strict=False):
        assert turn.reply and turn.reply_end_s is not None and following.caller_start_s is not None
        assert following.caller_start_s >= turn.reply_end_s + 0.5, (turn.index, turn.reply_end_s, following.caller_start_s)


def goal_of(run: Run) -> tuple[bool, str, str]:
    (check,) = [check for check in run.turns[-1].checks if check.kind == "goal"]
    return check.passed, check.actual, check.reason


def test_an_ai_caller_talks_to_the_agent_until_its_goal_is_met(example: tuple[subprocess.CompletedProcess[str], Suite]) -> None:
    result, suite = example
    assert result.returncode == 0, result.stdout + result.stderr
    run = the_run(suite, "a tourist asks for the weather")
    assert run.error is None and run.passed
    opener, goodbye = run.turns[0], run.turns[-1]  # (a misheard question is asked again between them)
    assert opener.said == OPENER and word_error_rate(OPENER, opener.heard) <= 0.3  # the agent heard it
    forecast = [turn for turn in run.turns if [call.name for call in turn.tool_calls] == ["get_weather"]]
    assert forecast and "sunny" in forecast[-1].reply
    # the caller heard the forecast: only then does its script hang up, with this reason
    assert goal_of(run) == (True, "met", "the agent told me the weather in Paris")
    assert goodbye.said == "Great, thanks. Goodbye." and [call.name for call in goodbye.tool_calls] == ["end_conversation"]
    answered_in_turn(run)
    # the scenario's expect, about the whole call: shown on the last turn, placed where the evidence is
    whole_call = {check.kind: check for check in goodbye.checks}
    assert whole_call["tool"].passed and whole_call["tool"].expected == 'in the call: get_weather {"city": "Paris"}'
    assert whole_call["tool"].at_s == forecast[0].caller_end_s
    judged = whole_call["judge"]
    assert (judged.passed, judged.deterministic, judged.reason) == (
        True, False, "the agent said it is sunny and 21 degrees in Paris")


def test_scripted_turns_come_first_and_keep_their_checks_then_the_ai_caller_goes_on(
        example: tuple[subprocess.CompletedProcess[str], Suite]) -> None:
    _, suite = example
    run = the_run(suite, "scripted first, then the AI caller")
    assert run.error is None and run.passed
    scripted, opener, goodbye = run.turns[0], run.turns[1], run.turns[-1]
    assert scripted.said == "Hello, can you help me?" and {check.kind for check in scripted.checks} == {"reply"}
    assert all(check.passed for check in scripted.checks) and "help me" in scripted.reply
    # it answered the agent's last reply (its rule for "can you help"), not opened the call afresh (^$)
    assert opener.said == "Yes please. What's the weather in Paris today?"
    assert not opener.checks  # the AI caller's turns expect nothing of their own
    assert goal_of(run)[0] is True and goodbye.checks[-1].kind == "goal"
    answered_in_turn(run)


def test_callers_that_miss_their_goal_fail_their_runs_and_the_exit_code_is_1(
        unmet: tuple[subprocess.CompletedProcess[str], Suite]) -> None:
    result, suite = unmet
    assert result.returncode == 1
    assert "FAIL  gives up" in result.stdout and "FAIL  the agent hangs up" in result.stdout


def test_the_agent_hanging_up_before_the_goal_fails_the_run(unmet: tuple[subprocess.CompletedProcess[str], Suite]) -> None:
    _, suite = unmet
    run = the_run(suite, "the agent hangs up")
    assert run.error is None and not run.passed
    # (a goodbye the agent misheard is said again: the agent hangs up after the one it heard)
    assert run.turns and all(turn.said == "Thank you, bye." for turn in run.turns)
    assert [call.name for call in run.turns[-1].tool_calls] == ["end_conversation"]
    assert goal_of(run) == (False, f"not met: the call ended after {len(run.turns)} turn(s) without the caller "
                                   "hanging up", "")


def test_a_caller_that_gives_up_says_why(unmet: tuple[subprocess.CompletedProcess[str], Suite]) -> None:
    _, suite = unmet
    run = the_run(suite, "gives up")
    assert not run.passed and run.error is None
    assert run.turns[0].said == "What is the weather in Atlantis?" and run.turns[-1].said == "Never mind. Bye."
    answered_in_turn(run)
    assert goal_of(run) == (False, "not met: the caller hung up without it", "the agent only repeated my question")
    assert run.first_failure is not None and run.first_failure.endswith("(the agent only repeated my question)")


async def test_the_openai_provider_path_plays_the_caller_at_the_services_address(tmp_path: Path) -> None:
    """``--provider openai`` with a key and a base URL: here a local server stands in for the service.

    It plays both sides with its default replies ("You said: ..."), so the caller never hangs up:
    one turn, then the limit. The flow is the demo's, over WebRTC. Both sessions went to the address given, with the key given.
    """
    from audio.server import LocalRealtimeServer, ServerConfig
    from flow.scenarios.conversation import RunSettings
    from flow.scenarios.loader import load_scenarios
    from flow.scenarios.suite import SuiteRunner

    path = tmp_path / "ai.yaml"
    path.write_text(f"""version: 1
flow: {ROOT / 'flows' / 'demo.yaml'}
caller: {{goal: "Hear your own words repeated.", max_turns: 1, voice: openai:cedar}}
scenarios: [{{name: echo}}]
""")
    async with LocalRealtimeServer(ServerConfig(port=0)) as server:
        settings = RunSettings(tmp_path / "art", provider="openai", api_key="sk-test-not-a-real-key",
                               base_url=server.base_url)
        suite = await SuiteRunner([load_scenarios(path)], settings).run()
        calls = {*server.calls, *server.ended_calls}
    (run,) = suite.scenarios[0].runs
    assert run.error is None, run.error
    assert len(run.turns) == 1 and run.turns[0].reply.startswith("You said")  # max_turns: 1, answered
    assert goal_of(run) == (False, "not met: no hang-up after 1 turn(s), the limit", "")
    assert run.first_failure is not None and run.first_failure.startswith(
        "echo run 1 turn 1: goal expected 'Hear your own words repeated.', got not met: no hang-up after 1 turn(s)")
    assert len(calls) == 2  # the flow's conversation and the caller's, both at the service's address
    caller_md = next((tmp_path / "art").rglob("run-1.caller.md")).read_text()
    assert "sk-test" not in caller_md and "## Assistant" in caller_md  # what it said; no key in its transcript


@pytest.mark.skipif(not os.environ.get("OPENAI_API_KEY"),
                    reason="OPENAI_API_KEY is not set: a real model playing the caller is not exercised")
def test_a_real_model_plays_the_caller(tmp_path: Path) -> None:
    """Against OpenAI: the example's persona and goal, with no rule script; the agent is OpenAI too (tools stubbed)."""
    out = tmp_path / "results.json"
    result = subprocess.run(voxflow("test", str(EXAMPLE), "--provider", "openai", "--json", str(out),
                                    "--artifacts", str(tmp_path / "art")),
                            cwd=tmp_path, env=checkout_env(), capture_output=True, text=True, timeout=400)
    assert out.exists(), result.stderr
    suite = Suite.from_json(json.loads(out.read_text()))
    run = the_run(suite, "a tourist asks for the weather")
    assert run.error is None, run.error
    assert any(call.name == "get_weather" for turn in run.turns for call in turn.tool_calls)
    assert goal_of(run)[0] is True, goal_of(run)
