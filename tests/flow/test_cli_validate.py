"""``voxflow validate`` and ``voxflow schema`` as a user runs them (a real subprocess)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.checkout import checkout_env

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BROKEN = Path(__file__).parent / "broken"


def voxflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tui", *args], capture_output=True, text=True, cwd=ROOT, env=checkout_env(), timeout=60)


def test_valid_flow_prints_ok_and_exits_zero() -> None:
    result = voxflow("validate", "flows/greeting.yaml")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("flows/greeting.yaml: ok")


def test_invalid_flows_list_every_error_and_exit_one_without_traceback() -> None:
    result = voxflow("validate", "flows/greeting.yaml", str(BROKEN / "many_errors.yaml"), "missing.yaml")
    assert result.returncode == 1
    assert "flows/greeting.yaml: ok" in result.stdout
    err = result.stderr
    assert "many_errors.yaml:4:1: missing required key 'name'" in err
    assert "many_errors.yaml:7:11: unknown node type 'previw-output'" in err
    assert "missing.yaml:1:1: no such file" in err
    assert "2 of 3 flow(s) invalid" in err
    assert "Traceback" not in err


def test_schema_is_json() -> None:
    result = voxflow("schema")
    assert result.returncode == 0
    assert json.loads(result.stdout)["title"] == "voxflow flow"
