"""The tool runner: checked arguments, concurrent calls, one response.create, confirm, cancel, cap, redaction."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

import pytest

from audio.session.tools import (
    MAX_OUTPUT_BYTES, Tool, ToolCallRequest, ToolCallUpdated, ToolRunner, ToolStatus, cap_output, check_schema,
)

WAIT = 10.0
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


class GatedTool:
    """A tool whose calls wait until the test releases them."""

    def __init__(self, name: str, *, confirm: bool = False, secret: str = "") -> None:
        self.name, self.description, self.parameters, self.confirm, self.node_id = name, "", CITY, confirm, "n1"
        self.started: list[dict[str, Any]] = []
        self.release = asyncio.Event()
        self.answer = f"{name} answered"
        self._secret = secret

    async def call(self, arguments: dict[str, Any]) -> str:
        self.started.append(arguments)
        await self.release.wait()
        return self.answer

    def secrets(self) -> Sequence[str]:
        return [self._secret] if self._secret else []


class Harness:
    def __init__(self, tools: list[Tool], approve: Any = None) -> None:
        self.sent: list[dict[str, Any]] = []
        self.updates: list[ToolCallUpdated] = []
        self.changed = asyncio.Event()
        self.runner = ToolRunner(tools, send=self._send, on_update=self._update, approve=approve)

    def _send(self, event: dict[str, Any]) -> None:
        self.sent.append(event)
        self.changed.set()

    def _update(self, update: ToolCallUpdated) -> None:
        self.updates.append(update)
        self.changed.set()

    async def until(self, predicate: Any) -> None:
        async def wait() -> None:
            while not predicate():
                self.changed.clear()
                await self.changed.wait()
        await asyncio.wait_for(wait(), WAIT)

    def outputs(self) -> dict[str, str]:
        return {e["item"]["call_id"]: e["item"]["output"] for e in self.sent if e["type"] == "conversation.item.create"}

    def creates(self) -> int:
        return sum(1 for e in self.sent if e["type"] == "response.create")


def call(call_id: str, name: str, arguments: Any) -> dict[str, Any]:
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"type": "function_call", "id": f"item_{call_id}", "call_id": call_id, "name": name, "arguments": text}


async def test_two_calls_run_concurrently_and_one_response_follows() -> None:
    a, b = GatedTool("a"), GatedTool("b")
    h = Harness([a, b])
    assert h.runner.session_fields()["tools"][0] == {"type": "function", "name": "a", "description": "", "parameters": CITY}
    h.runner.call_requested(call("c1", "a", {"city": "Paris"}), "resp_1")
    h.runner.call_requested(call("c2", "b", {"city": "Oslo"}), "resp_1")
    h.runner.response_done("resp_1", "completed")
    await h.until(lambda: a.started and b.started)  # both run before either finished
    assert h.runner.running and h.creates() == 0
    a.release.set()
    await h.until(lambda: "c1" in h.outputs())
    assert h.creates() == 0  # b still runs
    b.release.set()
    await h.until(lambda: h.creates() == 1)
    assert h.outputs() == {"c1": "a answered", "c2": "b answered"}
    assert h.sent[-1] == {"type": "response.create"}
    statuses = [(u.call.call_id, u.status) for u in h.updates]
    assert statuses.count(("c1", ToolStatus.DONE)) == 1 and ("c2", ToolStatus.RUNNING) in statuses
    done = [u for u in h.updates if u.status == ToolStatus.DONE]
    assert all(u.call.duration is not None and u.call.node_id == "n1" and u.item_id for u in done)


async def test_bad_arguments_go_back_as_an_error_output() -> None:
    tool = GatedTool("a")
    h = Harness([tool])
    h.runner.call_requested(call("c1", "a", {"town": "Paris"}), "resp_1")
    h.runner.call_requested(call("c2", "a", "{not json"), "resp_1")
    h.runner.call_requested(call("c3", "nope", {}), "resp_1")
    h.runner.response_done("resp_1", "completed")
    await h.until(lambda: h.creates() == 1)
    out = h.outputs()
    assert out["c1"].startswith("error: invalid arguments for a: 'city' is a required property")
    assert "not valid JSON" in out["c2"]
    assert "no tool named 'nope'" in out["c3"]
    assert tool.started == []
    assert {u.status for u in h.updates if u.status != ToolStatus.RUNNING} == {ToolStatus.ERROR}


async def test_confirm_asks_and_a_refusal_is_the_output() -> None:
    asked: list[ToolCallRequest] = []
    answers = iter([False, True])

    async def approve(request: ToolCallRequest) -> bool:
        asked.append(request)
        return next(answers)

    tool = GatedTool("a", confirm=True)
    tool.release.set()
    h = Harness([tool], approve=approve)
    h.runner.call_requested(call("c1", "a", {"city": "Paris"}), "resp_1")
    h.runner.response_done("resp_1", "completed")
    await h.until(lambda: h.creates() == 1)
    assert h.outputs()["c1"].startswith("refused") and tool.started == []
    h.runner.call_requested(call("c2", "a", {"city": "Rome"}), "resp_2")
    h.runner.response_done("resp_2", "completed")
    await h.until(lambda: h.creates() == 2)
    assert h.outputs()["c2"] == "a answered"
    assert [r.arguments for r in asked] == [{"city": "Paris"}, {"city": "Rome"}]
    # no one to ask (headless without --approve-tools): refused
    h2 = Harness([GatedTool("a", confirm=True)])
    h2.runner.call_requested(call("c1", "a", {"city": "Paris"}), None)
    await h2.until(lambda: "c1" in h2.outputs())
    assert h2.outputs()["c1"].startswith("refused") and h2.updates[-1].status == ToolStatus.REFUSED


async def test_cancel_all_cancels_running_calls_and_asks_for_no_response() -> None:
    tool = GatedTool("a")
    h = Harness([tool])
    h.runner.call_requested(call("c1", "a", {"city": "Paris"}), "resp_1")
    h.runner.response_done("resp_1", "completed")
    await h.until(lambda: tool.started)
    h.runner.cancel_all("barge-in")
    await h.until(lambda: "c1" in h.outputs())
    assert "cancelled" in h.outputs()["c1"]
    assert h.updates[-1].status == ToolStatus.CANCELLED
    assert h.creates() == 0 and not h.runner.running
    # cancelled before its response was done: still no response.create for it
    tool.release = asyncio.Event()
    h.runner.call_requested(call("c2", "a", {"city": "Rome"}), "resp_2")
    await h.until(lambda: len(tool.started) == 2)
    h.runner.cancel_all("barge-in")
    await h.until(lambda: "c2" in h.outputs())
    h.runner.response_done("resp_2", "completed")
    assert h.creates() == 0
    await h.runner.aclose()


async def test_outputs_are_capped_and_redacted() -> None:
    tool = GatedTool("a", secret="hunter2-secret-value")
    tool.answer = "token hunter2-secret-value, key sk-abcdef123456 " + "x" * (MAX_OUTPUT_BYTES * 2)
    tool.release.set()
    h = Harness([tool])
    h.runner.call_requested(call("c1", "a", {"city": "hunter2-secret-value"}), None)
    await h.until(lambda: "c1" in h.outputs())
    output = h.outputs()["c1"]
    assert len(output.encode()) <= MAX_OUTPUT_BYTES and output.endswith("[output truncated to 16 KB]")
    assert "hunter2" not in output and "sk-abcdef" not in output and "[redacted]" in output
    assert all("hunter2" not in u.call.arguments and "hunter2" not in u.call.result for u in h.updates)


def test_cap_keeps_whole_characters_and_short_text() -> None:
    assert cap_output("hello") == "hello"
    capped = cap_output("é" * MAX_OUTPUT_BYTES)
    assert len(capped.encode()) <= MAX_OUTPUT_BYTES and "\ufffd" not in capped


@pytest.mark.parametrize(("schema", "message"), [
    ({"type": "object", "properties": {"a": {"type": "strang"}}}, "not a valid JSON Schema"),
    ({"type": "string"}, "must describe an object"),
    ([1], "must be a JSON Schema object"),
])
def test_schema_errors(schema: Any, message: str) -> None:
    assert message in (check_schema(schema) or "")


def test_good_schema_and_duplicate_tools() -> None:
    assert check_schema(CITY) is None
    with pytest.raises(ValueError, match="two tools are named 'a'"):
        ToolRunner([GatedTool("a"), GatedTool("a")], send=lambda e: None, on_update=lambda u: None)
