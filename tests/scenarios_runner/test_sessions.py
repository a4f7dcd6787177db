"""``voxflow test`` against the local server, for real: real sessions over WebRTC, real recordings.

One ``voxflow test`` subprocess runs the shipped examples (the demo flow with a barge-in, the tools
flow with a stubbed tool) and a backchannel over a flow whose VAD interrupts; its ``--json`` and the
recordings themselves are read (the caller's timing is measured on the recording, not taken from the
caller's log). In-process runs then compare ``-j 1`` with ``-j 2`` on a backchannel over a flow whose
VAD does not interrupt and a scenario written to fail every kind of check. Runs go one at a time where
timing matters: the machine is shared, and two conversations in one process on two busy cores lag.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from flow.scenarios.conversation import RunSettings
from flow.scenarios.loader import load_scenarios
from flow.scenarios.recording import read_activity
from flow.scenarios.results import Run, Suite
from flow.scenarios.suite import SuiteRunner
from tests.checkout import checkout_env, voxflow

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180), pytest.mark.xdist_group("scenario-sessions")]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "tests" / "scenarios"
NO_SERVICE = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "VOXFLOW_SHARE_TOKEN", "VOXFLOW_TOKEN_SERVICE")
PAUSE = 0.6
STORY = "Tell me a story about the sea and the mountains, please."


def yields_file(folder: Path) -> Path:
    path = folder / "yields.yaml"
    path.write_text(f"""version: 1
flow: {ROOT / 'flows' / 'demo.yaml'}
scenarios:
  - name: yields to a backchannel
    turns:
      - say: "{STORY}"
        backchannel: 0.6s
        expect: {{yielded: true, interrupted: true}}
""")
    return path


def calm_and_failing_file(folder: Path) -> Path:
    demo = (ROOT / "flows" / "demo.yaml").read_text()
    calm = demo.replace("vad: server_vad", "vad: {type: server_vad, interrupt_response: false}")
    calm = calm.replace("path: audio/demo-user.wav", f"path: {ROOT / 'flows' / 'audio' / 'demo-user.wav'}")
    assert calm != demo
    (folder / "calm.yaml").write_text(calm)
    (folder / "tools.yaml").write_text((ROOT / "flows" / "tools.yaml").read_text())
    (folder / "scripts").mkdir(exist_ok=True)
    (folder / "scripts" / "tools.yaml").write_text((ROOT / "flows" / "scripts" / "tools.yaml").read_text())
    path = folder / "pair.yaml"
    path.write_text(f"""version: 1
flow: calm.yaml
scenarios:
  - name: talks on over a backchannel
    turns:
      - say: "{STORY}"
        backchannel: 0.6s
        expect: {{yielded: false, interrupted: false}}
""")
    failing = folder / "fails.yaml"
    failing.write_text("""version: 1
flow: tools.yaml
scenarios:
  - name: written to fail
    turns:
      - say: "What time is it?"
        expect:
          reply: "(?i)purple elephants"
          reply_not: "(?i)it is"
          tool: {name: get_weather, arguments: {city: Paris}}
          no_tool: current_time
          within: 50ms
          transcript: {text: "where is the nearest train station", max_wer: 0.2}
          interrupted: true
