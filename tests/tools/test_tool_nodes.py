"""Tool nodes in the real engine: http-tool against a loopback Starlette API, command-tool, mcp-tools (stdio)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest

from audio.session.tools import ToolError
from flow.events import NodeStatus
from flow.engine import FlowEngine
from flow.loader import load_flow
from tests.tools.helpers import ToolUserNode, install, run_with, write_flow
from tests.tools.servers import WeatherApi, serve

PY = sys.executable
MCP_SERVER = str(Path(__file__).with_name("mcp_notes_server.py"))


def weather_node(base: str, **extra: str) -> str:
    lines = "".join(f"  {key}: {value}\n" for key, value in extra.items())
    return f"""\
- id: weather
  type: http-tool
  name: get_weather
  parameters: {{type: object, properties: {{city: {{type: string}}}}, required: [city]}}
  url: "{base}/weather?city={{city}}"
{lines}"""


async def errors_of(tool: Any, arguments: dict[str, Any]) -> str:
    with pytest.raises(ToolError) as caught:
        await tool.call(arguments)
    return str(caught.value)


async def test_http_tool_fills_the_url_encoded_and_reads_env_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEATHER_TOKEN", "tok-very-secret-123")
    api = WeatherApi()
    async with serve(api.app) as base:
        nodes = weather_node(base, headers='{Authorization: "Bearer ${WEATHER_TOKEN}"}', timeout="500ms")

        async def scenario(tools: dict[str, Any], ctx: Any) -> Any:
            tool = tools["get_weather"]
            return (await tool.call({"city": "Paris"}), await errors_of(tool, {"city": "Río & Co/x"}),
                    list(tool.secrets()))

        engine, (answer, missing, secrets) = await run_with(tmp_path, nodes, ["weather"], scenario)
    assert answer == "sunny and 21 degrees"
    assert missing.startswith("HTTP 404 Not Found: no forecast for Río & Co/x")
    assert api.requests[1][0] == "city=R%C3%ADo%20%26%20Co%2Fx"  # one query value, encoded
    assert api.requests[0][1] == "Bearer tok-very-secret-123" and secrets == ["tok-very-secret-123"]
    assert engine.status("weather") is NodeStatus.DONE


async def test_http_tool_timeout_and_post_body(tmp_path: Path) -> None:
    api = WeatherApi()
    async with serve(api.app) as base:
        nodes = f"""\
- id: slow
  type: http-tool
  name: slow
  url: "{base}/slow"
  timeout: 300ms
- id: post
  type: http-tool
  name: post
  method: POST
  parameters: {{type: object, properties: {{n: {{type: integer}}}}}}
  url: "{base}/echo"
"""

        async def scenario(tools: dict[str, Any], ctx: Any) -> Any:
            timed_out = await errors_of(tools["slow"], {})
            api.unblock.set()
            return timed_out, await tools["post"].call({"n": 3})

        _, (slow, posted) = await run_with(tmp_path, nodes, ["slow", "post"], scenario)
    assert slow == f"GET {base} timed out after 0.3 s"
    assert posted == '{"got":{"n":3}}'


COMMANDS = f"""\
- id: echo
  type: command-tool
  name: echo_arg
  parameters: {{type: object, properties: {{text: {{type: string}}}}, required: [text]}}
  command: ["{PY}", "-c", "import sys; print(repr(sys.argv[1:]))", "{{text}}"]
- id: sleepy
  type: command-tool
  name: sleepy
  command: ["{PY}", "-c", "import time; print('started', flush=True); time.sleep(30)"]
  timeout: 500ms
- id: chatty
  type: command-tool
  name: chatty
  command: ["{PY}", "-c", "import sys\\nwhile True: sys.stdout.write('x' * 1000)"]
  max_output: 2000
- id: failing
  type: command-tool
  name: failing
  command: ["{PY}", "-c", "import sys; sys.exit('the lights are unplugged')"]
