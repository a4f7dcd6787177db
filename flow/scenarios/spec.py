"""The scenario file's shape: pydantic models, and the JSON Schema generated from them.

A scenario file says which flow to call, how the caller sounds, and what each
scenario's caller says, does and expects, turn by turn. The models forbid
unknown keys, so a typo is an error with a suggestion (:mod:`flow.scenarios.loader`
maps pydantic's errors to ``FILE:LINE:COL``). Shorthands (``tool: get_weather``,
``no_tool: true``, ``backchannel: 0.8s``) are turned into their full form
before validation, so every field has one type and every error one place.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, TypeAdapter, WithJsonSchema, model_validator

from flow.nodes.realtime import seconds_setting
from flow.nodes.tool_base import seconds as positive_seconds

ESPEAK_PREFIX = "espeak:"
OPENAI_PREFIX = "openai:"
DEFAULT_VOICE = "espeak:en-us"
DURATION_SCHEMA = {"anyOf": [{"type": "number", "minimum": 0},
                             {"type": "string", "pattern": r"^\s*(\d+(\.\d+)?\s*(ms|s|m)\s*)+$"}]}


def duration(value: Any) -> Any:
    """``0.6s``, ``500ms``, ``1m30s`` or a number of seconds, as flows write durations."""
    if isinstance(value, str) and value.strip().lower().endswith("ms"):
        return positive_seconds(value)
    return seconds_setting(value)


Seconds = Annotated[float, BeforeValidator(duration), WithJsonSchema(DURATION_SCHEMA)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CallerSpec(_Strict):
    """How the scripted caller sounds and how long it waits after a reply."""

    voice: str = Field(default=DEFAULT_VOICE, pattern=r"^((espeak|openai):)?[A-Za-z0-9_+-]+$",
                       description="espeak:VOICE (eSpeak NG, offline: espeak:en-us, espeak:en-gb-x-rp, espeak:en-us+f3) "
                                   "or openai:NAME (OpenAI's voices: openai:marin; a bare NAME is the same).")
    pause: Seconds = Field(default=0.6, ge=0, le=30, description="Silence after a reply before the next turn.")

    @property
    def engine(self) -> str:
        """``espeak`` or ``openai``: who speaks the text turns."""
        return "espeak" if self.voice.startswith(ESPEAK_PREFIX) else "openai"

    @property
    def voice_name(self) -> str:
        """The voice without its engine prefix (``en-us``, ``marin``)."""
        return self.voice.removeprefix(ESPEAK_PREFIX).removeprefix(OPENAI_PREFIX)

    persona: str | None = Field(default=None, min_length=1,
                                description="AI caller: who it is and how it talks (a second Realtime session plays it).")
    goal: str | None = Field(default=None, min_length=1,
                             description="AI caller: what it wants from the call; it hangs up when the goal is met.")
    max_turns: int = Field(default=8, ge=1, le=100, description="AI caller: the most turns it takes before giving up.")
    script: str | None = Field(default=None, min_length=1,
                               description="AI caller against the local server (--provider local): its rule script "
                                           "(when, say, call: end_call), relative to this file.")


class CallerOverride(_Strict):
    """A scenario's own AI caller: its persona, goal, turn limit or rule script, over the file's ``caller``."""

    persona: str | None = Field(default=None, min_length=1)
    goal: str | None = Field(default=None, min_length=1)
    max_turns: int | None = Field(default=None, ge=1, le=100)
    script: str | None = Field(default=None, min_length=1)


class ToolStub(_Strict):
    """The fixed output a stubbed tool returns (text, or any JSON value)."""

    output: Any = Field(description="What the model gets back instead of running the tool.")

    @property
    def text(self) -> str:
        return self.output if isinstance(self.output, str) else json.dumps(self.output, ensure_ascii=False)


class NoiseSpec(_Strict):
    """Background noise mixed into the caller's audio at a signal-to-noise ratio."""

    snr: float = Field(ge=-10, le=60, description="Speech level over noise level, in dB.")
    file: str | None = Field(default=None, description="A recording to loop (relative to this file); white noise when left out.")


class LineSpec(_Strict):
    """A bad line: the caller's 20 ms packets lost and delayed, as a receiver's jitter buffer plays them."""

    loss: float = Field(default=0.0, ge=0, le=0.5, description="Share of packets lost (0..0.5).")
    jitter: Seconds = Field(default=0.0, ge=0, le=0.2, description="Delay variation per packet (0..0.2 s).")


def _backchannel(value: Any) -> Any:
    if value is True:
        return {}
    if value is False:
        return None
    if isinstance(value, int | float | str):
        return {"after": value}
    return value


class Backchannel(_Strict):
    """Something short the caller says over the reply ("mm-hmm"): does the agent keep talking?"""

    after: Seconds | None = Field(default=None, ge=0, le=30,
                                  description="Seconds into the reply; left out: a seeded moment 0.3-0.9 s in.")
    say: str = Field(default="mm-hmm", min_length=1)


