"""The fast loop (``pytest -m "not slow"``) reaches every module of audio/, flow/ and tui/.

A static check, cheap enough for the fast loop itself: a module that no fast test reaches
fails here, so a new module arrives with a fast test (or a sibling that uses it has one).

- A *fast test module* is a ``tests/**/test_*.py`` holding a test not marked slow (by a
  module ``pytestmark``, a class or a function decorator).
- It *imports* what its import statements name outside its slow tests, and what the
  ``tests`` helper modules it imports name (they are part of its tests);
  ``from audio.io import devices`` names the module ``audio.io.devices`` and its package.
- A module it imports reaches the modules of its own package that it imports (statically,
  or lazily by a ``"package.module:Name"`` target, as the node and command registries do):
  a package's internals are tested through the modules that use them. The packages are
  audio/'s subpackages, flow/ and tui/ (docs/ARCHITECTURE.md); nothing is reached across them.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("audio", "flow", "tui")
LAZY_TARGET = re.compile(r"^([A-Za-z_][\w.]*):[A-Za-z_]\w*$")


def product_modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file, for every .py under the packages (a package is its ``__init__``)."""
    modules: dict[str, Path] = {}
    for package in PACKAGES:
        for file in sorted((root / package).rglob("*.py")):
            parts = file.relative_to(root).with_suffix("").parts
            modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = file
    return modules


def is_slow_mark(node: ast.expr) -> bool:
    """``pytest.mark.slow`` (or a list/tuple holding it), as a decorator or a ``pytestmark`` value."""
    if isinstance(node, (ast.List, ast.Tuple)):
        return any(is_slow_mark(element) for element in node.elts)
    if isinstance(node, ast.Call):
        node = node.func
    return isinstance(node, ast.Attribute) and node.attr == "slow" and ast.unparse(node.value).endswith("mark")


def slow_module(tree: ast.Module) -> bool:
    return any(
        isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets)
        and is_slow_mark(node.value)
        for node in tree.body
    )


def split_tests(tree: ast.Module) -> tuple[list[ast.AST], list[ast.AST]]:
    """(fast tests, slow tests): the module's test functions, in classes too."""
    fast: list[ast.AST] = []
    slow: list[ast.AST] = []
    module_slow = slow_module(tree)

    def visit(body: list[ast.stmt], inherited: bool) -> None:
        for node in body:
            if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
                visit(node.body, inherited or any(is_slow_mark(d) for d in node.decorator_list))
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
                marked = inherited or any(is_slow_mark(d) for d in node.decorator_list)
                (slow if marked else fast).append(node)

    visit(tree.body, module_slow)
    return fast, slow


def named_modules(tree: ast.AST, package: str, skip: Sequence[ast.AST] = ()) -> set[str]:
    """Every dotted name the imports (and ``"module:Name"`` targets) outside ``skip`` name."""
    skipped = {id(node) for root in skip for node in ast.walk(root)}
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*parent, *([base] if base else [])])
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and (lazy := LAZY_TARGET.match(node.value)):
            names.add(lazy.group(1))
    return names


def known(names: set[str], modules: dict[str, Path]) -> set[str]:
    """The modules those names are, or pass through (``a.b.c`` imports ``a`` and ``a.b`` too)."""
    found = set()
    for name in names:
        parts = name.split(".")
        found.update(m for i in range(1, len(parts) + 1) if (m := ".".join(parts[:i])) in modules)
    return found


def package_of(module: str) -> str:
    """The package a module belongs to: ``audio.<name>`` under audio/, else ``flow`` or ``tui`` as a whole."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "audio" else parts[0]


def unreached(root: Path) -> list[str]:
    """The modules no fast test module reaches, by the rules above."""
    modules = product_modules(root)
    helpers = {
        ".".join(file.relative_to(root).with_suffix("").parts): file
        for file in (root / "tests").rglob("*.py")
        if "benchmarks" not in file.parts and not file.name.startswith("test_")
    }
    reached: set[str] = set()
    for test_file in (root / "tests").rglob("test_*.py"):
        if "benchmarks" in test_file.parts:
            continue
        tree = ast.parse(test_file.read_text(), filename=str(test_file))
        fast, slow = split_tests(tree)
        if not fast:
            continue
        package = ".".join(test_file.relative_to(root).parent.parts)
        names = named_modules(tree, package, skip=slow)
        seen: set[str] = set()
        pending = [name for name in names if name in helpers]
        while pending:
            helper = pending.pop()
            if helper in seen:
                continue
            seen.add(helper)
            helper_names = named_modules(ast.parse(helpers[helper].read_text()), helper.rpartition(".")[0])
            names |= helper_names
            pending.extend(name for name in helper_names if name in helpers)
        reached |= known(names, modules)
    pending = list(reached)
    while pending:
        module = pending.pop()
        file = modules[module]
        importer = module if file.name == "__init__.py" else module.rpartition(".")[0]
        for used in known(named_modules(ast.parse(file.read_text()), importer), modules):
            if used not in reached and package_of(used) == package_of(module):
                reached.add(used)
                pending.append(used)
    return sorted(set(modules) - reached)


def test_every_module_is_reached_by_a_fast_test() -> None:
    missing = unreached(ROOT)
    assert missing == [], (
        f"no fast test reaches {', '.join(missing)}: add a test that is not marked slow and imports it "
        "(or imports the module of its package that uses it)"
    )


def test_what_counts_as_reached(tmp_path: Path) -> None:
    files = {
        "audio/__init__.py": "", "flow/__init__.py": "", "tui/__init__.py": "",
        "audio/dsp/__init__.py": "",
        "audio/dsp/used.py": "from audio.dsp import helper\n",  # a sibling a fast test reaches: reached
        "audio/dsp/helper.py": "",
        "audio/io/__init__.py": "",
        "audio/io/sink.py": "from audio.dsp import elsewhere\n",  # another package: not reached through it
        "audio/dsp/elsewhere.py": "",
        "audio/io/lonely.py": "",  # only a slow module imports it
        "flow/registry.py": 'TYPES = {"x": "flow.lazy:Node"}\n',  # a lazy target: reached
        "flow/lazy.py": "",
        "tui/only_slow.py": "",  # only a slow test imports it
        "tests/__init__.py": "",
        "tests/support.py": "import flow.registry\n",  # a helper a fast test imports: part of it
        "tests/test_fast.py": (
            "import pytest\nimport tui\nfrom audio.dsp import used\nfrom audio.io import sink\nfrom tests import support\n\n"
            "def test_fast():\n    pass\n\n"
            "@pytest.mark.slow\ndef test_slow():\n    import tui.only_slow\n"
        ),
        "tests/test_all_slow.py": "import pytest\nimport audio.io.lonely\npytestmark = [pytest.mark.slow]\n\ndef test_slow():\n    pass\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    assert unreached(tmp_path) == ["audio.dsp.elsewhere", "audio.io.lonely", "tui.only_slow"]
