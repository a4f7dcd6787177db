"""Tool nodes in flow validation: every problem at its FILE:LINE:COL, and the tools input takes many edges."""

from __future__ import annotations

from pathlib import Path

import pytest

from flow.errors import FlowError
from flow.loader import load_flow, load_flow_text
from flow.nodes.base import PortType

ROOT = Path(__file__).resolve().parents[2]

BROKEN = """\
version: 1
name: broken tools
nodes:
  - id: weather
    type: http-tool
    name: get_weather
    parameters:
      type: object
      properties: {city: {type: string}}
    url: "http://127.0.0.1:8099/weather?city={town}"
  - id: lights
    type: command-tool
    name: get_weather
    parameters: {type: object, properties: {state: {enum: ["on", "off"]}}}
    command: "./bin/lights {state}"
  - id: bad
    type: command-tool
    name: bad_schema
    parameters: {type: object, properties: {state: {type: strang}}}
    command: [echo, "{state}"]
  - id: files
    type: mcp-tools
    command: [python, -m, notes]
    url: http://127.0.0.1:1/mcp
  - id: chat
    type: realtime-conversation
edges:
  - {from: weather.tool, to: chat.tools}
  - {from: lights.tool, to: chat.tools}
  - {from: bad.tool, to: chat.tools}
  - {from: files.tool, to: chat.instructions}
"""


def test_every_tool_problem_has_its_position() -> None:
    with pytest.raises(FlowError) as caught:
        load_flow_text(BROKEN, "broken.yaml")
    assert [str(issue) for issue in caught.value.issues] == [
        "broken.yaml:10:10: node 'weather': placeholder {town} does not name a parameter (parameters: city)",
        "broken.yaml:13:11: duplicate tool name 'get_weather' (node 'weather', line 6): give each tool its own name",
        "broken.yaml:15:14: node 'lights': command must be a list (argv), not a shell string: write it as ['./bin/lights', '{state}']",
        "broken.yaml:19:59: node 'bad': parameters is not a valid JSON Schema: 'strang' is not valid under any of the given"
        " schemas (at properties/state/type)",
        "broken.yaml:21:5: node 'files': give either command (a stdio server, as a list) or url (streamable HTTP), not both or neither",
        "broken.yaml:31:28: type mismatch: files.tool is tool, chat.instructions takes text; connect a text output instead",
    ]


def test_a_good_tool_flow_loads_with_many_edges_into_tools() -> None:
    flow = load_flow(ROOT / "flows" / "tools.yaml")
    tool_edges = [edge for edge in flow.edges if edge.to_port == "tools"]
    assert len(tool_edges) >= 3 and all(edge.type is PortType.TOOL for edge in tool_edges)
    assert {flow.node(edge.from_node).type for edge in tool_edges} >= {"http-tool", "command-tool", "mcp-tools"}


def test_only_the_tools_input_takes_many_edges() -> None:
    text = """\
version: 1
name: two into one
nodes:
  - {id: a, type: text-input, text: x}
  - {id: b, type: text-input, text: y}
  - {id: chat, type: realtime-conversation}
edges:
  - {from: a.text, to: chat.instructions}
  - {from: b.text, to: chat.instructions}
"""
    with pytest.raises(FlowError, match=r"<f>:9:24: input chat.instructions already has an edge \(line 8\)"):
        load_flow_text(text, "<f>")
