"""A turn's ``expect:`` against what happened: one :class:`~flow.scenarios.results.Check` per key.

Each check says what was expected and what came, in words a failure line can
print as is (``reply expected /(?i)paris/, got 'It is sunny.' at 4.12s``),
with the moment in the recording where the evidence is. Pure functions of the
turn as observed, so every kind is tested on hand-made turns too.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from collections.abc import Iterable
from typing import Any

from audio.speech import word_error_rate
from flow.scenarios.results import Check, ToolCall, Turn
from flow.scenarios.spec import CallExpect, Expect

MAX_SHOWN = 80


def shown(text: str) -> str:
    """``text`` quoted, cut to a readable length."""
    text = " ".join(text.split())
    return repr(text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 1] + "…")


def check_turn(expect: Expect, turn: Turn, *, reference: str | None) -> tuple[Check, ...]:
    """Every check ``expect`` asks for (``reference``: what the caller said, for the transcript check)."""
    checks: list[Check] = []
    reply_at = turn.reply_start_s if turn.reply_start_s is not None else turn.caller_end_s
    if expect.reply is not None:
        matched = re.search(expect.reply, turn.reply) is not None
        checks.append(Check("reply", matched, f"/{expect.reply}/", shown(turn.reply) if turn.reply else "no reply", reply_at))
    if expect.reply_not is not None:
        found = re.search(expect.reply_not, turn.reply)
        checks.append(Check("reply_not", found is None, f"not /{expect.reply_not}/",
                            shown(turn.reply) if found is None else f"{shown(turn.reply)} (matched {found.group(0)!r})",
                            reply_at))
    if expect.tool is not None:
        wanted = expect.tool
        hit = any(call.name == wanted.name and contains(call.arguments, wanted.arguments) for call in turn.tool_calls)
        expected = wanted.name + (f" {json.dumps(wanted.arguments, ensure_ascii=False)}" if wanted.arguments else "")
        checks.append(Check("tool", hit, expected, calls_text(turn.tool_calls), turn.caller_end_s))
    if expect.no_tool is not None:
        banned = [call for call in turn.tool_calls if not expect.no_tool or call.name in expect.no_tool]
        expected = "no tool call" if not expect.no_tool else f"no call of {', '.join(expect.no_tool)}"
        checks.append(Check("no_tool", not banned, expected, calls_text(turn.tool_calls), turn.caller_end_s))
    if expect.within is not None:
        latency = turn.latency_s
        checks.append(Check("within", latency is not None and latency <= expect.within, f"a reply within {expect.within:g}s",
                            "no reply audio" if latency is None else f"{latency:.2f}s", reply_at))
    if expect.transcript is not None:
        text = expect.transcript.text if expect.transcript.text is not None else reference or ""
        wer = word_error_rate(turn.heard, text)
        checks.append(Check("transcript", wer <= expect.transcript.max_wer,
                            f"{shown(text)} heard with WER <= {expect.transcript.max_wer:g}",
                            f"{shown(turn.heard) if turn.heard else 'nothing heard'} (WER {wer:.2f})", turn.caller_start_s))
    if expect.interrupted is not None:
        checks.append(Check("interrupted", turn.interrupted == expect.interrupted,
                            "the reply cut by the caller" if expect.interrupted else "the reply played to its end",
                            "it was cut" if turn.interrupted else "it played to its end", turn.reply_end_s or reply_at))
    if expect.yielded is not None:
        if turn.yielded is None:
            actual = "no backchannel was said during a reply"
        else:
            actual = "it stopped talking" if turn.yielded else "it kept talking"
        checks.append(Check("yielded", turn.yielded is expect.yielded,
                            "the agent stops for the backchannel" if expect.yielded else "the agent talks on over the backchannel",
                            actual, turn.reply_end_s or reply_at))
    return tuple(checks)


def check_call(expect: CallExpect, turns: tuple[Turn, ...]) -> tuple[Check, ...]:
    """A scenario's ``expect`` (tools anywhere in the call), as checks of its last turn; ``judge`` is graded apart."""
    if not turns or (expect.tool is None and expect.no_tool is None):
        return ()
    calls = tuple(call for turn in turns for call in turn.tool_calls)
    whole = Turn(index=turns[-1].index, said="", tool_calls=calls, caller_end_s=turns[-1].caller_end_s)
    checks = check_turn(Expect(tool=expect.tool, no_tool=expect.no_tool), whole, reference=None)
    found: dict[str, float | None] = {}
    for turn in turns:  # the evidence is where the call was made
        for call in turn.tool_calls:
            found.setdefault(call.name, turn.caller_end_s)
    placed = []
    for check in checks:
        name = expect.tool.name if check.kind == "tool" and expect.tool is not None else None
        at = found.get(name, check.at_s) if name is not None and check.passed else check.at_s
        if check.kind == "no_tool" and not check.passed:
            at = next((found[call.name] for call in calls if not expect.no_tool or call.name in expect.no_tool), at)
        placed.append(replace(check, expected=f"in the call: {check.expected}", at_s=at))
    return tuple(placed)


def contains(actual: Any, wanted: Any) -> bool:
    """Whether ``actual`` holds ``wanted``: mappings by subset (recursively), everything else by equality."""
    if isinstance(wanted, dict):
        return isinstance(actual, dict) and all(key in actual and contains(actual[key], value) for key, value in wanted.items())
    return bool(actual == wanted)


def calls_text(calls: Iterable[ToolCall]) -> str:
    listed = [f"{call.name} {json.dumps(call.arguments, ensure_ascii=False)}" + (" (stubbed)" if call.stubbed else "")
              for call in calls]
    return "; ".join(listed) if listed else "no tool call"
