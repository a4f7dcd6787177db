"""The docs live in the repository, are cited by path, and docs/FLOWS.md matches the flow schema."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from flow.nodes import registry
from flow.schema import json_schema_text

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
FLOWS_DOC = (DOCS / "FLOWS.md").read_text(encoding="utf-8")
COMMON_NODE_KEYS = {"id", "type", "label"}


def repo_text_files() -> list[Path]:
    """Every tracked text file (a plain walk when this is not a git checkout)."""
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
        files = [ROOT / name for name in listed]
    except (OSError, subprocess.CalledProcessError):
        files = [p for p in ROOT.rglob("*") if p.is_file() and ".git" not in p.parts and ".venv" not in p.parts]
    return [p for p in files if p.is_file() and p.suffix in {".py", ".md", ".toml", ".yaml", ".tcss", ".txt", ""}]


def test_nothing_points_outside_the_repository() -> None:
    this = Path(__file__).resolve()
    offenders = []
    for path in repo_text_files():
        if path.resolve() == this:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for needle in ("../shared", "REALTIME_PROTOCOL.md", "shared/ARCHITECTURE.md"):
            if needle in text:
                offenders.append(f"{path.relative_to(ROOT)}: {needle}")
    assert offenders == []


def test_markdown_links_stay_in_the_repository() -> None:
    for path in [ROOT / "README.md", ROOT / "BENCHMARKS.md", *sorted(DOCS.glob("*.md"))]:
        for target in re.findall(r"\]\(([^)]+)\)", path.read_text(encoding="utf-8")):
            assert "://" not in target, f"{path.name} links outside the repository: {target}"
            resolved = (path.parent / target.split("#")[0]).resolve()
            assert resolved.is_relative_to(ROOT) and resolved.exists(), f"{path.name}: broken link {target}"


def test_cited_docs_and_paths_exist() -> None:
    """Every ``docs/X.md`` a module cites exists, every ``§N`` names a section, and every path a doc names exists."""
    sections = {doc.name: set(re.findall(r"^## (\d+)\.", doc.read_text(encoding="utf-8"), re.M)) for doc in DOCS.glob("*.md")}
    cited = 0
    for package in ("audio", "flow", "tui"):
        for path in (ROOT / package).rglob("*.py"):
            for name, section in re.findall(r"docs/([A-Z]+\.md)(?:\s*§(\d+))?", path.read_text(encoding="utf-8")):
                cited += 1
                assert name in sections, f"{path.relative_to(ROOT)} cites missing docs/{name}"
                assert not section or section in sections[name], f"{path.relative_to(ROOT)} cites docs/{name} §{section}"
    assert cited >= 11
    for doc in DOCS.glob("*.md"):
        for name in re.findall(r"`((?:audio|flow|tui|tests|flows)/[\w/.-]*(?:\.\w+|/))`", doc.read_text(encoding="utf-8")):
            assert (ROOT / name).exists(), f"{doc.name} names {name}, which does not exist"


def flows_doc_section(heading: str) -> str:
    match = re.search(rf"^### `{re.escape(heading)}`\n(.*?)(?=^### |\Z)", FLOWS_DOC, re.M | re.S)
    assert match, f"docs/FLOWS.md has no section for node type {heading!r}"
    return match.group(1)


def table_keys(text: str) -> set[str]:
    return set(re.findall(r"^\| `([\w.-]+)` \|", text, re.M))


SCHEMA = json.loads(json_schema_text())
NODE_TYPES = SCHEMA["properties"]["nodes"]["items"]["discriminator"]["mapping"]


def test_flows_doc_lists_the_top_level_node_and_edge_keys() -> None:
    assert set(SCHEMA["properties"]) <= table_keys(FLOWS_DOC)
    assert set(SCHEMA["$defs"]["EdgeDocument"]["properties"]) <= table_keys(FLOWS_DOC)
    assert COMMON_NODE_KEYS <= table_keys(FLOWS_DOC)


def test_flows_doc_has_exactly_the_schemas_node_types() -> None:
    documented = set(re.findall(r"^### `([\w-]+)`$", FLOWS_DOC, re.M))
    assert documented == set(NODE_TYPES) == set(registry.type_names())


@pytest.mark.parametrize("type_name", sorted(NODE_TYPES))
def test_flows_doc_lists_every_setting_and_port(type_name: str) -> None:
    section = flows_doc_section(type_name)
    ref = NODE_TYPES[type_name].rsplit("/", 1)[-1]
    settings = set(SCHEMA["$defs"][ref]["properties"]) - COMMON_NODE_KEYS
    rows = table_keys(section.split("####")[0])
    assert rows == settings, f"{type_name}: documented {sorted(rows)}, schema {sorted(settings)}"
    node = registry.get(type_name)
    assert node is not None
    inputs = re.search(r"^- inputs: (.*?)(?=^- outputs:)", section, re.M | re.S)
    outputs = re.search(r"^- outputs: (.*?)(?=^\n|\Z)", section, re.M | re.S)
    assert inputs and outputs, f"{type_name}: inputs and outputs lines"
    documented_in = set(re.findall(r"`([\w-]+)` \(", inputs.group(1)))
    documented_out = set(re.findall(r"`([\w-]+)` \(", outputs.group(1)))
    assert documented_in == {p.name for p in node.inputs}, type_name
    assert documented_out == {p.name for p in node.outputs}, type_name
    for port in (*node.inputs, *node.outputs):
        assert f"`{port.name}` ({port.type.value}" in section, f"{type_name}.{port.name}: its type"


def test_flows_doc_lists_every_vad_field() -> None:
    section = flows_doc_section("realtime-conversation")
    rows = table_keys(section.split("####", 1)[1])
    for kind, ref in (("server_vad", "ServerVad"), ("semantic_vad", "SemanticVad")):
        fields = set(SCHEMA["$defs"][ref]["properties"]) - {"type"}
        assert {f"{kind}.{name}" for name in fields} <= rows, kind
    assert "disabled" in rows
