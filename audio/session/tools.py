"""Function tools of a realtime session: the model asks, the runner calls, the output goes back.

The session core hands every ``function_call`` output item to a
:class:`ToolRunner`. The runner checks the arguments against the tool's JSON
Schema (bad arguments go back to the model as an error output, not a crash),
asks the operator first for tools marked ``confirm``, runs the calls of one
response concurrently, caps each output at :data:`MAX_OUTPUT_BYTES` and
redacts secrets, then sends one ``conversation.item.create`` with a
``function_call_output`` per call (same ``call_id``) and, once the response
that asked is done and all its calls have answered, one ``response.create``.
A barge-in or cancel cancels the running calls. Every state change of a call is
reported as a :class:`ToolCallUpdated` so front ends show it as it happens.

The :class:`Tool` protocol is what flow nodes (HTTP, command, MCP) implement;
this module knows nothing about them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

import jsonschema  # type: ignore[import-untyped]

from audio.base.clock import Clock, SystemClock
from audio.session.events import ToolCallInfo, ToolCallUpdated
from audio.base.redaction import redact

log = logging.getLogger(__name__)

MAX_OUTPUT_BYTES = 16 * 1024
TRUNCATED_NOTE = "\n[output truncated to 16 KB]"


class ToolError(Exception):
    """A tool failed in a way the model should hear about (the message becomes the output)."""


@runtime_checkable
class Tool(Protocol):
    """One function the model may call."""

    name: str
    description: str
    parameters: dict[str, Any]
    confirm: bool
    node_id: str | None

    async def call(self, arguments: dict[str, Any]) -> str:
        """Run with checked ``arguments``; return the text for the model or raise :class:`ToolError`."""
        ...

    def secrets(self) -> Sequence[str]:
        """Values that must never appear in an output, a log or the transcript."""
        ...


class ToolStatus(StrEnum):
    RUNNING = "running"
    DONE = "done"
    ERROR = "error"
    REFUSED = "refused"
    CANCELLED = "cancelled"

    @property
    def finished(self) -> bool:
        return self is not ToolStatus.RUNNING


@dataclass(frozen=True)
class ToolCallRequest:
    """What the operator is asked to approve."""

    call_id: str
    name: str
    arguments: dict[str, Any]


Approver = Callable[[ToolCallRequest], Awaitable[bool]]
"""Asks the operator; True approves the call."""


async def approve_all(request: ToolCallRequest) -> bool:
    """The approver of headless ``--approve-tools``: every call is approved."""
    return True


def tool_definition(tool: Tool) -> dict[str, Any]:
    """The GA ``session.tools`` entry for ``tool``."""
    return {"type": "function", "name": tool.name, "description": tool.description, "parameters": tool.parameters}


def check_schema(schema: Any) -> str | None:
    """Why ``schema`` is not a usable JSON Schema for function parameters, or None."""
    problem = schema_problem(schema)
    return None if problem is None else problem[1]


def schema_problem(schema: Any) -> tuple[tuple[str | int, ...], str] | None:
    """Where in ``schema`` (a path) and why it is not a usable parameters schema, or None."""
    if not isinstance(schema, dict):
        return (), "parameters must be a JSON Schema object, e.g. {type: object, properties: {...}}"
    try:
        jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator).check_schema(schema)
    except jsonschema.SchemaError as error:
        where = "/".join(str(part) for part in error.absolute_path)
        return tuple(error.absolute_path), f"parameters is not a valid JSON Schema: {error.message}" + (f" (at {where})" if where else "")
    if schema.get("type", "object") != "object":
        return ("type",), "parameters must describe an object (type: object): the model passes named arguments"
    return None


def check_arguments(schema: dict[str, Any], arguments: Any) -> str | None:
    """Why ``arguments`` do not match ``schema``, or None."""
    validator = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.absolute_path))
    if not errors:
        return None
    error = errors[0]
    where = "/".join(str(part) for part in error.absolute_path)
    return f"{where + ': ' if where else ''}{error.message}"


def cap_output(text: str, limit: int = MAX_OUTPUT_BYTES) -> str:
    """``text`` cut to at most ``limit`` UTF-8 bytes (on a character boundary), with a note when cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    room = limit - len(TRUNCATED_NOTE.encode("utf-8"))
    return data[:room].decode("utf-8", errors="ignore") + TRUNCATED_NOTE


@dataclass
class _Call:
    call_id: str
    name: str
    arguments: str
    response_id: str | None
    item_id: str | None
    task: asyncio.Task[None] | None = None
    finished: bool = False


@dataclass
class _ResponseCalls:
    calls: set[str] = field(default_factory=set)
    done: bool = False  # response.done arrived
    cancelled: bool = False


