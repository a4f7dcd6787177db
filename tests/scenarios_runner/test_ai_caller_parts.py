"""The AI caller's parts without a conversation: what its model is told, its ear, its tool, its verdict, its checks."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest

from audio.base.clock import FakeClock
from flow.errors import FlowError
from flow.scenarios.ai_caller import EndCall, Hangup, ReplyFeed, instructions
from flow.scenarios.loader import CallerGoal, load_scenarios, local_caller_problems
from flow.scenarios.outcome import goal_check
from tui.cli import main

ROOT = Path(__file__).resolve().parents[2]
RATE = 24_000
FRAME = RATE // 50


def test_the_model_is_told_who_it_is_what_it_wants_how_to_hang_up_and_what_was_said() -> None:
    goal = CallerGoal(goal="Book a table for two at 8 pm.", persona="An impatient regular.", max_turns=5)
    told = instructions(goal, "Caller: Hello?\nAgent: Good evening, how can I help?")
    assert "Who you are: An impatient regular." in told
    assert "What you want from this call: Book a table for two at 8 pm." in told
    assert "call end_call with goal_met true" in told and "You have 5 turns at most." in told
    assert told.endswith("The call so far (you are 'Caller'):\nCaller: Hello?\nAgent: Good evening, how can I help?"
                         "\nGo on from there.")
    assert instructions(CallerGoal(goal="x"), "").endswith("The agent is waiting for you: start the call.")
    assert "Who you are" not in instructions(CallerGoal(goal="x"), "")


async def test_the_ear_plays_the_reply_when_it_plays_and_not_what_a_barge_in_cut() -> None:
    clock = FakeClock(100.0)
    feed = ReplyFeed(clock, realtime=False)
    word = np.full(FRAME, 1000, dtype=np.int16)
    feed.hear(word, RATE, 100.04)  # plays two frames from now (WebSocket delivers it early)
    feed.hear(word * 2, RATE, 100.06)
    feed.hear(word * 3, RATE, 100.08)
    heard = []
    for _ in range(4):
        heard.append(int((await feed.read()).max()))  # type: ignore[union-attr]
        await clock.advance(0.02)
    assert heard == [0, 0, 1000, 2000]  # silence until it is due, then in order
    feed.cut(100.08)  # the barge-in flushed what had not played yet
    assert int((await feed.read()).max()) == 0  # type: ignore[union-attr]


async def test_the_ear_mixes_stereo_down_and_resamples_to_its_rate() -> None:
    clock = FakeClock(0.0)
    feed = ReplyFeed(clock, realtime=False)
    t = np.arange(960 * 5) / 48_000
    tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
    feed.hear(np.stack([tone, tone], axis=1), 48_000, 0.0)
    frames = []
    for _ in range(4):
        frames.append(await feed.read())
        await clock.advance(0.02)
    out = np.concatenate([frame.reshape(-1) for frame in frames if frame is not None])
    assert out.shape == (4 * FRAME,) and all(7000 < np.abs(out[i:i + FRAME]).max() < 8500 for i in range(0, 4 * FRAME, FRAME))


async def test_late_reply_audio_is_still_played_in_order_and_drained_says_when_it_was_sent() -> None:
    clock = FakeClock(10.0)
    feed = ReplyFeed(clock, realtime=False)
    assert feed.queued_seconds == 0
    await asyncio.wait_for(feed.drained(), 1)  # nothing heard: nothing to wait for
    feed.hear(np.full(FRAME, 500, dtype=np.int16), RATE, 8.0)  # 2 s late: the sending stalled
    feed.hear(np.full(FRAME, 700, dtype=np.int16), RATE, 9.5)
    waiting = asyncio.ensure_future(feed.drained())
    assert feed.queued_seconds == pytest.approx(0.04)
    assert int((await feed.read()).max()) == 500  # type: ignore[union-attr]
    assert not waiting.done()
    assert int((await feed.read()).max()) == 700  # type: ignore[union-attr]
    await asyncio.wait_for(waiting, 1)
    feed.hear(np.full(FRAME, 900, dtype=np.int16), RATE, 10.0)
    feed.clear()  # the key was pressed: what was heard before is not this turn's input
    assert feed.queued_seconds == 0 and int((await feed.read()).max()) == 0  # type: ignore[union-attr]


async def test_end_call_records_the_hang_up_and_declares_its_arguments() -> None:
    tool = EndCall()
    assert tool.parameters["required"] == ["goal_met", "reason"] and not tool.confirm
    assert await tool.call({"goal_met": True, "reason": " got it "}) == "The call is over."
    assert tool.hangup == Hangup(True, "got it")


def test_the_goal_check_says_met_gave_up_out_of_turns_or_cut_off() -> None:
    met = goal_check("weather", Hangup(True, "sunny"), turns=2, max_turns=8, cut_off=False, at_s=3.0)
    assert met.passed and met.kind == "goal" and met.actual == "met" and met.reason == "sunny" and met.deterministic
    gave_up = goal_check("weather", Hangup(False, "it did not know"), turns=2, max_turns=8, cut_off=True, at_s=3.0)
    assert not gave_up.passed and gave_up.actual == "not met: the caller hung up without it"  # its hang-up decides
    out = goal_check("weather", None, turns=3, max_turns=3, cut_off=False, at_s=None)
    assert not out.passed and out.actual == "not met: no hang-up after 3 turn(s), the limit"
    cut = goal_check("weather", None, turns=3, max_turns=3, cut_off=True, at_s=None)  # cut off in its last turn
    assert cut.actual == "not met: the call ended after 3 turn(s) without the caller hanging up"
    silent = goal_check("weather", None, turns=1, max_turns=3, cut_off=False, at_s=None)
    assert silent.actual == "not met: the caller stopped after 1 turn(s) without hanging up"


def write(folder: Path, body: str) -> Path:
    path = folder / "s.yaml"
    path.write_text(f"version: 1\nflow: {ROOT / 'flows' / 'tools.yaml'}\n{body}")
    return path


def problems(folder: Path, body: str) -> list[str]:
    with pytest.raises(FlowError) as error:
        load_scenarios(write(folder, body))
    return [str(issue) for issue in error.value.issues]


def test_a_scenario_file_gives_each_scenario_its_goal_and_script(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("- when: '.*'\n  say: hi\n")
    (tmp_path / "d.yaml").write_text("- when: '.*'\n  say: ho\n")
    loaded = load_scenarios(write(tmp_path, """caller: {voice: openai:cedar, goal: book, persona: terse, max_turns: 3, script: c.yaml}
