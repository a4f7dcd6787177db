"""The architecture's import rules, read from the code with ast.

* Layers: audio/ knows neither flow/ nor textual; flow/ never imports textual; nothing below tui/ prints.
* Packages: each package of audio/ imports only the packages its ``__init__`` says it may
  (``ALLOWED`` mirrors those docstrings), and only the public names (``__all__``) of another package.
* Privates: no module uses another module's ``_private`` names, outside tests.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Which audio packages each package may import (besides itself). flow/ and tui/ may import any of them,
# through their public names.
ALLOWED: dict[str, set[str]] = {
    "base": set(),
    "dsp": {"base"},
    "io": {"base", "dsp"},
    "speech": {"base", "dsp"},
    "wire": {"base"},
    "echo": {"base", "dsp", "io", "speech"},
    "transports": {"base", "dsp", "wire"},
    "session": {"base", "dsp", "echo", "speech", "transports", "wire"},
    "server": {"base", "dsp", "speech", "transports", "wire"},
    "tokens": {"base", "wire"},
    "metrics": {"base", "server", "session", "tokens"},
}

# Third-party internals a module hooks on purpose, pinned in pyproject.toml, with the reason in its docstring.
FOREIGN_PRIVATES = {
    ("audio/transports/adaptive_receive.py", "_handle_rtp_packet"),  # aiortc's RTCRtpReceiver (aiortc>=1.14,<1.17)
    ("audio/transports/adaptive_receive.py", "_track"),
    ("audio/transports/adaptive_receive.py", "_queue"),
    ("audio/speech/engines.py", "_Pointer"),  # ctypes' pointer base class, the documented way to type one
    ("tui/exit_deadline.py", "_exit"),  # os._exit: documented, the one exit that skips the interpreter's teardown
}


def python_files(package: str, root: Path | None = None) -> Iterator[Path]:
    yield from sorted(((root or ROOT) / package).rglob("*.py"))


def imported_modules(package: str) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for file in python_files(package):
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


# --- packages -------------------------------------------------------------------------------------------------------


def package_of(file: Path, root: Path) -> str:
    """``audio.session`` for audio/session/x.py; ``flow`` or ``tui`` for the layers above."""
    parts = file.relative_to(root).parts
    return f"audio.{parts[1]}" if parts[0] == "audio" and len(parts) > 2 else parts[0]


def public_names(package_dir: Path) -> set[str]:
    """The names a package's ``__init__`` exports: ``__all__``, read statically (``sorted(_HOMES)`` counts)."""
    tree = ast.parse((package_dir / "__init__.py").read_text())
    homes: set[str] = set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
            target = node.targets[0].id
            if target == "_HOMES" and isinstance(node.value, ast.Dict):
                homes = {key.value for key in node.value.keys if isinstance(key, ast.Constant)}
            elif target == "__all__":
                for const in ast.walk(node.value):
                    if isinstance(const, ast.Constant) and isinstance(const.value, str):
                        names.add(const.value)
                if any(isinstance(n, ast.Name) and n.id == "_HOMES" for n in ast.walk(node.value)):
                    names |= homes
    return names


