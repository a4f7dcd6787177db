"""A run's conversation as lines of text: the one wording JUnit's system-out, the HTML report and the judge share.

A run's transcript entries are the JSONL transcript's records (``role``, ``text``, ``start``,
``interrupted``, ``tool``); a run without them (the runner died before the transcript was
kept) is told from its turns. A tool the scenario stubbed is marked ``(stubbed)`` wherever
its calls appear, so nobody mistakes a canned answer for the real tool's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from audio.session import INTERRUPTED_MARK, text_line
from flow.scenarios.results import Run


@dataclass(frozen=True)
class Line:
    """One transcript line: who spoke, when (seconds into the recording), and what."""

    role: str  # user, assistant, tool, session
    text: str
    start_s: float | None = None
    stubbed: bool = False

    def as_text(self, times: bool = True) -> str:
        at = f"[{self.start_s:7.2f}s] " if times and self.start_s is not None else ""
        return at + text_line(self.role, self.text)


def stubbed_tools(run: Run) -> frozenset[str]:
    """Names of the tools whose calls in this run were answered by the scenario's stub."""
    return frozenset(call.name for turn in run.turns for call in turn.tool_calls if call.stubbed)


def transcript_lines(run: Run) -> list[Line]:
    """The run's conversation in order, tool calls included."""
    stubbed = stubbed_tools(run)
    if run.transcript:
        return [_line(record, stubbed) for record in run.transcript]
    lines: list[Line] = []
    for turn in run.turns:
        lines.append(Line("user", turn.said, turn.caller_start_s))
        for call in turn.tool_calls:
            lines.append(Line("tool", _call_text(call.name, call.arguments, call.output, call.stubbed), None, call.stubbed))
        if turn.reply:
            reply = f"{turn.reply} {INTERRUPTED_MARK}" if turn.interrupted else turn.reply
            lines.append(Line("assistant", reply, turn.reply_start_s))
    return lines


def transcript_text(run: Run, *, times: bool = True) -> str:
    """The conversation as ``[  1.20s] User: ...`` lines, one per entry (``times=False``: ``User: ...``, as the judge reads it)."""
    return "\n".join(line.as_text(times) for line in transcript_lines(run))


def _line(record: dict[str, Any], stubbed: frozenset[str]) -> Line:
    role = str(record.get("role", ""))
    start = record.get("start")
    start_s = float(start) if isinstance(start, int | float) else None
    tool = record.get("tool")
    if isinstance(tool, dict):
        name = str(tool.get("name", ""))
        is_stub = name in stubbed
        return Line("tool", _call_text(name, tool.get("arguments"), tool.get("result"), is_stub), start_s, is_stub)
    text = str(record.get("text", ""))
    if record.get("interrupted"):
        text = f"{text.rstrip()} {INTERRUPTED_MARK}".lstrip()
    return Line(role, text, start_s)


def _call_text(name: str, arguments: Any, output: Any, stubbed: bool) -> str:
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False, sort_keys=True)
    mark = " (stubbed)" if stubbed else ""
    result = "" if output is None else f" -> {output}"
    return f"{name}{mark} {arguments}{result}"