""")
    return path


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Suite, Path]:
    folder = tmp_path_factory.mktemp("scenarios")
    files = [EXAMPLES / "demo.yaml", EXAMPLES / "tools.yaml", yields_file(folder)]
    out = folder / "results.json"
    result = subprocess.run(voxflow("test", *map(str, files), "--json", str(out), "--artifacts", str(folder / "art")),
                            cwd=folder, env=checkout_env(drop=NO_SERVICE), capture_output=True, text=True, timeout=170)
    assert out.exists(), result.stderr
    return result, Suite.from_json(json.loads(out.read_text())), folder


def the_run(suite: Suite, scenario: str) -> Run:
    return next(s for s in suite.scenarios if s.name == scenario).runs[0]


def test_the_examples_pass_and_the_exit_code_is_0(ran: tuple[subprocess.CompletedProcess[str], Suite, Path]) -> None:
    result, suite, folder = ran
    assert {s.name for s in suite.scenarios} == {"heard and answered, then a barge-in", "weather in Paris, then goodbye",
                                                 "yields to a backchannel"}
    for scenario in suite.scenarios:
        (run,) = scenario.runs
        assert run.error is None, (scenario.name, run.error)
        for turn in run.turns:
            for check in turn.checks:
                if check.kind == "within":  # a latency bound: it holds exactly when the measured latency is within it
                    assert check.passed == (turn.latency_s is not None and turn.latency_s <= 4.0), check
                    assert turn.latency_s is None or check.actual == f"{turn.latency_s:.2f}s"
                else:
                    assert check.passed, (scenario.name, turn.index, check)
    late = any(not c.passed for s in suite.scenarios for r in s.runs for t in r.turns for c in t.checks)
    assert result.returncode == (1 if late else 0), result.stdout + result.stderr
    assert f"recordings and transcripts in {folder / 'art'}" in result.stderr
    assert "Traceback" not in result.stderr


def test_each_turn_starts_the_pause_after_the_previous_reply_ended_on_the_recording(ran: tuple[subprocess.CompletedProcess[str], Suite, Path]) -> None:
    _, suite, _ = ran
    checked = 0
    for name in ("heard and answered, then a barge-in", "weather in Paris, then goodbye"):
        run = the_run(suite, name)
        assert run.recording is not None
        activity = read_activity(Path(run.recording))
        for turn, following in zip(run.turns, run.turns[1:], strict=False):
            if turn.interrupted:
                continue
            assert turn.caller_end_s is not None
            reply = activity.assistant_span(turn.caller_end_s, None)
            assert reply is not None, f"{name}: turn {turn.index} has no reply on the recording"
            spoken = activity.caller_span(reply[0], None)  # the caller's next words, as recorded
            assert spoken is not None
            reply_end = activity.assistant_span(turn.caller_end_s, spoken[0])
            assert reply_end is not None and reply_end[1] <= spoken[0] + 0.011
            assert spoken[0] - reply_end[1] == pytest.approx(PAUSE, abs=0.1), (name, turn.index)
            assert following.caller_start_s == pytest.approx(spoken[0], abs=0.1)
            checked += 1
    assert checked == 2


def test_a_barge_in_cuts_the_reply_and_marks_it_interrupted(ran: tuple[subprocess.CompletedProcess[str], Suite, Path]) -> None:
    _, suite, _ = ran
    run = the_run(suite, "heard and answered, then a barge-in")
    _, barged, after = run.turns
    assert barged.interrupted and not after.interrupted
    assert barged.reply_start_s is not None and after.caller_start_s is not None
    assert after.caller_start_s - barged.reply_start_s == pytest.approx(1.0, abs=0.15)  # interrupt_after: 1.0s
    cut = [entry for entry in run.transcript if entry["role"] == "assistant" and entry.get("interrupted")]
    assert len(cut) == 1  # its text is the whole reply, which may go past what was heard
    assert barged.reply_end_s is not None and barged.reply_end_s - after.caller_start_s < 1.5  # the audio stopped soon
    transcript = Path(str(run.recording)).with_suffix(".jsonl").read_text()
    assert '"interrupted": true' in transcript
    assert "[interrupted]" in Path(str(run.recording)).with_suffix(".md").read_text()
    assert barged.reply_end_s is not None and barged.reply_end_s < after.caller_end_s  # type: ignore[operator]
    # the recording shows the barge-in as talk-over: from the caller's first word until the reply fell silent
    assert after.talk_over_s is not None and after.talk_over_s > 0
    assert after.talk_over_s == pytest.approx(barged.reply_end_s - after.caller_start_s, abs=0.05)
    assert barged.talk_over_s == 0.0  # it waited for the previous reply to end


def test_a_stubbed_tool_is_recorded_as_called(ran: tuple[subprocess.CompletedProcess[str], Suite, Path]) -> None:
    _, suite, _ = ran
    weather, bye = the_run(suite, "weather in Paris, then goodbye").turns
    assert [(c.name, c.arguments, c.output, c.stubbed) for c in weather.tool_calls] == [
        ("get_weather", {"city": "Paris"}, "sunny and 21 degrees", True)]
    assert "sunny" in weather.reply and weather.latency_s is not None and weather.latency_events_s is not None
    assert weather.latency_events_s < weather.latency_s  # the events count from the VAD's end of speech, later
    assert weather.talk_over_s == 0.0  # nobody talked over anybody
    assert [c.name for c in bye.tool_calls] == ["end_conversation"] and not bye.tool_calls[0].stubbed


def test_a_backchannel_over_a_reply_is_a_yield_when_the_vad_interrupts(ran: tuple[subprocess.CompletedProcess[str], Suite, Path]) -> None:
    _, suite, _ = ran
    (turn,) = the_run(suite, "yields to a backchannel").turns
    assert turn.yielded is True and turn.interrupted
    assert turn.reply_end_s is not None


async def test_one_and_two_at_a_time_give_the_same_verdicts(tmp_path: Path) -> None:
    """A backchannel the VAD does not interrupt (no yield), and a scenario whose every check fails."""
    files = [load_scenarios(calm_and_failing_file(tmp_path)), load_scenarios(tmp_path / "fails.yaml")]
    outcomes = []
    for jobs in (1, 2):
        runner = SuiteRunner(files, RunSettings(tmp_path / f"art{jobs}"), jobs=jobs)
        suite = await runner.run()
        assert runner.verdict(suite) is False  # one scenario fails: exit 1
        for scenario in suite.scenarios:
            assert all(run.error is None for run in scenario.runs), [run.error for run in scenario.runs]
        outcomes.append({(run.scenario, run.passed, tuple((c.kind, c.passed) for t in run.turns for c in t.checks))
                         for s in suite.scenarios for run in s.runs})
        if jobs == 1:
            calm, failing = (the_run(suite, name) for name in ("talks on over a backchannel", "written to fail"))
            (turn,) = calm.turns
            assert turn.yielded is False and not turn.interrupted and "mountains" in turn.reply  # it said it all
            (turn,) = failing.turns
            failed = {check.kind: check for check in turn.checks if not check.passed}
            assert set(failed) == {"reply", "reply_not", "tool", "no_tool", "within", "transcript", "interrupted"}
            assert all(check.at_s is not None for check in failed.values())
            assert failed["tool"].actual.startswith("current_time {}")
            assert failing.first_failure is not None and failing.first_failure.startswith(
                "written to fail run 1 turn 1: reply expected /(?i)purple elephants/, got 'It is ")
    assert outcomes[0] == outcomes[1]
    assert ("talks on over a backchannel", True, (("interrupted", True), ("yielded", True))) in outcomes[0]


def test_sigterm_closes_every_conversation_and_writes_what_was_done(tmp_path: Path) -> None:
    import os
    import signal
    import time

    out = tmp_path / "partial.json"
    process = subprocess.Popen(voxflow("test", str(EXAMPLES / "demo.yaml"), "--json", str(out), "--artifacts", str(tmp_path)),
                               cwd=tmp_path, env=checkout_env(drop=NO_SERVICE), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        recordings: list[Path] = []
        while time.monotonic() < deadline and process.poll() is None:
            recordings = [p for p in tmp_path.rglob("run-1.wav") if p.stat().st_size > 200_000]  # ~2 s of the call
            if recordings:
                break
            time.sleep(0.1)
        assert recordings, "the call never got going"
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, stderr
    assert "interrupted; every conversation was closed and the results so far were written" in stderr
    assert "Traceback" not in stderr
    suite = Suite.from_json(json.loads(out.read_text()))
    (run,) = suite.scenarios[0].runs
    assert run.error == "interrupted before it finished" and suite.extra["interrupted"] is True
    deadline = time.monotonic() + 10
    while True:  # the recogniser workers and every other child went with it
        try:
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "processes of the run are still alive"
        time.sleep(0.1)


async def test_the_openai_provider_path_against_a_server_that_speaks_its_protocol(tmp_path: Path) -> None:
    """``--provider openai`` with a key and OPENAI_BASE_URL: here the base URL is a local server (it takes any key)."""
    from audio.server import LocalRealtimeServer, ServerConfig

    path = tmp_path / "hello.yaml"
    path.write_text(f"""version: 1
flow: {ROOT / 'flows' / 'demo.yaml'}
scenarios:
  - name: hello
    turns: [{{say: "Hello there.", expect: {{reply: "(?i)you said.*hello"}}}}]
""")
    async with LocalRealtimeServer(ServerConfig(port=0)) as server:
        settings = RunSettings(tmp_path / "art", provider="openai", api_key="sk-test-not-a-real-key", base_url=server.base_url)
        suite = await SuiteRunner([load_scenarios(path)], settings).run()
        assert len(server.calls) + len(server.ended_calls) == 1  # the call went to the service named by the base URL
    (run,) = suite.scenarios[0].runs
    assert run.error is None and run.passed and suite.provider == "openai"