"""


@pytest.mark.slow
async def test_command_tool_argv_timeout_cap_and_exit_status(tmp_path: Path) -> None:
    async def scenario(tools: dict[str, Any], ctx: Any) -> Any:
        loop = asyncio.get_running_loop()
        started = loop.time()
        timed_out = await errors_of(tools["sleepy"], {})
        took = loop.time() - started
        return (await tools["echo_arg"].call({"text": "a b; rm -rf / $(x)"}), timed_out, took,
                await tools["chatty"].call({}), await errors_of(tools["failing"], {}))

    _, (echoed, timed_out, took, chatty, failing) = await run_with(
        tmp_path, COMMANDS, ["echo", "sleepy", "chatty", "failing"], scenario)
    assert echoed.strip() == "['a b; rm -rf / $(x)']"  # one argument, no shell
    assert timed_out.endswith("timed out after 0.5 s and was stopped") and took < 10
    assert chatty.startswith("x" * 2000) and chatty.endswith("[output cut at 2000 bytes; the program was stopped]")
    assert failing.endswith("exited with status 1: the lights are unplugged")


@pytest.mark.slow
async def test_tool_node_shows_running_while_a_call_works(tmp_path: Path) -> None:
    nodes = f"""\
- id: sleepy
  type: command-tool
  name: sleepy
  command: ["{PY}", "-c", "import time; time.sleep(0.3)"]
"""
    seen: list[NodeStatus] = []

    async def scenario(tools: dict[str, Any], ctx: Any) -> Any:
        engine = ctx.engine
        seen.append(engine.status("sleepy"))
        call = asyncio.ensure_future(tools["sleepy"].call({}))
        await asyncio.sleep(0)
        seen.append(engine.status("sleepy"))
        await call
        seen.append(engine.status("sleepy"))

    engine, _ = await run_with(tmp_path, nodes, ["sleepy"], scenario)
    assert seen == [NodeStatus.WAITING, NodeStatus.RUNNING, NodeStatus.WAITING]
    assert engine.status("sleepy") is NodeStatus.DONE  # it served until its consumer finished


@pytest.mark.slow
async def test_mcp_tools_over_stdio(tmp_path: Path) -> None:
    nodes = f"""\
- id: notes
  type: mcp-tools
  command: ["{PY}", "{MCP_SERVER}"]
  allow: [add_note, read_note, crash]
"""

    async def scenario(tools: dict[str, Any], ctx: Any) -> Any:
        saved = await tools["add_note"].call({"title": "milk", "text": "buy two litres"})
        read = await tools["read_note"].call({"title": "milk"})
        missing = await errors_of(tools["read_note"], {"title": "eggs"})
        crashed = await errors_of(tools["crash"], {})
        after = await errors_of(tools["read_note"], {"title": "milk"})
        return sorted(tools), tools["add_note"].parameters, saved, read, missing, crashed, after

    engine, (names, schema, saved, read, missing, crashed, after) = await run_with(tmp_path, nodes, ["notes"], scenario)
    assert names == ["add_note", "crash", "read_note"]
    assert schema["required"] == ["title", "text"]
    assert (saved, read) == ("saved milk", "buy two litres")
    assert "no note called eggs" in missing
    assert crashed.startswith("the MCP server failed on crash") and after.startswith("the MCP server failed on read_note")
    assert engine.status("user") is NodeStatus.DONE


@pytest.mark.slow
async def test_mcp_server_that_cannot_start_is_the_node_error(tmp_path: Path) -> None:
    nodes = f"""\
- id: notes
  type: mcp-tools
  command: ["{PY}", "-c", "import sys; sys.exit('cannot open the notes database')"]
  timeout: 10s
- id: gone
  type: mcp-tools
  command: ["/nonexistent/mcp-server"]
