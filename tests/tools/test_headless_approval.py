"""Headless runs refuse confirm tools unless --approve-tools; the option is headless-only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import flow.headless
from audio.session.tools import ToolCallRequest, approve_all
from tui.cli import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def captured(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []

    def fake_run_headless(flow: Any, options: Any, settings: Any, **kwargs: Any) -> int:
        seen.append(options)
        return 0

    monkeypatch.setattr(flow.headless, "run_headless", fake_run_headless)
    return seen


async def test_approve_tools_approves_and_its_absence_refuses(captured: list[Any]) -> None:
    flow_file = str(ROOT / "flows" / "tools.yaml")
    assert CliRunner().invoke(cli, ["run", flow_file, "--headless", "--approve-tools"]).exit_code == 0
    assert CliRunner().invoke(cli, ["run", flow_file, "--headless"]).exit_code == 0
    approved, plain = captured
    assert approved.tool_approver is approve_all and await approve_all(ToolCallRequest("c", "f", {}))
    assert plain.tool_approver is None  # the runner refuses confirm tools with no approver (test_runner.py)


def test_approve_tools_needs_headless(captured: list[Any]) -> None:
    result = CliRunner().invoke(cli, ["run", str(ROOT / "flows" / "tools.yaml"), "--approve-tools"])
    assert result.exit_code != 0 and "--approve-tools works only with --headless" in str(result.exception)
    assert captured == []
