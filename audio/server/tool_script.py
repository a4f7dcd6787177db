"""The local server's rule script: what the user said decides the reply and the function calls.

Tool calls must be testable offline and deterministically, so instead of a
model the local server follows a YAML list of rules; the first whose ``when``
regex matches the user's words wins::

    - when: "(?i)weather.*(paris|london)"
      call: get_weather
      arguments: {city: "{1}"}          # regex groups fill arguments
      say: "It is {tool_output}."       # spoken once the function output arrived
    - when: ".*"
      say: "You said: {text}"

A rule without ``call`` just replies. A rule with ``call`` makes the response
a ``function_call`` item (the service's event sequence, see
:func:`emit_function_call`); the response after the client's
``function_call_output`` speaks ``say`` (or a short default line) filled with
``{tool_output}``, ``{text}`` and the groups ``{1}``, ``{2}``...
"""

from __future__ import annotations

import asyncio
import json
import re
import string
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import yaml

from audio.base.errors import VoxflowError
from audio.wire.objects import new_id

DEFAULT_SAY = "The {tool} tool says: {tool_output}"
NO_MATCH = "I have no answer for that."
OUTPUT_WAIT_S = 30.0
NO_OUTPUT = "The {tool} tool gave no answer."


@dataclass(frozen=True)
class Rule:
    when: re.Pattern[str]
    call: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    say: str | None = None


@dataclass(frozen=True)
class ToolScript:
    """Rules, checked when the script is read (so a typo fails at start, not mid-call)."""

    rules: tuple[Rule, ...]

    @classmethod
    def parse(cls, text: str, source: str = "the script") -> ToolScript:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
            raise VoxflowError(f"{source}{where}: not valid YAML ({getattr(error, 'problem', error)})") from None
        if not isinstance(data, list) or not data:
            raise VoxflowError(f"{source}: a rule script is a YAML list of rules (when, call, arguments, say)")
        rules = []
        for index, raw in enumerate(data, start=1):
            where = f"{source}: rule {index}"
            if not isinstance(raw, dict) or not isinstance(raw.get("when"), str):
                raise VoxflowError(f"{where}: each rule is a mapping with a 'when' regex")
            unknown = sorted(set(raw) - {"when", "call", "arguments", "say"})
            if unknown:
                raise VoxflowError(f"{where}: unknown key {unknown[0]!r} (keys: when, call, arguments, say)")
            try:
                pattern = re.compile(raw["when"])
            except re.error as error:
                raise VoxflowError(f"{where}: 'when' is not a valid regex ({error})") from None
            call, arguments, say = raw.get("call"), raw.get("arguments") or {}, raw.get("say")
            if call is not None and not isinstance(call, str):
                raise VoxflowError(f"{where}: 'call' is a function name")
            if not isinstance(arguments, dict):
                raise VoxflowError(f"{where}: 'arguments' is a mapping, e.g. {{city: \"{{1}}\"}}")
            if say is not None and not isinstance(say, str):
                raise VoxflowError(f"{where}: 'say' is a text")
            if call is None and say is None:
                raise VoxflowError(f"{where}: give 'say', 'call' or both")
            rules.append(Rule(pattern, call, arguments, say))
        return cls(tuple(rules))

    def match(self, heard: str) -> tuple[Rule, dict[str, str]] | None:
        """The first rule matching ``heard`` and its placeholder values (text, 1, 2, ...)."""
        for rule in self.rules:
            found = rule.when.search(heard)
            if found is not None:
                values = {"text": heard}
                values.update({str(i): (group or "") for i, group in enumerate(found.groups(), start=1)})
                return rule, values
        return None