"""

    async def scenario(tools: dict[str, Any], ctx: Any) -> Any:
        raise AssertionError("never runs")

    engine, _ = await run_with(tmp_path, nodes, ["notes", "gone"], scenario)
    assert engine.status("notes") is NodeStatus.ERROR
    reason = engine.reason("notes") or ""
    assert reason.startswith("mcp-tools 'notes': the MCP server") and "could not be started: cannot open the notes database" in reason
    assert engine.status("gone") is NodeStatus.ERROR and "could not be started" in (engine.reason("gone") or "")
    assert engine.status("user") is NodeStatus.CANCELLED


@pytest.mark.slow
async def test_stopping_the_flow_while_the_mcp_server_shuts_down_still_ends_it(tmp_path: Path) -> None:
    """The engine cancels the node while the SDK waits for a server slow to exit: the flow stops, the server is killed.

    Before, the cancel aborted the SDK's shutdown before its kill: the server lived on, the
    flow never stopped, and ``voxflow test`` ignored Ctrl-C."""
    told = tmp_path / "told"
    nodes = f"""\
- id: notes
  type: mcp-tools
  command: ["{PY}", "{MCP_SERVER}", "{told}"]
"""
    install()
    pids: list[int] = []

    async def scenario(tools: dict[str, Any], ctx: Any) -> Any:
        await tools["add_note"].call({"title": "milk", "text": "two litres"})
        pids.extend(pid for pid in child_pids() if str(told) in command_line(pid))  # this test's server only

    ToolUserNode.scenario = scenario
    engine = FlowEngine(load_flow(write_flow(tmp_path, nodes, ["notes"])))
    running = asyncio.ensure_future(engine.run())
    async with asyncio.timeout(20):
        while not told.exists():  # the user node is done; the SDK closed the server's stdin and waits for it to exit
            await asyncio.sleep(0.02)
    stopping = asyncio.ensure_future(engine.stop())
    try:
        done, _ = await asyncio.wait({stopping, running}, timeout=10)
        assert running in done and stopping in done, "the flow did not stop within 10 s"
    finally:
        for pid in pids:  # a failed run leaves it behind
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    assert len(pids) == 1 and not pid_alive(pids[0])
    assert engine.status("notes") is NodeStatus.CANCELLED


def child_pids() -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").read_text().split()]


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except FileNotFoundError:
        return ""


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split()[2]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.mark.slow
async def test_the_shipped_voxflow_mcp_server_checks_flows(tmp_path: Path) -> None:
    flows = Path(__file__).resolve().parents[2] / "flows"
    nodes = f"""\
- id: flows
  type: mcp-tools
  command: [python, -m, flow.mcp_server]
"""
    (tmp_path / "broken.yaml").write_text("version: 1\nname: b\nnodes:\n  - {id: x, type: text-inptu}\n")

    async def scenario(tools: dict[str, Any], ctx: Any) -> Any:
        return (await tools["list_flows"].call({"folder": str(flows)}),
                await tools["validate_flow"].call({"path": "broken.yaml"}))

    _, (listed, checked) = await run_with(tmp_path, nodes, ["flows"], scenario)
    assert "demo.yaml: Demo" in listed.splitlines() and "tools.yaml: Tools" in listed.splitlines()
    assert checked.startswith("broken.yaml:4:19: unknown node type 'text-inptu'; did you mean 'text-input'?")


async def test_mcp_tools_over_streamable_http(tmp_path: Path) -> None:
    from tests.tools.mcp_notes_server import server as notes

    async with serve(notes.streamable_http_app(), lifespan="on") as base:
        nodes = f"""\
- id: notes
  type: mcp-tools
  url: "{base}/mcp"
  allow: [add_note, read_note]
"""

        async def scenario(tools: dict[str, Any], ctx: Any) -> Any:
            await tools["add_note"].call({"title": "tea", "text": "green"})
            return sorted(tools), await tools["read_note"].call({"title": "tea"})

        engine, (names, read) = await run_with(tmp_path, nodes, ["notes"], scenario)
    assert names == ["add_note", "read_note"] and read == "green"
    assert engine.status("notes") is NodeStatus.DONE
