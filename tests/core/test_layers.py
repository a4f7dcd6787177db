"""The architecture's import rules: audio/ knows neither flow/ nor textual; flow/ never imports textual."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for file in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        tree = ast.parse(file.read_text(), filename=str(file))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        found[str(file.relative_to(ROOT))] = names
    return found


def offenders(package: str, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{file} imports {name}"
        for file, names in imported_modules(package).items()
        for name in sorted(names)
        if name.split(".")[0] in forbidden
    ]


@pytest.mark.parametrize(("package", "forbidden"), [("audio", ("flow", "tui", "textual")), ("flow", ("tui", "textual"))])
def test_imports_point_down_only(package: str, forbidden: tuple[str, ...]) -> None:
    assert offenders(package, forbidden) == []


def test_nothing_below_tui_prints() -> None:
    printing = []
    for package in ("audio", "flow"):
        for file in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(file.read_text())):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                    printing.append(f"{file.relative_to(ROOT)}:{node.lineno}")
    assert printing == []


def test_the_checker_would_catch_a_violation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "audio"
    bad.mkdir()
    (bad / "leak.py").write_text("from flow.engine import FlowEngine\nimport textual.app\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    assert offenders("audio", ("flow", "textual")) == ["audio/leak.py imports flow.engine", "audio/leak.py imports textual.app"]
