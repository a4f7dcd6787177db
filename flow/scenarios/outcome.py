"""What a call's turns came to: the caller's log, the transcript and the recording, made into results.

The caller knows when it spoke and which transcript items and tool calls came
in each of its turns; the transcript says what was heard and answered (its
latest text); the recording says when the assistant was audible. A turn's
reply is looked for on the recording from the end of the caller's utterance
(or the creation of the turn's first reply item, if later: audio before it is
the tail of a reply the caller cut) to the end of its next utterance (a reply
it barged in on is cut after the next utterance began), so the latency read
there is the one a person on the line would measure.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from audio.session import TranscriptEntry
from flow.scenarios.ai_caller import Hangup
from flow.scenarios.caller import Caller, TurnLog
from flow.scenarios.checks import check_turn, shown
from flow.scenarios.recording import Activity
from flow.scenarios.results import Check, ToolCall, Turn
from flow.scenarios.script import CallerScript


def build_turns(caller: Caller, script: CallerScript, activity: Activity | None, stubs: set[str]) -> tuple[Turn, ...]:
    """One checked :class:`Turn` per turn the caller began."""
    turns = []
    logs = caller.logs
    for position, log in enumerate(logs):
        following = logs[position + 1] if position + 1 < len(logs) else None
        turn = _turn(caller, log, following, activity, stubs)
        if not log.improvised:  # the AI caller's turns expect nothing of their own: its goal is the check
            spec = script.turns[log.index - 1]
            turn = replace(turn, checks=check_turn(spec.expect, turn, reference=spec.text))
        turns.append(turn)
    return tuple(turns)


def goal_check(goal: str, hangup: Hangup | None, *, turns: int, max_turns: int, cut_off: bool,
               at_s: float | None) -> Check:
    """Whether the AI caller got what it called for: it hung up saying so (not cut off, not out of turns)."""
    if hangup is None:
        actual = (f"not met: the call ended after {turns} turn(s) without the caller hanging up" if cut_off
                  else f"not met: no hang-up after {turns} turn(s), the limit" if turns >= max_turns
                  else f"not met: the caller stopped after {turns} turn(s) without hanging up")
        return Check(kind="goal", passed=False, expected=shown(goal), actual=actual, at_s=at_s)
    actual = "met" if hangup.goal_met else "not met: the caller hung up without it"
    return Check(kind="goal", passed=hangup.goal_met, expected=shown(goal), actual=actual, at_s=at_s,
                 reason=hangup.reason)


def _turn(caller: Caller, log: TurnLog, following: TurnLog | None, activity: Activity | None, stubs: set[str]) -> Turn:
    entries = [entry for item in log.items if (entry := caller.tracker.entry(item)) is not None]
    heard = " ".join(entry.text for entry in entries
                     if entry.role == "user" and entry.text and not entry.failed and not caller.is_backchannel(entry))
    replies = [entry for entry in entries if entry.role == "assistant"]
    reply_start = reply_end = latency = None
    if activity is not None and log.caller_end_s is not None:
        # the reply's audio follows its item: what is heard before (a cut reply's tail) belongs to the last turn
        first = replies[0].start if replies else log.caller_end_s
        span = activity.assistant_span(max(log.caller_end_s, first), following.caller_end_s if following is not None else None)
        if span is not None:
            reply_start, reply_end = span
            latency = max(0.0, reply_start - log.caller_end_s)
    talk_over = None
    if activity is not None and log.caller_start_s is not None:
        talk_over = activity.talk_over(log.caller_start_s, following.caller_start_s if following is not None else None)
    yielded = None
    if log.backchannel_start_s is not None:
        yielded = any(cut >= log.backchannel_start_s - 0.05 for cut in log.cuts)
    return Turn(
        index=log.index,
        said=log.said,
        heard=heard,
        reply=" ".join(entry.text for entry in replies if entry.text),
        interrupted=any(entry.interrupted for entry in replies),
        yielded=yielded,
        caller_start_s=_rounded(log.caller_start_s),
        caller_end_s=_rounded(log.caller_end_s),
        reply_start_s=_rounded(reply_start),
        reply_end_s=_rounded(reply_end),
        latency_s=_rounded(latency),
        latency_events_s=_rounded(log.latency_events_s),
        talk_over_s=_rounded(talk_over),
        tool_calls=tuple(_tool_call(call.name, call.arguments, call.result, call.status, stubs)
                         for call in log.calls.values() if call.status != "running"),
    )


def _tool_call(name: str, arguments: str, result: str, status: str, stubs: set[str]) -> ToolCall:
    try:
        parsed: Any = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError:
        parsed = {"(unparsed)": arguments}
    if not isinstance(parsed, dict):
        parsed = {"(value)": parsed}
    output = result if status == "done" else f"[{status}] {result}".strip()
    return ToolCall(name, parsed, output, stubbed=name in stubs)


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def transcript_records(entries: list[TranscriptEntry]) -> tuple[dict[str, Any], ...]:
    """The run's transcript as the JSONL transcript has it, one dict per entry."""
    from audio.session import to_jsonl

    return tuple(json.loads(line) for line in to_jsonl(entries).splitlines() if line.strip())
