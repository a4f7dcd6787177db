"""The shipped demo is found by name from any folder, and voxflow's MCP server lists and checks flows.

The MCP server's tools are called here as the functions they are; the stdio server
itself runs in tests/tools/test_tool_nodes.py (a subprocess, marked slow).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp.server.mcpserver.exceptions import ToolError

from flow.mcp_server import list_flows, validate_flow
from flow.packaged import find_flow, packaged_flow

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_is_found_by_name_and_an_existing_path_always_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert packaged_flow("demo") == packaged_flow("demo.yaml") == ROOT / "flows" / "demo.yaml"
    assert packaged_flow("tools") is None  # only the demo is shipped
    monkeypatch.chdir(tmp_path)
    assert find_flow(Path("flows/demo.yaml")) == ROOT / "flows" / "demo.yaml"
    own = tmp_path / "flows" / "demo.yaml"
    own.parent.mkdir()
    own.write_text("version: 1\n")
    assert find_flow(Path("flows/demo.yaml")) == Path("flows/demo.yaml")
    assert find_flow(Path("missing.yaml")) == Path("missing.yaml")  # left for the loader's error


def test_list_flows_names_each_flow_and_marks_a_broken_one(tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text((ROOT / "flows" / "greeting.yaml").read_text())
    (tmp_path / "broken.yaml").write_text("version: 1\nnodes: [\n")
    listed = list_flows(str(tmp_path)).splitlines()
    assert listed[0] == "broken.yaml: (invalid)" and listed[1].startswith("ok.yaml: ") and len(listed) == 2
    with pytest.raises(ToolError, match="is not a folder"):
        list_flows(str(tmp_path / "ok.yaml"))
    (tmp_path / "empty").mkdir()
    assert list_flows(str(tmp_path / "empty")) == f"no flow files in {tmp_path / 'empty'}"


def test_validate_flow_says_ok_or_where_each_problem_is(tmp_path: Path) -> None:
    assert validate_flow(str(ROOT / "flows" / "demo.yaml")).endswith(" nodes)")
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: 1\nnodes: [\n")
    assert validate_flow(str(broken)).startswith(f"{broken}:")
