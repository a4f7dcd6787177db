"""The wheel holds voxflow's own packages and the demo flow, and the installed CLI finds the demo anywhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
OWN = ("tui", "flow", "audio")
BUILD_INPUTS = ("setup.py", "pyproject.toml", "README.md", *OWN, "flows")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from a copy of this checkout (the build writes build/ and *.egg-info where it runs)."""
    source = tmp_path_factory.mktemp("source")
    for name in BUILD_INPUTS:
        item = ROOT / name
        if item.is_dir():
            shutil.copytree(item, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "out"))
        elif item.exists():
            shutil.copy2(item, source / name)
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True, capture_output=True, timeout=120,
    )
    (built,) = out.glob("voxflow-*.whl")
    return built


@pytest.mark.slow
def test_wheel_holds_only_voxflows_packages_and_the_demo(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert {top for top in tops if not top.endswith(".dist-info")} == set(OWN)
    sources = {str(p.relative_to(ROOT)) for top in OWN for p in (ROOT / top).rglob("*.py") if "__pycache__" not in p.parts}
    assert sources <= set(names), sorted(sources - set(names))
    assert {"flow/examples/demo.yaml", "flow/examples/audio/demo-user.wav", "tui/styles/app.tcss"} <= set(names)
    data = [n for n in names if not n.endswith(".py") and ".dist-info/" not in n]
    assert sorted(data) == ["flow/examples/audio/demo-user.wav", "flow/examples/demo.yaml", "tui/styles/app.tcss"]


@pytest.mark.slow
def test_installed_cli_finds_the_demo_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # a pure-Python wheel installs by unpacking
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env["PYTHONPATH"] = str(site)

    def voxflow(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tui", *args], cwd=elsewhere, env=env, capture_output=True, text=True, timeout=60)

    where = subprocess.run([sys.executable, "-c", "import tui; print(tui.__file__)"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert where.stdout.startswith(str(site)), where
    checked = voxflow("validate", "flows/demo.yaml", "demo")
    assert checked.returncode == 0, checked.stderr
    assert checked.stdout.count(f"[the shipped {site / 'flow' / 'examples' / 'demo.yaml'}]") == 2
    # the run loads the shipped flow, opens its recording, and fails only for the missing key
    ran = voxflow("run", "flows/demo.yaml", "--headless", "--provider", "openai")
    assert ran.returncode == 1, ran.stderr
    assert "node user: running" in ran.stderr and "OPENAI_API_KEY is not set" in ran.stderr
    missing = voxflow("validate", "flows/nothing.yaml")
    assert missing.returncode == 1 and "no such file" in missing.stderr


@pytest.mark.slow
def test_subprocess_tests_run_this_checkout(tmp_path: Path) -> None:
    """From any folder, with voxflow also installed elsewhere, ``checkout_env`` imports this checkout."""
    from tests.checkout import checkout_env

    where = subprocess.run([sys.executable, "-c", "import tui, flow, audio; print(tui.__file__, flow.__file__, audio.__file__)"],
                           cwd=tmp_path, env=checkout_env(), capture_output=True, text=True, timeout=60)
    assert all(Path(p).is_relative_to(ROOT) for p in where.stdout.split()), where


def test_no_test_runs_voxflow_without_the_checkout_env() -> None:
    """Every test that starts ``python -m tui`` passes ``env=checkout_env(...)``."""
    offenders = []
    for path in sorted((ROOT / "tests").rglob("test_*.py")):
        if path == Path(__file__).resolve():
            continue  # this file runs the unpacked wheel on purpose
        text = path.read_text(encoding="utf-8")
        for start in [i for i in range(len(text)) if text.startswith('"-m", "tui"', i)]:
            call = text[start:start + 400].split("\n\n")[0]
            if "env=checkout_env(" not in call:
                offenders.append(f"{path.relative_to(ROOT)}: {call[:60]!r}")
    assert offenders == []
