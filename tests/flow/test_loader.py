"""Loader safety and the valid example flows."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flow.errors import FlowError
from flow.loader import MAX_FLOW_BYTES, load_flow, load_flow_text
from flow.schema import json_schema

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "flows").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_flows_are_valid(path: Path) -> None:
    flow = load_flow(path)
    assert flow.nodes


def test_examples_exist() -> None:
    assert EXAMPLES


def test_oversized_file_is_refused_before_parsing(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text("version: 1\nname: big\n# " + "x" * MAX_FLOW_BYTES + "\n")
    with pytest.raises(FlowError, match=r"big.yaml:1:1: file is 1.0 MiB; flows are limited to 1 MiB"):
        load_flow(big)


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"version: 1\nname: caf\xe9\n")
    with pytest.raises(FlowError, match=r"latin1.yaml:2:1: the file is not UTF-8"):
        load_flow(bad)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(FlowError, match="no such file"):
        load_flow(tmp_path / "nope.yaml")
    with pytest.raises(FlowError, match="is a directory"):
        load_flow(tmp_path)


def test_alias_bomb_is_bounded() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i-1}"] * 10) + "]")
    with pytest.raises(FlowError, match="too many values"):
        load_flow_text("\n".join(lines), "bomb.yaml")


def test_flow_model_exposes_nodes_and_edges() -> None:
    flow = load_flow(ROOT / "flows" / "greeting.yaml")
    assert flow.name == "Greeting prompt"
    assert [n.id for n in flow.nodes] == ["persona", "task", "prompt", "preview"]
    assert [str(e) for e in flow.incoming("prompt")] == ["persona.text->prompt.persona", "task.text->prompt.task"]
    assert flow.node("preview").title == "Preview"


def test_json_schema_covers_every_node_type() -> None:
    from flow.nodes import registry

    schema = json_schema()
    json.dumps(schema)
    node_refs = schema["properties"]["nodes"]["items"]["discriminator"]["mapping"]
    assert set(node_refs) == set(registry.type_names())
    text_input = schema["$defs"]["TextInputNode"]
    assert text_input["additionalProperties"] is False
    assert set(text_input["required"]) >= {"id", "type", "text"}


yaml_ish = st.text(alphabet=st.sampled_from(list("abcdefnodesidtypexz:-[]{}|>&*!%@`'\"#,.?\n\t 0123456789")), max_size=300)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=st.one_of(yaml_ish, st.text(max_size=200)))
def test_arbitrary_text_only_ever_raises_flow_error(text: str) -> None:
    try:
        load_flow_text(text, "fuzz.yaml")
    except FlowError as error:
        assert all(issue.line >= 1 and issue.column >= 1 for issue in error.issues)


@settings(max_examples=150, deadline=None)
@given(
    body=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=10),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.sampled_from(["id", "type", "text", "nodes", "edges", "from", "to", "name", "version", "template"]), children, max_size=5),
        max_leaves=20,
    )
)
def test_arbitrary_structures_only_ever_raise_flow_error(body: object) -> None:
    text = json.dumps(body)  # JSON is YAML
    try:
        load_flow_text(text, "fuzz.yaml")
    except FlowError:
        pass