scenarios:
  - name: plain
  - name: own
    caller: {goal: cancel, script: d.yaml}
  - name: scripted too
    turns: [{say: hello}]
"""))
    plain, own, scripted = loaded.spec.scenarios
    assert loaded.goal(plain) == CallerGoal("book", "terse", 3, tmp_path / "c.yaml")
    assert loaded.goal(own) == CallerGoal("cancel", "terse", 3, tmp_path / "d.yaml")
    assert loaded.goal(scripted) is not None and scripted.turns[0].say == "hello"
    assert local_caller_problems(loaded) == []


def test_ai_caller_mistakes_are_named_where_they_are(tmp_path: Path) -> None:
    at = f"{tmp_path / 's.yaml'}:"
    assert problems(tmp_path, """caller: {persona: terse, script: nowhere.yaml, voice: openai:fable}
scenarios:
  - name: nothing to say
""") == [
        f"{at}3:10: caller.persona is for an AI caller, which needs a goal: add caller.goal",
        f"{at}3:26: caller.script is for an AI caller, which needs a goal: add caller.goal",
        f"{at}3:34: caller rule script not found: {tmp_path / 'nowhere.yaml'} (the path is relative to this scenario file)",
        f"{at}5:5: scenario 'nothing to say' has no turns: give it turns:, or an AI caller with a goal (caller: {{goal: ...}})",
    ]
    assert problems(tmp_path, """caller: {goal: book, voice: openai:fable}
scenarios: [{name: x}]
""") == [f"{at}3:29: the AI caller speaks with a Realtime voice, and 'fable' is not one (voices: alloy, ash, "
         "ballad, coral, echo, sage, shimmer, verse, marin, cedar)"]


def test_an_ai_caller_with_no_rule_script_cannot_run_locally_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "caller: {goal: book a table}\nscenarios: [{name: booking}]\n")
    assert local_caller_problems(load_scenarios(path)) == [
        f"{path}:4:13: scenario 'booking': an AI caller against the local server needs a rule script to play it: "
        "add caller.script (when, say, call: end_call), or run with --provider openai"]
    with pytest.raises(SystemExit) as ended:
        main(["test", str(path)])
    assert ended.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith("or run with --provider openai")


def test_a_scenario_expects_things_of_the_whole_call_and_names_where_they_happened(tmp_path: Path) -> None:
    from flow.scenarios.checks import check_call
    from flow.scenarios.results import ToolCall, Turn
    from flow.scenarios.spec import CallExpect

    turns = (Turn(1, "hi", caller_end_s=1.0), Turn(2, "weather?", caller_end_s=5.0,
                                                   tool_calls=(ToolCall("get_weather", {"city": "Paris"}, "sunny"),)),
             Turn(3, "bye", caller_end_s=9.0, tool_calls=(ToolCall("end_conversation", {}, "ok"),)))
    tool, no_tool = check_call(CallExpect.model_validate({"tool": {"name": "get_weather", "arguments": {"city": "Paris"}},
                                                          "no_tool": "current_time"}), turns)
    assert (tool.kind, tool.passed, tool.at_s) == ("tool", True, 5.0)  # where it was called
    assert tool.expected == 'in the call: get_weather {"city": "Paris"}' and no_tool.passed
    missing, banned = check_call(CallExpect.model_validate({"tool": "current_time", "no_tool": ["end_conversation"]}), turns)
    assert not missing.passed and missing.at_s == 9.0 and missing.actual.startswith("get_weather {")
    assert not banned.passed and banned.at_s == 9.0 and banned.expected == "in the call: no call of end_conversation"
    assert check_call(CallExpect.model_validate({"judge": "polite"}), turns) == ()  # a judge is graded apart
    assert CallExpect.model_validate({"judge": "polite"}).judge == ["polite"]
    assert problems(tmp_path, "caller: {goal: x}\nscenarios:\n  - name: a\n    expect: {tool: get_wether}\n") == [
        f"{tmp_path / 's.yaml'}:6:20: tool 'get_wether' is not in flow 'Tools' (tools: current_time, end_conversation, "
        "get_weather, list_flows, validate_flow); did you mean 'get_weather'?"]
