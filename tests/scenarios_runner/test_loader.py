"""Scenario files load like flows: every problem at once, each as FILE:LINE:COL, with suggestions and named files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flow.errors import FlowError
from flow.scenarios.loader import load_scenarios, load_scenarios_text
from flow.scenarios.spec import json_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "tests" / "scenarios").glob("*.yaml"))
DEMO = ROOT / "flows" / "demo.yaml"
TOOLS = ROOT / "flows" / "tools.yaml"
SPEECH = ROOT / "tests" / "data" / "speech_how_are_you.wav"


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # files are named as given: s.yaml


def problems(tmp_path: Path, text: str, name: str = "s.yaml") -> list[str]:
    (tmp_path / name).write_text(text)
    with pytest.raises(FlowError) as caught:
        load_scenarios(name)
    return str(caught.value).splitlines()


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_the_example_scenarios_load(path: Path) -> None:
    loaded = load_scenarios(path)
    assert loaded.spec.scenarios and loaded.flow.nodes


def test_a_full_file_loads_with_its_durations_shorthands_and_files(tmp_path: Path) -> None:
    (tmp_path / "hello.wav").write_bytes(SPEECH.read_bytes())
    path = tmp_path / "s.yaml"
    path.write_text(f"""
version: 1
flow: {TOOLS}
caller: {{voice: "espeak:en-gb-x-rp", pause: 750ms}}
seed: 7
tools: {{get_weather: {{output: {{sky: clear}}}}}}
scenarios:
  - name: all of it
    repeat: 3
    pass_rate: 0.6
    noise: {{snr: 20}}
    line: {{loss: 0.05, jitter: 20ms}}
    turns:
      - say: What's the weather in Paris?
        silence_before: 1m
        backchannel: 0.4s
        expect: {{tool: get_weather, no_tool: true, within: 2.5s, yielded: false}}
      - say_file: hello.wav
        noise: {{snr: 10, file: hello.wav}}
        expect: {{transcript: {{text: how are you, max_wer: 0.5}}, no_tool: [current_time]}}
      - say: bye
        interrupt_after: 1s
""")
    loaded = load_scenarios(path)
    scenario = loaded.spec.scenarios[0]
    first, second, third = scenario.turns
    assert loaded.spec.caller.pause == 0.75 and loaded.espeak_voice == "en-gb-x-rp"
    assert first.silence_before == 60.0 and first.backchannel is not None and first.backchannel.after == 0.4
    assert first.expect.tool is not None and first.expect.tool.name == "get_weather" and first.expect.no_tool == []
    assert first.expect.within == 2.5 and second.expect.no_tool == ["current_time"] and third.interrupt_after == 1.0
    assert scenario.line is not None and scenario.line.jitter == 0.02
    assert loaded.resolve("hello.wav") == tmp_path / "hello.wav"
    assert loaded.stubs(scenario) == {"get_weather": '{"sky": "clear"}'}


def test_unknown_keys_name_their_place_and_a_suggestion(tmp_path: Path) -> None:
    lines = problems(tmp_path, f"""version: 1
flow: {DEMO}
scenarios:
  - name: typo
    turns:
      - say: hello
        expect:
          replly: hi
      - sey: hello
colour: red
""")
    assert lines == [
        "s.yaml:8:11: unknown key 'replly' in expect (allowed: reply, reply_not, tool, no_tool, within, transcript, "
        "interrupted, yielded, judge); did you mean 'reply'?",
        "s.yaml:9:9: unknown key 'sey' in a turn (allowed: say, say_file, silence_before, interrupt_after, backchannel, "
        "noise, expect); did you mean 'say'?",
        "s.yaml:10:1: unknown key 'colour' in the scenario file (allowed: version, flow, caller, seed, tools, judge, scenarios)",
    ]


def test_missing_files_are_named(tmp_path: Path) -> None:
    lines = problems(tmp_path, """version: 1
flow: ../nowhere/flow.yaml
scenarios:
  - name: x
    turns: [{say_file: missing.wav}]
""")
    assert lines[0] == f"s.yaml:2:7: flow file not found: {(tmp_path / '../nowhere/flow.yaml')} (the path is relative to this scenario file)"
    lines = problems(tmp_path, f"""version: 1
flow: {DEMO}
scenarios:
  - name: x
    turns:
      - say_file: missing.wav
""")
    assert lines == [f"s.yaml:6:19: say_file {tmp_path / 'missing.wav'}: no such file; give an existing audio file "
                     "(WAV, FLAC, MP3, OGG or M4A)"]


def test_what_only_the_flow_and_the_files_can_say(tmp_path: Path) -> None:
    (tmp_path / "not-audio.wav").write_text("hello")
    lines = problems(tmp_path, f"""version: 1
flow: {TOOLS}
tools:
  get_weathr: {{output: sunny}}
