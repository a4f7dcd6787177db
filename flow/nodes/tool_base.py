"""What every tool node shares: the ``tool`` output, the function's settings, and serving.

A tool node opens what it needs (an HTTP client, an MCP session), emits a
:class:`ToolSet` on its ``tool`` output once, then *serves*: it stays alive
until every conversation it feeds has finished, showing ``running`` while a
call is in flight and ``waiting`` in between. Settings are checked when the
flow loads (JSON Schema of the parameters, placeholders that must name a
parameter), so a broken tool is a ``FILE:LINE:COL`` error, not a surprise
mid-conversation.
"""

from __future__ import annotations

import abc
import contextlib
import re
import string
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import Field, field_validator

from audio.session.tools import Tool, schema_problem
from flow.nodes.base import Node, NodeContext, NodeSettings, Port, PortType

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m)?\s*$")
NAME_PATTERN = r"^[a-zA-Z0-9_-]{1,64}$"


def seconds(value: Any) -> float:
    """``5``, ``"5s"``, ``"500ms"``, ``"1m"`` as seconds (a setting validator)."""
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or a text such as 5s, 500ms or 1m")
    if isinstance(value, int | float):
        result = float(value)
    else:
        match = _DURATION.match(str(value))
        if match is None:
            raise ValueError("a duration is a number of seconds or a text such as 5s, 500ms or 1m")
        result = float(match.group(1)) * {"ms": 0.001, "s": 1.0, "m": 60.0, None: 1.0}[match.group(2)]
    if result <= 0:
        raise ValueError("a duration must be longer than zero")
    return result


@dataclass(frozen=True)
class ToolSet:
    """What travels on a ``tool`` edge: the node's tools."""

    node_id: str
    tools: tuple[Tool, ...]


class FunctionSettings(NodeSettings):
    """One function the model sees."""

    name: str = Field(pattern=NAME_PATTERN, description="The function name the model sees, e.g. get_weather.")
    description: str = Field(default="", description="What the function does; the model reads it to decide when to call.")
    parameters: dict[str, Any] = Field(
        default_factory=lambda: {"type": "object", "properties": {}},
        description="JSON Schema of the arguments (an object).",
    )
    confirm: bool = Field(default=False, description="Ask the operator before each call (headless: --approve-tools).")
    timeout: float = Field(default=10.0, description="Seconds (or 5s, 500ms) before the call gives up.")

    @field_validator("timeout", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> float:
        return seconds(value)


def program(argv: list[str]) -> list[str]:
    """``argv`` with a leading ``python`` meaning the interpreter voxflow runs on (its venv, its packages)."""
    return [sys.executable, *argv[1:]] if argv and argv[0] in ("python", "python3") else list(argv)


def placeholder_names(template: str) -> list[str] | None:
    """``{name}`` placeholders of ``template``; None when it is malformed."""
    try:
        return [field for _, field, _, _ in string.Formatter().parse(template) if field is not None]
    except ValueError:
        return None


def check_function(settings: FunctionSettings, templates: Sequence[tuple[tuple[str | int, ...], str]]) -> list[tuple[tuple[str | int, ...], str]]:
    """The parameters' schema, and placeholders in ``templates`` (path, text) that name no parameter."""
    problems: list[tuple[tuple[str | int, ...], str]] = []
    problem = schema_problem(settings.parameters)
    if problem is not None:
        problems.append((("parameters", *problem[0]), problem[1]))
        return problems
    known = sorted((settings.parameters.get("properties") or {}).keys())
    for path, template in templates:
        names = placeholder_names(template)
        if names is None:
            problems.append((path, f"{template!r} is malformed: use {{name}} placeholders and {{{{ }}}} for literal braces"))
            continue
        for name in names:
            if name not in known:
                problems.append((path, f"placeholder {{{name}}} does not name a parameter (parameters: {', '.join(known) or 'none'})"))
    return problems


def fill(template: str, arguments: dict[str, Any], quote: Any = None) -> str:
    """``template`` with ``{name}`` replaced by the argument (``quote``-d when given; missing ones empty)."""
    parts: list[str] = []
    for literal, field, _, _ in string.Formatter().parse(template):
        parts.append(literal)
        if field is not None:
            value = arguments.get(field, "")
            text = value if isinstance(value, str) else ("" if value is None else _json_scalar(value))
            parts.append(quote(text) if quote else text)
    return "".join(parts)


def _json_scalar(value: Any) -> str:
    import json

    return json.dumps(value) if not isinstance(value, int | float) or isinstance(value, bool) else str(value)


class _InFlight:
    """Counts a node's calls in flight: its status is ``running`` while any is."""

    def __init__(self, ctx: NodeContext) -> None:
        self._ctx = ctx
        self.count = 0

    def enter(self) -> None:
        self.count += 1
        if self.count == 1:
            self._ctx.set_busy(True)

    def leave(self) -> None:
        self.count -= 1
        if self.count == 0:
            self._ctx.set_busy(False)


class _Busy:
    """Wraps a tool so its node shows ``running`` while at least one call is in flight."""

    def __init__(self, tool: Tool, in_flight: _InFlight) -> None:
        self._tool = tool
        self._in_flight = in_flight
        self.name = tool.name
        self.description = tool.description
        self.parameters = tool.parameters
        self.confirm = tool.confirm
        self.node_id = tool.node_id

    async def call(self, arguments: dict[str, Any]) -> str:
        self._in_flight.enter()
        try:
            return await self._tool.call(arguments)
        finally:
            self._in_flight.leave()

    def secrets(self) -> Sequence[str]:
        return self._tool.secrets()

    @property
    def inner(self) -> Tool:
        return self._tool


class ToolNode(Node):
    """Base of the tool node types: subclasses implement :meth:`open_tools`."""

    outputs: ClassVar[tuple[Port, ...]] = (
        Port("tool", PortType.TOOL, description="Connect to a realtime-conversation's tools input."),
    )

    @classmethod
    def tool_names(cls, settings: NodeSettings) -> list[str]:
        """A node with a ``name`` setting offers that one function (mcp-tools learns its names only when running)."""
        name = getattr(settings, "name", None)
        return [name] if isinstance(name, str) else []

    @abc.abstractmethod
    def open_tools(self, ctx: NodeContext) -> contextlib.AbstractAsyncContextManager[list[Tool]]:
        """Open what the tools need for the whole conversation and yield them."""

    async def run(self, ctx: NodeContext) -> None:
        async with self.open_tools(ctx) as tools:
            in_flight = _InFlight(ctx)
            ctx.emit("tool", ToolSet(self.id, tuple(_Busy(tool, in_flight) for tool in tools)))
            ctx.set_busy(False)
            await ctx.until_consumers_finish()


@contextlib.asynccontextmanager
async def nothing_to_open(tools: list[Tool]) -> AsyncIterator[list[Tool]]:
    yield tools
