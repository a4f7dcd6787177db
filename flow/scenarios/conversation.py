"""One scenario run: the flow run headless with the caller on the line, recorded, checked, as a :class:`Run`.

It does what the headless runner does without a terminal (a
:class:`~flow.engine.FlowEngine`, the realtime session followed through its
events) and adds the caller: the caller speaks into the conversation's input,
the session records both sides on one clock into the run's artifacts, and
when the caller is done (or cannot go on) the flow is stopped and every
node closes what it opened. The verdict is the turns' checks; a node that
failed, a session that ended in error or early, or a turn that got no reply
is the run's one-line ``error`` instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path

from audio.base.clock import Clock, SystemClock
from audio.base.errors import VoxflowError
from audio.base.registry import AudioRegistry
from audio.session import RealtimeSession, SessionState, to_markdown
from audio.transports import DirectSecretProvider, SecretProvider
from audio.wire import DEFAULT_BASE_URL
from flow.engine import FlowEngine
from flow.events import FlowEvent, NodeEvent, NodeStatus
from flow.options import RunOptions
from flow.scenarios.ai_caller import DEFAULT_VOICE as DEFAULT_AI_VOICE
from flow.scenarios.ai_caller import AiCaller
from flow.scenarios.caller import Caller, CallerError
from flow.scenarios.caller_source import CallerSource
from flow.scenarios.checks import check_call
from flow.scenarios.ear import CallerEar
from flow.scenarios.harness import LocalServers, conversation_id, flow_for_caller
from flow.scenarios.judge import LOCAL_KEY, judge_turns
from flow.scenarios.loader import ScenarioFile
from flow.scenarios.outcome import build_turns, goal_check, transcript_records
from flow.scenarios.recording import read_activity
from flow.scenarios.results import Run
from flow.scenarios.script import CallerScript, render_script
from flow.scenarios.spec import ScenarioSpec
from flow.scenarios.voice import caller_voice

log = logging.getLogger(__name__)

STOP_SECONDS = 15.0
"""How long a flow may take to close after it was stopped before the run is abandoned as failed."""


@dataclass(frozen=True)
class RunPlan:
    """One run to make: a scenario of a file, its index (1-based) and its seed."""

    file: ScenarioFile
    scenario: ScenarioSpec
    run: int
    seed: int

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.file.name, self.scenario.name, self.run)

    @property
    def label(self) -> str:
        return f"{self.scenario.name} run {self.run}"


@dataclass
class RunSettings:
    """What every run of one ``voxflow test`` shares."""

    artifacts: Path
    provider: str = "local"  # or "openai"
    transport: str | None = None  # None: the flow's
    api_key: str | None = None
    base_url: str | None = None
    servers: LocalServers | None = None  # the local provider's shared servers
    clock: Clock | None = None


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "scenario"


class Conversation:
    """One call; ``await run()`` returns its :class:`Run`, and cancelling it closes everything first."""

    def __init__(self, plan: RunPlan, settings: RunSettings) -> None:
        self.plan = plan
        self.settings = settings
        self.clock: Clock = settings.clock or SystemClock()
        folder = settings.artifacts / slug(Path(plan.file.name).stem) / slug(plan.scenario.name)
        self.recording = folder / f"run-{plan.run}.wav"
        self.transcript_path = folder / f"run-{plan.run}.jsonl"

    async def run(self) -> Run:
        plan = self.plan
        started = self.clock.monotonic()
        self.recording.parent.mkdir(parents=True, exist_ok=True)
        script = await render_script(plan.file, plan.scenario, plan.seed, caller_voice(plan.file, self.settings))
        source = CallerSource(script.rate, clock=self.clock, noise=script.background())
        improviser = await self._improviser()
        caller = Caller(script, source, self.clock, improviser=improviser)
        stubs = plan.file.stubs(plan.scenario)
        options = await self._options(source, stubs)
        engine = FlowEngine(flow_for_caller(plan.file.flow), registry=AudioRegistry(), options=options)
        unfollow: list[object] = []

        def on_flow_event(event: FlowEvent) -> None:
            if isinstance(event, NodeEvent) and isinstance(event.payload, RealtimeSession) and not unfollow:
                session = event.payload
                toggle = session.ptt_toggle if session.config.push_to_talk else None
                recorder = session.recorder
                if recorder is not None:  # before it connects: the caller hears the reply as it is recorded
                    session.recorder = CallerEar(recorder, caller, self.clock)
                unfollow.append(caller.follow(session.events, session.transcript.origin, toggle, ear=recorder is not None))

        engine.events.add_callback(on_flow_event)
        flow_task = asyncio.ensure_future(engine.run())
        engine.request_start()
        caller_task = asyncio.ensure_future(caller.run())
        error: str | None = None
        caller_first = False
        try:
            await asyncio.wait({flow_task, caller_task}, return_when=asyncio.FIRST_COMPLETED)
            caller_first = caller_task.done()
            if caller_task.done():
                error = self._caller_error(caller_task)
            source.hang_up()
        finally:
            if not caller_task.done():
                caller_task.cancel()
            await asyncio.gather(caller_task, return_exceptions=True)
            await self._stop(engine, flow_task)
            source.stop()
            if improviser is not None:
                await improviser.close()
                self._keep_caller_transcript(improviser)
        error = self._flow_error(engine, caller) or error
        if error is None and not caller.finished and not (improviser is not None and caller.scripted_done):
            # (an agent that hangs up on an AI caller is the goal check's to judge, not an error)
            error = "the flow ended before the caller had said every turn"
        result = self._result(caller, script, error, stubs, self.clock.monotonic() - started)
        if result.turns and (whole_call := check_call(plan.scenario.expect, result.turns)):
            last = result.turns[-1]
            result = replace(result, turns=(*result.turns[:-1], replace(last, checks=(*last.checks, *whole_call))))
        if improviser is not None:
            result = self._goal_checked(result, improviser, caller.improvised_turns,
                                        cut_off=caller.cut_off or not caller_first)
        return await self._judged(result)

    async def _improviser(self) -> AiCaller | None:
        """The scenario's AI caller, if it has a goal: against the run's provider, like the flow."""
        plan, settings = self.plan, self.settings
        goal = plan.file.goal(plan.scenario)
        if goal is None:
            return None
        voice = plan.file.spec.caller.voice_name if plan.file.spec.caller.engine == "openai" else DEFAULT_AI_VOICE
        if settings.provider == "openai":
            key = settings.api_key or os.environ.get("OPENAI_API_KEY", "")
            url = settings.base_url or DEFAULT_BASE_URL
            secrets: SecretProvider = DirectSecretProvider(key, base_url=url)
        else:
            if settings.servers is None:
                raise VoxflowError("an AI caller against the local server needs the run's local servers")
            url = await settings.servers.url_for_script(goal.script)
            secrets = DirectSecretProvider(LOCAL_KEY, base_url=url)
        return AiCaller(goal, secrets=secrets, base_url=url, clock=self.clock, voice=voice,
                        provider_label=f"AI caller ({settings.provider})")

    def _keep_caller_transcript(self, improviser: AiCaller) -> None:
        """The AI caller's own transcript beside the run's: what it heard the agent say, and what it said."""
        session = improviser.session
        if session is None:
            return
        path = self.transcript_path.with_name(f"run-{self.plan.run}.caller.md")
        path.write_text(session.transcript.to_markdown(f"The AI caller of {self.plan.scenario.name}, run {self.plan.run} "
                                                       "(user: the agent as it heard it; assistant: the caller)"),
                        encoding="utf-8")

    @staticmethod
    def _goal_checked(run: Run, improviser: AiCaller, spoken: int, *, cut_off: bool) -> Run:
        """The run with the AI caller's goal as a check on its last turn (no turn at all: the run's error)."""
        if not run.turns:
            return run if run.error is not None else replace(run, error="the AI caller said nothing")
        last = run.turns[-1]
        check = goal_check(improviser.goal.goal, improviser.hangup, turns=spoken, max_turns=improviser.goal.max_turns,
                           cut_off=cut_off, at_s=last.caller_end_s)
        return replace(run, turns=(*run.turns[:-1], replace(last, checks=(*last.checks, check))))

    async def _judged(self, run: Run) -> Run:
        """The run with its turns' ``expect.judge`` verdicts, asked once the call is over (see :mod:`.judge`)."""
        criteria: dict[int, list[str]] = {index: [turn.expect.judge] for index, turn
                                          in enumerate(self.plan.scenario.turns, 1) if turn.expect.judge is not None}
        whole_call = self.plan.scenario.expect.judge
        if whole_call and run.turns:  # graded on the whole transcript, shown on the last turn
            criteria.setdefault(run.turns[-1].index, []).extend(whole_call)
        if not criteria:
            return run
        settings = self.settings
        conversation = self.plan.file.flow.node(conversation_id(self.plan.file.flow)).settings
        transport = settings.transport or getattr(conversation, "transport", None) or "auto"
        return await judge_turns(run, criteria, provider=settings.provider, transport=transport,
                                 local_script=self.plan.file.judge_script, api_key=settings.api_key,
                                 base_url=settings.base_url)

    async def _options(self, source: CallerSource, stubs: dict[str, str]) -> RunOptions:
        settings = self.settings
        from audio.session import approve_all

        options = RunOptions(
            input_source=source,
            provider=settings.provider,
            transport=settings.transport,
            api_key=settings.api_key,
            base_url=settings.base_url,
            record_path=self.recording,
            tool_stubs=stubs,
            tool_approver=approve_all,  # nobody is at the keys: tools marked confirm run, as with --approve-tools
            clock=self.clock,
        )
        if settings.provider == "local" and settings.servers is not None:
            options.local_server_url = await settings.servers.url_for(self.plan.file.flow)
        return options

    async def _stop(self, engine: FlowEngine, flow_task: asyncio.Future[bool]) -> None:
        """Stop the flow (every node closes what it opened) and wait for it, within :data:`STOP_SECONDS`."""
        stopping = asyncio.ensure_future(engine.stop())
        done, _ = await asyncio.wait({flow_task}, timeout=STOP_SECONDS)
        if not done:  # a node that does not let go: cancel the flow, give it as long again, then leave it
            log.warning("the flow did not close within %.0f s of being stopped", STOP_SECONDS)
            flow_task.cancel()
            done, _ = await asyncio.wait({flow_task}, timeout=STOP_SECONDS)
            if not done:
                log.warning("the flow still had not closed %.0f s after being cancelled; leaving it", STOP_SECONDS)
        if done:
            await asyncio.wait({stopping}, timeout=STOP_SECONDS)
            if not flow_task.cancelled():
                flow_task.exception()  # retrieved: the flow's own error is read off the engine

    @staticmethod
    def _caller_error(task: asyncio.Future[None]) -> str | None:
        if task.cancelled():
            return "interrupted"
        failure = task.exception()
        if failure is None:
            return None
        if isinstance(failure, CallerError):
            return str(failure)
        log.error("the caller failed", exc_info=failure)
        return f"the caller failed: {type(failure).__name__}: {failure}"

    @staticmethod
    def _flow_error(engine: FlowEngine, caller: Caller) -> str | None:
        for spec in engine.flow.nodes:
            if engine.status(spec.id) == NodeStatus.ERROR:
                return f"node '{spec.id}': {engine.reason(spec.id)}"
        if caller.state is SessionState.ERROR:
            return f"the session ended in error: {caller.reason}"
        return None

    def _result(self, caller: Caller, script: CallerScript, error: str | None, stubs: dict[str, str],
                duration: float) -> Run:
        plan = self.plan
        activity = read_activity(self.recording) if self.recording.exists() else None
        turns = build_turns(caller, script, activity, set(stubs))
        entries = caller.tracker.entries()
        transcript = transcript_records(entries)
        self.transcript_path.write_text("".join(_jsonl(record) for record in transcript), encoding="utf-8")
        self.transcript_path.with_suffix(".md").write_text(
            to_markdown(entries, f"{plan.scenario.name}, run {plan.run} (seed {plan.seed})"), encoding="utf-8")
        return Run(scenario=plan.scenario.name, file=plan.file.name, run=plan.run, seed=plan.seed, turns=turns,
                   error=None if error is None else error.splitlines()[0], duration_s=round(duration, 3),
                   recording=str(self.recording) if self.recording.exists() else None, transcript=transcript)


def _jsonl(record: object) -> str:
    import json

    return json.dumps(record, ensure_ascii=False) + "\n"


async def run_conversation(plan: RunPlan, settings: RunSettings) -> Run:
    return await Conversation(plan, settings).run()