scenarios:
  - name: twice
    turns:
      - say: hi
        interrupt_after: 1s
        expect: {{reply: "(unclosed", tool: get_time, yielded: true}}
      - say_file: not-audio.wav
        expect: {{transcript: {{max_wer: 0.2}}}}
  - name: twice
    turns:
      - say: hi
        interrupt_after: 1s
""")
    assert lines[0] == ("s.yaml:4:3: tool 'get_weathr' is not in flow 'Tools' (tools: current_time, end_conversation, "
                        "get_weather, list_flows, validate_flow); did you mean 'get_weather'?")
    first_turn = "the first turn has no reply to barge in on: interrupt_after goes on the turn said over the previous turn's reply"
    assert lines[1] == f"s.yaml:9:26: {first_turn}"
    assert lines[2].startswith("s.yaml:10:25: expect.reply is not a valid regular expression: missing ), unterminated")
    assert lines[3].startswith("s.yaml:10:44: tool 'get_time' is not in flow 'Tools'")
    assert lines[3].endswith("did you mean 'current_time'?")
    assert lines[4] == "s.yaml:10:63: yielded is about a backchannel: add backchannel: to this turn"
    assert lines[5].startswith("s.yaml:11:19: say_file ") and "not-audio.wav' is not an audio file voxflow can read" in lines[5]
    assert lines[6] == "s.yaml:12:30: a say_file turn's transcript check needs text: (what the recording says)"
    assert lines[7] == "s.yaml:13:11: duplicate scenario name 'twice' (also scenario 1); give each scenario its own name"
    assert lines[8] == f"s.yaml:16:26: {first_turn}"
    assert len(lines) == 9


def test_a_barge_in_and_a_backchannel_over_one_reply_are_refused(tmp_path: Path) -> None:
    lines = problems(tmp_path, f"""version: 1
flow: {DEMO}
scenarios:
  - name: both
    turns:
      - {{say: tell me a story, backchannel: true}}
      - {{say: stop, interrupt_after: 1s}}
""")
    assert lines == ["s.yaml:7:38: the previous turn's reply has a backchannel over it: barge in or backchannel, not both"]


def test_values_and_shapes(tmp_path: Path) -> None:
    lines = problems(tmp_path, f"""version: 2
flow: {DEMO}
caller: {{voice: "tts:marin", pause: soon}}
scenarios:
  - name: x
    pass_rate: 1.5
    turns:
      - say: hi
        say_file: also.wav
      - {{}}
""")
    assert lines == [
        "s.yaml:1:10: wrong value 2 for 'version' (allowed: 1)",
        "s.yaml:3:17: 'caller.voice': String should match pattern '^((espeak|openai):)?[A-Za-z0-9_+-]+$' (got 'tts:marin')",
        "s.yaml:3:37: caller.pause: a duration such as 20s, 1m or 1m30s",
        "s.yaml:6:16: 'scenarios[0].pass_rate': Input should be less than or equal to 1 (got 1.5)",
        "s.yaml:8:9: scenarios[0].turns[0]: a turn has either say: (text) or say_file: (a recording), not both or neither",
        "s.yaml:10:9: scenarios[0].turns[1]: a turn has either say: (text) or say_file: (a recording), not both or neither",
    ]


def test_an_unknown_espeak_voice_is_refused(tmp_path: Path) -> None:
    lines = problems(tmp_path, f"""version: 1
flow: {DEMO}
caller: {{voice: "espeak:xx-nowhere"}}
scenarios: [{{name: x, turns: [{{say: hi}}]}}]
""")
    assert lines == ["s.yaml:3:17: eSpeak has no voice 'xx-nowhere' (for example: en, en-us, en-gb-x-rp, en-us+f3, de, fr)"]


@pytest.mark.parametrize(("written", "engine", "name"), [("openai:marin", "openai", "marin"), ("onyx", "openai", "onyx"),
                                                        ("espeak:en-us", "espeak", "en-us")])
def test_openai_and_espeak_voices_load(tmp_path: Path, written: str, engine: str, name: str) -> None:
    (tmp_path / "s.yaml").write_text(f"version: 1\nflow: {DEMO}\ncaller: {{voice: {written}}}\n"
                                     "scenarios: [{name: x, turns: [{say: hi}]}]\n")
    caller = load_scenarios("s.yaml").spec.caller
    assert (caller.engine, caller.voice_name) == (engine, name)


def test_an_unknown_openai_voice_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    listing = "alloy, ash, ballad, cedar, coral, echo, fable, marin, nova, onyx, sage, shimmer, verse"
    lines = problems(tmp_path, f"""version: 1