def _tool_expect(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class ToolExpect(_Strict):
    name: str = Field(min_length=1)
    arguments: dict[str, Any] = Field(default_factory=dict, description="A subset the call's arguments must contain.")


def _no_tool(value: Any) -> Any:
    if value is True:
        return []
    if value is False:
        return None
    if isinstance(value, str):
        return [value]
    return value


class TranscriptExpect(_Strict):
    text: str | None = Field(default=None, description="What the caller said (default: the turn's say).")
    max_wer: float = Field(default=0.3, ge=0, le=10, description="Highest word error rate of what the service heard.")


class Expect(_Strict):
    """What must hold for a turn; each key is one check."""

    reply: str | None = Field(default=None, description="A regular expression the reply must match.")
    reply_not: str | None = Field(default=None, description="A regular expression the reply must not match.")
    tool: Annotated[ToolExpect | None, BeforeValidator(_tool_expect)] = Field(
        default=None, description="A tool the agent calls in this turn: a name, or {name, arguments}.")
    no_tool: Annotated[list[str] | None, BeforeValidator(_no_tool)] = Field(
        default=None, description="true: no tool at all; a name or a list: none of these.")
    within: Seconds | None = Field(default=None, gt=0, description="End of the caller's speech -> first reply audio.")
    transcript: TranscriptExpect | None = None
    interrupted: bool | None = Field(default=None, description="Whether the reply was cut by the caller.")
    yielded: bool | None = Field(default=None, description="Whether the agent stopped talking for the backchannel.")
    judge: str | None = Field(default=None, min_length=1,
                              description="A criterion in plain words a model grades the run's transcript against "
                                          "(reported apart; it never decides the run).")


def _criteria(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class CallExpect(_Strict):
    """What must hold for the whole call, whichever turn it happens in (an AI caller's turns have no ``expect``)."""

    tool: Annotated[ToolExpect | None, BeforeValidator(_tool_expect)] = Field(
        default=None, description="A tool the agent calls at some point in the call: a name, or {name, arguments}.")
    no_tool: Annotated[list[str] | None, BeforeValidator(_no_tool)] = Field(
        default=None, description="true: no tool in the whole call; a name or a list: none of these.")
    judge: Annotated[list[Annotated[str, Field(min_length=1)]], BeforeValidator(_criteria)] = Field(
        default_factory=list, description="Criteria in plain words a model grades the whole call against "
                                          "(reported apart; they never decide the run).")


class TurnSpec(_Strict):
    """One thing the caller says, how, and what it expects back."""

    say: str | None = Field(default=None, min_length=1, description="Text, spoken by the caller's voice.")
    say_file: str | None = Field(default=None, min_length=1, description="A recording (any format voxflow reads), relative to this file.")
    silence_before: Seconds = Field(default=0.0, ge=0, le=120, description="The caller says nothing this long first.")
    interrupt_after: Seconds | None = Field(default=None, gt=0, le=60,
                                            description="Barge in: say this turn this long into the previous turn's reply.")
    backchannel: Annotated[Backchannel | None, BeforeValidator(_backchannel)] = None
    noise: NoiseSpec | None = Field(default=None, description="Noise while this turn is spoken.")
    expect: Expect = Field(default_factory=Expect)

    @model_validator(mode="after")
    def _one_utterance(self) -> TurnSpec:
        if (self.say is None) == (self.say_file is None):
            raise ValueError("a turn has either say: (text) or say_file: (a recording), not both or neither")
        return self

    @property
    def said(self) -> str:
        return self.say if self.say is not None else str(self.say_file)


class JudgeSpec(_Strict):
    """How ``expect.judge`` criteria are graded against the local server: a rule script says PASS or FAIL."""

    script: str = Field(min_length=1, description="The judge's rule script for --provider local (when, say), "
                                                  "relative to this file; --provider openai asks the real model.")


class ScenarioSpec(_Strict):
    name: str = Field(min_length=1)
    repeat: int = Field(default=1, ge=1, le=10_000, description="How many runs (--repeat overrides).")
    pass_rate: float = Field(default=1.0, ge=0, le=1, description="The share of runs that must pass.")
    seed: int | None = Field(default=None, description="Run N uses seed + N - 1 (default: derived from the file's seed and the name).")
    tools: dict[str, ToolStub] = Field(default_factory=dict, description="Stubs for this scenario (over the file's).")
    noise: NoiseSpec | None = Field(default=None, description="Background noise through the whole call.")
    line: LineSpec | None = None
    caller: CallerOverride | None = Field(default=None, description="This scenario's AI caller (over the file's).")
    expect: CallExpect = Field(default_factory=CallExpect, description="Checks on the whole call.")
    turns: list[TurnSpec] = Field(default_factory=list,
                                  description="Scripted turns, said first; an AI caller with a goal goes on after them.")


class ScenarioFileSpec(_Strict):
    version: Literal[1] = Field(description="Scenario format version; always 1.")
    flow: str = Field(min_length=1, description="The flow to call, relative to this file.")
    caller: CallerSpec = Field(default_factory=CallerSpec)
    seed: int = Field(default=0, description="Where every run's seed is derived from.")
    tools: dict[str, ToolStub] = Field(default_factory=dict, description="Tools stubbed in every scenario.")
    judge: JudgeSpec | None = Field(default=None, description="How expect.judge is graded offline.")
    scenarios: list[ScenarioSpec] = Field(min_length=1)


TITLES: dict[type[BaseModel], str] = {
    ScenarioFileSpec: "the scenario file", CallerSpec: "caller", ToolStub: "a tool stub", NoiseSpec: "noise",
    LineSpec: "line", Backchannel: "backchannel", ToolExpect: "expect.tool", TranscriptExpect: "expect.transcript",
    Expect: "expect", JudgeSpec: "judge", TurnSpec: "a turn", ScenarioSpec: "a scenario", CallerOverride: "caller",
    CallExpect: "a scenario's expect",
}


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a scenario file, for editors."""
    schema = TypeAdapter(ScenarioFileSpec).json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "voxflow scenarios"
    return schema
