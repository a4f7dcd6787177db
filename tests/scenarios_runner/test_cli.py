"""``voxflow test`` refuses what it cannot run with exit 2 and one or two lines, before any conversation starts."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from flow.scenarios.results import Run, Scenario, Suite, Turn
from tui.cli import main

ROOT = Path(__file__).resolve().parents[2]


def voxflow(*args: str) -> int:
    with pytest.raises(SystemExit) as ended:
        main(["test", *args])
    return int(ended.value.code or 0)


def test_invalid_files_exit_2_with_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("bad.yaml").write_text(f"version: 1\nflow: {ROOT / 'flows' / 'demo.yaml'}\nscenarios:\n  - name: x\n    turns: [{{sey: hi}}]\n")
    assert voxflow("bad.yaml", "missing.yaml", "-j", "2") == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("bad.yaml:5:14: unknown key 'sey' in a turn") and err[0].endswith("did you mean 'say'?")
    assert err[1] == "missing.yaml:1:1: no such file: check the path of the scenario file"


def test_openai_without_a_key_is_two_lines_and_exit_2(capsys: pytest.CaptureFixture[str],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert voxflow("run", str(ROOT / "tests" / "scenarios" / "demo.yaml"), "--provider", "openai") == 2
    assert capsys.readouterr().err.splitlines() == [
        "voxflow: --provider openai needs OPENAI_API_KEY, which is not set",
        "Export OPENAI_API_KEY, or run against the local server: --provider local (the default).",
    ]


@pytest.mark.parametrize(("args", "line"), [
    (["--shard", "3/2"], "voxflow: --shard '3/2': give K/N with 1 <= K <= N, e.g. --shard 1/4"),
    (["-j", "0"], "voxflow test run: Invalid value for '-j' / '--jobs': 0 is not in the range 1<=x<=64."),
])
def test_bad_arguments_exit_2(args: list[str], line: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert voxflow(str(ROOT / "tests" / "scenarios" / "demo.yaml"), *args) == 2
    assert capsys.readouterr().err.splitlines()[0] == line


def test_no_files_is_exit_2_not_a_green_run(capsys: pytest.CaptureFixture[str]) -> None:
    assert voxflow() == 2  # a CI job whose file list came out empty
    assert capsys.readouterr().err.splitlines()[-1] == "voxflow test: no scenario files given: voxflow test SCENARIOS.yaml..."


def test_a_report_that_cannot_be_written_is_exit_2_before_anything_runs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    json_out = tmp_path / "ok.json"
    assert voxflow(str(ROOT / "tests" / "scenarios" / "demo.yaml"), "--json", str(json_out), "--junit", str(blocker / "x.xml")) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [f"voxflow test: --junit {blocker / 'x.xml'}: cannot write it (a part of its folder is a file)",
                   "Give a path in a folder you can write to."]
    assert not json_out.exists()  # checked, not written: nothing ran


def test_a_shard_with_no_runs_passes_and_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = tmp_path / "one.yaml"
    one.write_text(f"version: 1\nflow: {ROOT / 'flows' / 'demo.yaml'}\nscenarios:\n  - {{name: x, turns: [{{say: hi}}]}}\n")
    assert voxflow(str(one), "--shard", "2/2", "--artifacts", str(tmp_path / "runs")) == 0  # more shards than runs
    captured = capsys.readouterr()
    assert captured.err.splitlines()[-1] == "voxflow test: shard 2/2 holds none of the 1 planned run(s)"
    assert captured.out.splitlines()[-1].endswith("0 run(s) in 0.0 s: 0 passed, 0 failed; no scenario ran")  # no server started


def test_help_names_both_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert voxflow("--help") == 0
    out = capsys.readouterr().out
    assert "voxflow test SCENARIOS.yaml..." in out and "merge" in out and "run" in out


def shard(path: Path, runs: tuple[Run, ...], part: str, name: str = "s") -> Path:
    suite = Suite(scenarios=(Scenario(name, "s.yaml", 0.5, runs),), shard=part)
    path.write_text(json.dumps(suite.to_json()))
    return path


def test_merge_joins_shards_and_judges_the_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok = Run("s", "s.yaml", 1, 1, turns=(Turn(1, "hi"),))
    bad = Run("s", "s.yaml", 2, 2, error="turn 1: no reply within 30 s")
    out = tmp_path / "all.json"
    code = voxflow("merge", str(shard(tmp_path / "a.json", (ok,), "1/2")), str(shard(tmp_path / "b.json", (bad,), "2/2")), "--json", str(out))
    assert code == 0  # 1 of 2 at 0.5
    merged = Suite.from_json(json.loads(out.read_text()))
    assert sorted(run.run for run in merged.scenarios[0].runs) == [1, 2]
    assert "1/2 passed" in capsys.readouterr().out



@pytest.mark.slow
def test_a_service_that_cannot_be_reached_fails_the_run_at_once_and_nothing_is_left_running(tmp_path: Path) -> None:
    """The tools flow (an MCP server among its nodes) against a port nobody listens on: exit 1 in seconds.

    Before, the stopped flow's MCP node never closed: the run hung, ignoring Ctrl-C and SIGTERM."""
    with socket.socket() as probe:  # a free port, closed again: connections to it are refused
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "OPENAI_API_KEY": "sk-test-not-a-key", "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1"}
    process = subprocess.Popen([sys.executable, "-m", "tui.cli", "test", str(ROOT / "tests" / "scenarios" / "tools.yaml"),
                                "--provider", "openai", "--transport", "websocket", "--artifacts", str(tmp_path)],
                               cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               start_new_session=True)  # its own session: what it leaves behind is found by it
    try:
        out, err = process.communicate(timeout=40)
    finally:
        left = subprocess.run(["pgrep", "-a", "-s", str(process.pid)], capture_output=True, text=True).stdout
        subprocess.run(["pkill", "-KILL", "-s", str(process.pid)], capture_output=True)
    assert process.returncode == 1, err
    assert "could not open a WebSocket to the Realtime service" in out
    assert "did not close" not in err and "sk-test-not-a-key" not in out + err
    assert left == ""  # the MCP server and the recognition workers went with it