flow: {DEMO}
caller: {{voice: "openai:marn"}}
scenarios: [{{name: x, turns: [{{say: hi}}]}}]
""")
    assert lines == [f"s.yaml:3:17: openai:marn is not a voice of OpenAI's speech endpoint (it has {listing}; eSpeak "
                     "voices are written espeak:NAME); did you mean 'marin'?"]
    lines = problems(tmp_path, f"version: 1\nflow: {DEMO}\ncaller: {{voice: en-us}}\nscenarios: [{{name: x, turns: [{{say: hi}}]}}]\n")
    assert lines == [f"s.yaml:3:17: openai:en-us is not a voice of OpenAI's speech endpoint (it has {listing}; eSpeak "
                     "voices are written espeak:NAME)"]


def test_a_broken_flow_shows_its_own_problems(tmp_path: Path) -> None:
    flow = tmp_path / "broken.yaml"
    flow.write_text("version: 1\nname: Broken\nnodes:\n  - {id: a, type: nope}\n")
    lines = problems(tmp_path, "version: 1\nflow: broken.yaml\nscenarios: [{name: x, turns: [{say: hi}]}]\n")
    assert "s.yaml:2:7: flow broken.yaml is invalid (1 problem(s) below)" in lines
    assert any(line.startswith(f"{flow}:4:") and "unknown node type 'nope'" in line for line in lines), lines


def test_yaml_errors_duplicates_and_empty_files(tmp_path: Path) -> None:
    assert problems(tmp_path, "version: 1\nflow: [unclosed\n")[0].startswith("s.yaml:2:7: YAML syntax error")
    lines = problems(tmp_path, f"version: 1\nflow: {DEMO}\nflow: {DEMO}\nscenarios: [{{name: x, turns: [{{say: hi}}]}}]\n")
    assert lines == ["s.yaml:3:1: duplicate key 'flow': YAML keeps only the last one, remove or rename one of them"]
    with pytest.raises(FlowError, match=r"^<scenarios>:1:1: the file is empty"):
        load_scenarios_text("")


def test_the_json_schema_describes_the_format() -> None:
    schema = json_schema()
    assert schema["$schema"].endswith("2020-12/schema")
    assert set(schema["required"]) == {"version", "flow", "scenarios"}
    turn = schema["$defs"]["TurnSpec"]
    assert turn["additionalProperties"] is False and "interrupt_after" in turn["properties"]
    json.dumps(schema)  # plain JSON


def test_the_example_in_the_docs_loads(tmp_path: Path) -> None:
    docs = (ROOT / "docs" / "TESTING.md").read_text()
    example = docs.split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "thanks.wav").write_bytes(SPEECH.read_bytes())
    (tmp_path / "s.yaml").write_text(example.replace("../flows/tools.yaml", str(TOOLS)))
    loaded = load_scenarios("s.yaml")
    assert loaded.spec.scenarios[0].turns[1].interrupt_after == 1.0


def test_a_judge_criterion_and_the_files_judge_script_load(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "judge.yaml").write_text("- when: 'x'\n  say: 'PASS: x'\n")
    (tmp_path / "s.yaml").write_text(f"""version: 1
flow: {DEMO}
judge: {{script: rules/judge.yaml}}
scenarios:
  - name: judged
    turns:
      - say: hello
        expect: {{judge: "the assistant greets the caller"}}
""")
    loaded = load_scenarios("s.yaml")
    assert loaded.spec.scenarios[0].turns[0].expect.judge == "the assistant greets the caller"
    assert loaded.judge_script == (tmp_path / "rules" / "judge.yaml").resolve()
    assert "judge" in json_schema()["$defs"]["Expect"]["properties"]


def test_a_bad_judge_is_an_error_at_its_place(tmp_path: Path) -> None:
    lines = problems(tmp_path, f"""version: 1
flow: {DEMO}
scenarios:
  - name: judged
    turns:
      - say: hello
        expect: {{judge: [not, words]}}
      - say: again
        expect: {{judge: ""}}
""")
    assert lines == [
        "s.yaml:7:25: 'scenarios[0].turns[0].expect.judge': Input should be a valid string (got ['not', 'words'])",
        "s.yaml:9:25: 'scenarios[0].turns[1].expect.judge': String should have at least 1 character (got '')",
    ]
    lines = problems(tmp_path, f"""version: 1
flow: {DEMO}
judge: {{script: missing.yaml}}
scenarios: [{{name: judged, turns: [{{say: hello, expect: {{judge: it greets}}}}]}}]
""")
    assert lines == [f"s.yaml:3:17: judge rule script not found: {(tmp_path / 'missing.yaml').resolve()} (the path is "
                     "relative to this scenario file)"]
    assert problems(tmp_path, f"version: 1\nflow: {DEMO}\njudge: {{rules: x.yaml}}\nscenarios: [{{name: j, turns: [{{say: hi}}]}}]\n") == [
        "s.yaml:3:8: missing required key 'script' in judge",
        "s.yaml:3:9: unknown key 'rules' in judge (allowed: script)",
    ]