def package_violations(root: Path) -> list[str]:
    """Imports of a package not in ALLOWED, or of another package's non-public names."""
    packages = sorted(p.name for p in (root / "audio").iterdir() if (p / "__init__.py").exists())
    public = {f"audio.{name}": public_names(root / "audio" / name) for name in packages}
    problems = []
    for top in ("audio", "flow", "tui"):
        for file in python_files(top, root):
            source = package_of(file, root)
            where = file.relative_to(root)
            for node in ast.walk(ast.parse(file.read_text(), filename=str(file))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    modules, names = [node.module], [alias.name for alias in node.names]
                elif isinstance(node, ast.Import):
                    modules, names = [alias.name for alias in node.names], []
                else:
                    continue
                for module in modules:
                    parts = module.split(".")
                    if parts[0] != "audio" or len(parts) < 2:
                        continue
                    target = ".".join(parts[:2])
                    if target == source or target not in public:
                        continue
                    if source.startswith("audio.") and parts[1] not in ALLOWED.get(source.split(".")[1], set()):
                        problems.append(f"{where}:{node.lineno}: {source} may not import {target}")
                    if len(parts) > 2 and not names:
                        if parts[2] not in public[target]:
                            problems.append(f"{where}:{node.lineno}: {module} is not public in {target}.__all__")
                    for name in names:
                        if name not in public[target]:
                            problems.append(f"{where}:{node.lineno}: {name} (from {module}) is not in {target}.__all__")
    return problems


def test_packages_import_only_what_they_may_and_only_public_names() -> None:
    assert package_violations(ROOT) == []


def test_every_package_says_what_it_owns_may_import_and_exports() -> None:
    for init in sorted((ROOT / "audio").glob("*/__init__.py")):
        name = init.parent.name
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert name in ALLOWED, f"audio/{name}/ is a new package: add it to ALLOWED with what it may import"
        said = set(re.findall(r"``audio\.(\w+)``", doc.split("May import:")[1].split("\n\n")[0])) if "May import:" in doc else None
        assert said == ALLOWED[name], f"audio/{name}/__init__.py's 'May import:' line disagrees with ALLOWED"
        assert public_names(init.parent), f"audio/{name}/__init__.py has no __all__"


def test_every_public_name_resolves() -> None:
    import importlib

    for init in sorted((ROOT / "audio").glob("*/__init__.py")):
        package = importlib.import_module(f"audio.{init.parent.name}")
        for name in package.__all__:
            assert getattr(package, name) is not None, f"audio.{init.parent.name}.{name}"


def test_the_package_checker_would_catch_violations(tmp_path: Path) -> None:
    for name, text in {
        "base": '"""B.\n\nMay import: nothing.\n"""\n__all__ = ["Clock"]\n',
        "session": '"""S.\n\nMay import: ``audio.base``.\n"""\n_HOMES = {"RealtimeSession": "session"}\n__all__ = sorted(_HOMES)\n',
    }.items():
        (tmp_path / "audio" / name).mkdir(parents=True)
        (tmp_path / "audio" / name / "__init__.py").write_text(text)
    (tmp_path / "audio" / "base" / "clock.py").write_text(
        "from audio.session.session import RealtimeSession\nfrom audio.session.transcript import _order\n")
    (tmp_path / "flow").mkdir()
    (tmp_path / "flow" / "x.py").write_text("from audio.base.clock import Clock, _hidden\nfrom audio.session import RealtimeSession\n")
    (tmp_path / "tui").mkdir()
    assert package_violations(tmp_path) == [
        "audio/base/clock.py:1: audio.base may not import audio.session",
        "audio/base/clock.py:2: audio.base may not import audio.session",
        "audio/base/clock.py:2: _order (from audio.session.transcript) is not in audio.session.__all__",
        "flow/x.py:1: _hidden (from audio.base.clock) is not in audio.base.__all__",
    ]


# --- privates -------------------------------------------------------------------------------------------------------


def is_private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def defined_privates(tree: ast.AST) -> set[str]:
    """Private names a module defines: functions, classes, assignments and attributes it sets (``x._a = ...``)."""
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return {name for name in names if is_private(name)}


def private_uses(root: Path) -> list[str]:
    """Uses of a ``_private`` name that the using module does not define itself: another module's privates."""
    found = []
    for top in ("audio", "flow", "tui"):
        for file in python_files(top, root):
            tree = ast.parse(file.read_text(), filename=str(file))
            own = defined_privates(tree)
            where = str(file.relative_to(root))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    found += [f"{where}:{node.lineno}: imports {alias.name} from {node.module}"
                              for alias in node.names if is_private(alias.name)]
                elif isinstance(node, ast.Attribute) and is_private(node.attr) and node.attr not in own:
                    if (where, node.attr) not in FOREIGN_PRIVATES:
                        found.append(f"{where}:{node.lineno}: uses {ast.unparse(node)}")
    return sorted(set(found), key=lambda line: (line.split(":")[0], int(line.split(":")[1]), line))


def test_no_module_uses_another_modules_private_names() -> None:
    assert private_uses(ROOT) == []


def test_the_private_checker_would_catch_a_reach_in(tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / "session.py").write_text(
        "class Session:\n    def __init__(self):\n        self._state = 1\n    def _go_live(self):\n        return self._state\n")
    (tmp_path / "audio" / "renewal.py").write_text(
        "from audio.session import _helper\n\ndef renew(session):\n    session._go_live()\n    return session._state\n")
    (tmp_path / "flow").mkdir()
    (tmp_path / "tui").mkdir()
    assert private_uses(tmp_path) == [
        "audio/renewal.py:1: imports _helper from audio.session",
        "audio/renewal.py:4: uses session._go_live",
        "audio/renewal.py:5: uses session._state",
    ]
