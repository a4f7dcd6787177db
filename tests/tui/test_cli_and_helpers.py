"""The `voxflow run` command line and the small helpers around the app."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from audio.base.errors import VoxflowError
from flow.options import RunOptions
from tui.cli import cli
from tui.duration import parse_duration
from tui.recent import MAX_RECENT, RecentFlows
from tui.speaker_fallback import fall_back_to_file

from .fakes import demo_like_flow

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("1h", 3600.0), ("1h30m", 5400.0), ("1.5m", 90.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "30x", "m30", "-5", "0"])
def test_bad_durations_say_how_to_write_one(text: str) -> None:
    with pytest.raises(VoxflowError):
        parse_duration(text)


def test_recent_flows_most_recent_first_bounded_and_robust(tmp_path: Path) -> None:
    recent = RecentFlows(tmp_path / "state" / "recent.json")
    assert recent.load() == []
    paths = []
    for n in range(MAX_RECENT + 2):
        path = tmp_path / f"f{n}.yaml"
        path.write_text("x")
        paths.append(path)
        recent.add(path)
    recent.add(paths[3])
    loaded = recent.load()
    assert loaded[0] == paths[3].resolve() and len(loaded) == MAX_RECENT
    paths[-1].unlink()
    assert paths[-1].resolve() not in recent.existing()
    recent.file.write_text("{broken")
    assert recent.load() == []


def test_speaker_fallback_only_for_the_default_speaker(tmp_path: Path) -> None:
    flow = demo_like_flow()
    spec = flow.node("speaker")
    object.__setattr__(spec, "settings", spec.settings.model_copy(update={"sink": "speaker"}))
    options = RunOptions()
    assert fall_back_to_file(flow, options, tmp_path, speaker_exists=True) is None
    assert fall_back_to_file(flow, options, tmp_path, speaker_exists=False) == tmp_path / "demo-assistant.wav"
    assert options.output_file == tmp_path / "demo-assistant.wav"
    chosen = RunOptions(output_device="USB")
    assert fall_back_to_file(flow, chosen, tmp_path, speaker_exists=False) is None


class Captured:
    def __init__(self) -> None:
        self.apps: list[tuple[Any, dict[str, Any]]] = []


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> Captured:
    from tui.app import VoxflowApp

    record = Captured()

    def fake_run(self: VoxflowApp, **kwargs: Any) -> None:
        record.apps.append((self, kwargs))

    monkeypatch.setattr(VoxflowApp, "run", fake_run)
    return record


def test_run_builds_options_and_honours_no_mouse(captured: Captured, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-from-env")
    result = CliRunner().invoke(
        cli,
        ["run", "flows/demo.yaml", "--no-mouse", "--max-duration", "2m", "--input-device", "3", "--output-device", "USB",
         "--record", str(tmp_path / "rec.wav"), "--transcript", str(tmp_path / "t.jsonl"), "--provider", "local"],
    )
    assert result.exit_code == 0, result.output
    app, kwargs = captured.apps[0]
    assert kwargs == {"mouse": False}
    options = app.options
    assert options.max_duration == 120.0 and options.input_device == 3 and options.output_device == "USB"
    assert options.api_key == "sk-from-env" and options.provider == "local"
    assert options.record_path == tmp_path / "rec.wav" and app.transcript_path == tmp_path / "t.jsonl"
    assert app.flow.name == "Demo"


def test_run_without_flow_opens_the_picker(captured: Captured) -> None:
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 0, result.output
    app, kwargs = captured.apps[0]
    assert app.flow is None and kwargs == {"mouse": True}


def test_run_reports_flow_errors_without_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: bad\nnodes:\n  - id: a\n    type: nope\n")
    result = CliRunner().invoke(cli, ["run", str(bad)], standalone_mode=True)
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_share_token_needs_a_token_service(captured: Captured) -> None:
    result = CliRunner().invoke(cli, ["run", "--share-token", "secret-share-token"])
    assert result.exit_code != 0
    assert "secret-share-token" not in result.output