class ToolRunner:
    """Runs the function calls of one session; see the module docstring."""

    def __init__(
        self,
        tools: Iterable[Tool],
        *,
        send: Callable[[dict[str, Any]], None],
        on_update: Callable[[ToolCallUpdated], None],
        approve: Approver | None = None,
        clock: Clock | None = None,
        tool_choice: str = "auto",
    ) -> None:
        self.tools: dict[str, Tool] = {}
        for tool in tools:
            if tool.name in self.tools:
                raise ValueError(f"two tools are named {tool.name!r}")
            self.tools[tool.name] = tool
        self.tool_choice = tool_choice
        self._send = send
        self._on_update = on_update
        self._approve = approve
        self._clock = clock or SystemClock()
        self._calls: dict[str, _Call] = {}
        self._responses: dict[str, _ResponseCalls] = {}

    # ---------------------------------------------------------------- config
    def session_fields(self) -> dict[str, Any]:
        """``tools`` and ``tool_choice`` for the session configuration (nothing when there are no tools)."""
        if not self.tools:
            return {}
        return {"tools": [tool_definition(tool) for tool in self.tools.values()], "tool_choice": self.tool_choice}

    @property
    def running(self) -> bool:
        return any(not call.finished for call in self._calls.values())

    def _secrets(self) -> list[str]:
        return [secret for tool in self.tools.values() for secret in tool.secrets() if secret]

    # ---------------------------------------------------------------- server events
    def call_requested(self, item: dict[str, Any], response_id: str | None) -> None:
        """A ``function_call`` item is complete (``response.output_item.done``): start it."""
        call_id = str(item.get("call_id") or "")
        if not call_id or call_id in self._calls:
            return
        call = _Call(call_id, str(item.get("name") or ""), str(item.get("arguments") or ""), response_id,
                     item.get("id"))
        self._calls[call_id] = call
        if response_id is not None:
            self._responses.setdefault(response_id, _ResponseCalls()).calls.add(call_id)
        call.task = asyncio.get_running_loop().create_task(self._run(call), name=f"voxflow-tool {call.name}")

    def response_done(self, response_id: str | None, status: str) -> None:
        """The response that asked for calls is over: once they all answered, ask for the next one."""
        group = self._responses.get(response_id or "")
        if group is None:
            return
        group.done = True
        group.cancelled = group.cancelled or status == "cancelled"
        self._maybe_continue(response_id or "")

    def cancel_all(self, reason: str = "cancelled") -> None:
        """Barge-in, response.cancel or the session ending: cancel every running call."""
        for group in self._responses.values():
            group.cancelled = True
        for call in self._calls.values():
            if call.task is not None and not call.task.done():
                call.task.cancel(reason)

    async def aclose(self) -> None:
        self.cancel_all("the session ended")
        tasks = [call.task for call in self._calls.values() if call.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)

    # ---------------------------------------------------------------- one call
    async def _run(self, call: _Call) -> None:
        started = self._clock.monotonic()
        shown_arguments = redact(call.arguments, *self._secrets())
        tool = self.tools.get(call.name)
        node_id = tool.node_id if tool is not None else None

        def update(status: ToolStatus, result: str = "") -> None:
            duration = None if status is ToolStatus.RUNNING else max(0.0, self._clock.monotonic() - started)
            info = ToolCallInfo(call.call_id, call.name, shown_arguments, str(status), duration, result, node_id)
            self._on_update(ToolCallUpdated(info, call.item_id))

        update(ToolStatus.RUNNING)
        try:
            status, output = await self._execute(tool, call)
        except asyncio.CancelledError:
            output = "error: the call was cancelled (the user interrupted)"
            call.finished = True
            self._output(call, output)
            update(ToolStatus.CANCELLED, output)
            raise
        output = cap_output(redact(output, *self._secrets()))
        call.finished = True
        self._output(call, output)
        update(status, output)
        if call.response_id is not None:
            self._maybe_continue(call.response_id)

    async def _execute(self, tool: Tool | None, call: _Call) -> tuple[ToolStatus, str]:
        if tool is None:
            names = ", ".join(self.tools) or "none"
            return ToolStatus.ERROR, f"error: there is no tool named {call.name!r} (tools: {names})"
        try:
            arguments = json.loads(call.arguments or "{}")
        except json.JSONDecodeError as error:
            return ToolStatus.ERROR, f"error: the arguments are not valid JSON ({error.msg}); send a JSON object"
        problem = check_arguments(tool.parameters, arguments)
        if problem is not None:
            return ToolStatus.ERROR, f"error: invalid arguments for {tool.name}: {problem}"
        if tool.confirm:
            if self._approve is None:
                return ToolStatus.REFUSED, "refused: this tool needs the operator's approval and none can be asked"
            if not await self._approve(ToolCallRequest(call.call_id, tool.name, arguments)):
                return ToolStatus.REFUSED, "refused: the operator did not approve this call"
        try:
            return ToolStatus.DONE, await tool.call(arguments)
        except ToolError as error:
            return ToolStatus.ERROR, f"error: {error}"
        except Exception as error:  # a tool's bug must not end the conversation
            log.warning("tool %s failed: %s", tool.name, type(error).__name__)
            return ToolStatus.ERROR, f"error: the tool failed ({type(error).__name__})"

    def _output(self, call: _Call, output: str) -> None:
        self._send({"type": "conversation.item.create",
                    "item": {"type": "function_call_output", "call_id": call.call_id, "output": output}})

    def _maybe_continue(self, response_id: str) -> None:
        group = self._responses.get(response_id)
        if group is None or not group.done:
            return
        if not all(self._calls[call_id].finished for call_id in group.calls):
            return
        del self._responses[response_id]
        if not group.cancelled:
            self._send({"type": "response.create"})