def looks_like_rules(text: str) -> bool:
    """Whether a ``--script`` file is a rule script (a YAML list of mappings) rather than reply lines."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(data, list) and bool(data) and all(isinstance(item, dict) for item in data)


def _fill(template: str, values: dict[str, str]) -> str:
    """``template`` with ``{name}`` filled from ``values`` (unknown names stay as written)."""
    out = []
    for literal, name, _, _ in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(values.get(name, "{" + name + "}"))
    return "".join(out)


def _fill_arguments(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return _fill(value, values)
    if isinstance(value, dict):
        return {key: _fill_arguments(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill_arguments(item, values) for item in value]
    return value


@dataclass(frozen=True)
class FunctionCall:
    name: str
    call_id: str
    arguments: str  # JSON


@dataclass
class _Pending:
    call: FunctionCall
    say: str
    values: dict[str, str]
    output: asyncio.Future[str]


@dataclass(frozen=True)
class Plan:
    """What the next response does: call a function, or say ``text`` (``await reply()`` for it)."""

    call: FunctionCall | None = None
    reply: Callable[[], Any] | None = None


class ScriptedConversation:
    """One call's position in a rule script: the function call waiting for its output, if any."""

    def __init__(self, script: ToolScript) -> None:
        self.script = script
        self._pending: _Pending | None = None  # the call the next response answers
        self._outputs: dict[str, asyncio.Future[str]] = {}  # call_id -> its output, until it arrived

    def plan(self, heard: str) -> Plan:
        pending = self._pending
        self._pending = None
        if pending is not None and heard == pending.values["text"]:  # the response after the call's output
            return Plan(reply=lambda: self._after_output(pending))
        # a new user turn (e.g. a barge-in while the tool ran): the pending call is dropped
        matched = self.script.match(heard)
        if matched is None:
            return Plan(reply=_constant(NO_MATCH))
        rule, values = matched
        if rule.call is None:
            return Plan(reply=_constant(_fill(rule.say or "", values)))
        arguments = json.dumps(_fill_arguments(rule.arguments, values), ensure_ascii=False)
        call = FunctionCall(rule.call, new_id("call"), arguments)
        output: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._outputs = {call.call_id: output}  # an older call no longer gets a reply
        self._pending = _Pending(call, rule.say or DEFAULT_SAY, {**values, "tool": rule.call}, output)
        return Plan(call=call)

    def output_arrived(self, call_id: str, output: str) -> None:
        """A ``function_call_output`` item for ``call_id`` was created."""
        future = self._outputs.pop(call_id, None)
        if future is not None and not future.done():
            future.set_result(output)

    async def _after_output(self, pending: _Pending) -> str:
        try:
            output = await asyncio.wait_for(asyncio.shield(pending.output), OUTPUT_WAIT_S)
        except TimeoutError:
            return _fill(NO_OUTPUT, pending.values)
        text = " ".join(output.split())  # one spoken line
        return _fill(pending.say, {**pending.values, "tool_output": text})


def _constant(text: str) -> Callable[[], Any]:
    async def reply() -> str:
        return text

    return reply


def emit_function_call(send: Callable[..., None], response_id: str, call: FunctionCall,
                       add_item: Callable[[dict[str, Any], str | None], None], previous: str | None) -> dict[str, Any]:
    """The service's events for a response that is one function call; returns the finished item."""
    item = {"id": new_id("item"), "object": "realtime.item", "type": "function_call", "status": "in_progress",
            "name": call.name, "call_id": call.call_id, "arguments": ""}
    ids = {"response_id": response_id, "item_id": item["id"], "output_index": 0, "call_id": call.call_id}
    send("response.output_item.added", response_id=response_id, output_index=0, item=dict(item))
    add_item(item, previous)
    half = len(call.arguments) // 2
    for delta in (call.arguments[:half], call.arguments[half:]):
        if delta:
            send("response.function_call_arguments.delta", delta=delta, **ids)
    send("response.function_call_arguments.done", arguments=call.arguments, name=call.name, **ids)
    item.update(status="completed", arguments=call.arguments)
    send("conversation.item.done", item=dict(item), previous_item_id=previous)
    send("response.output_item.done", response_id=response_id, output_index=0, item=dict(item))
    return item
