"""Headless runs: a flow from files to files, for CI, with an exit code.

The second subscriber of the engine's and the session core's events, beside
the TUI: it never drives a session itself. It writes progress to an injected
text stream (stderr in the CLI) or one JSON object per event to another
(stdout with ``--json``), keeps transcript files current after every finished
turn, and turns the outcome into an exit code:

* 0: every node finished and every ``--expect-transcript`` pattern matched,
  or the run reached ``--max-duration`` and was stopped cleanly there (input
  with no speech at all is a success with a warning);
* 1: a node failed, a session ended in error or before its input did, a user
  turn was lost (the last one still pending or unanswered, see
  :mod:`flow.turns`), a pattern did not match, the run was interrupted, or it
  did not wind down within the grace period after ``--max-duration``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import json
import re
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from audio.base.edge import AudioEdgeData
from audio.base.errors import VoxflowError
from audio.session.events import (
    Notice,
    SessionEvent,
    ResponseDone,
    SessionErrorEvent,
    SessionState,
    StateChanged,
    TranscriptEntry,
    TranscriptUpdated,
)
from audio.session.live import LiveSession
from audio.session.transcript_format import INTERRUPTED_MARK, shown_text, text_line
from audio.session.transcript_order import TranscriptOrder
from audio.base.registry import AudioRegistry
from flow.engine import FlowEngine
from flow.events import FlowEvent, NodeEvent, NodeStatus, NodeStatusChanged
from flow.model import Flow
from flow.options import RunOptions
from flow.transcript_files import TranscriptFiles
from flow.turns import TurnTracker, tracker_for

if TYPE_CHECKING:  # prometheus_client loads only when a run asks for --metrics or runs under systemd
    from flow.service import RunService

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Ctrl-C, a kill, a dropped SSH connection: each stops the flow cleanly, so every file is completed."""
GRACE_SECONDS = 15.0
"""How long past ``--max-duration`` a run may take to wind down before it is abandoned as failed."""


@dataclass
class HeadlessOptions:
    transcript_paths: list[Path] = field(default_factory=list)
    expect_transcript: list[str] = field(default_factory=list)
    max_duration: float | None = None
    json_events: bool = False
    quiet: bool = False
    progress_interval: float = 0.5


def compile_expectations(patterns: list[str]) -> list[re.Pattern[str]]:
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE | re.MULTILINE))
        except re.error as exc:
            raise VoxflowError(f"--expect-transcript {pattern!r} is not a valid regular expression: {exc}") from None
    return compiled


def event_json(event: Any, source: str | None = None) -> dict[str, Any] | None:
    """One event as a JSON-ready dict (``{"event": "node_status_changed", ...}``), or None to skip."""
    if isinstance(event, NodeEvent) and not dataclasses.is_dataclass(event.payload):
        return None  # live objects (a session) are for in-process subscribers only
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", type(event).__name__).lower()
    body: dict[str, Any] = {"event": name}
    if source:
        body["node"] = source
    for item in dataclasses.fields(event):
        body[item.name] = _jsonable(getattr(event, item.name))
    return body


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, AudioEdgeData):
        return value.to_dict() | ({"buffer": f"<{len(value.buffer or '')} base64 chars>"} if value.buffer else {})
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


class HeadlessRun:
    """Runs one flow to the end and reports; ``await run()`` returns the exit code."""

    def __init__(
        self,
        flow: Flow,
        options: RunOptions,
        headless: HeadlessOptions,
        *,
        out: TextIO,
        err: TextIO,
        registry: AudioRegistry | None = None,
    ) -> None:
        self.flow = flow
        options = dataclasses.replace(options, unattended=True)  # nobody at the keys: push-to-talk sends the input
        self.options = options
        self.headless = headless
        self.out = out
        self.err = err
        self.expectations = compile_expectations(headless.expect_transcript)
        self.engine = FlowEngine(flow, registry=registry if registry is not None else AudioRegistry(), options=options)
        self.transcript_files = TranscriptFiles(headless.transcript_paths, title=flow.name) if headless.transcript_paths else None
        self.sessions: dict[str, LiveSession] = {}
        self.turns: dict[str, TurnTracker] = {}
        self.session_errors: list[str] = []
        self.entries: dict[str, dict[str, TranscriptEntry]] = {}  # node -> item -> latest
        self.order: dict[str, TranscriptOrder] = {}
        self.interrupted = False
        self.timed_out = False
        self.capped = False
        self._failing = False
        self._stop_task: asyncio.Task[None] | None = None
        self._finished_turns: set[tuple[str, str]] = set()
        self._progress_shown: dict[str, int] = {}
        self._start = options.clock.monotonic()
        self.engine.events.add_callback(self._on_flow_event)

    # -- running ---------------------------------------------------------------

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        installed = self._install_interrupt(loop)
        run = asyncio.create_task(self.engine.run(), name="flow run")
        self.engine.request_start()  # nobody is at the keys: a conversation waiting for "start" starts now
        progress = asyncio.create_task(self._report_progress(), name="progress")
        try:
            cap = self.headless.max_duration
            try:
                ok = await asyncio.wait_for(asyncio.shield(run), cap)
            except TimeoutError:
                assert cap is not None
                self.capped = True
                self._say(f"reached --max-duration ({cap:g} s): stopping the flow and closing files…")
                stopping = asyncio.create_task(self.engine.stop(), name="stop at --max-duration")
                try:
                    ok = await asyncio.wait_for(asyncio.shield(run), GRACE_SECONDS)
                except TimeoutError:
                    self.timed_out = True
                    run.cancel()
                    ok = False
                await asyncio.gather(stopping, return_exceptions=True)
        finally:
            progress.cancel()
            await asyncio.gather(progress, *([self._stop_task] if self._stop_task else []), return_exceptions=True)
            if installed:
                for signum in _STOP_SIGNALS:
                    loop.remove_signal_handler(signum)
            self._write_transcripts()
        return self._verdict(ok)

    def _install_interrupt(self, loop: asyncio.AbstractEventLoop) -> bool:
        def interrupt() -> None:
            if not self.interrupted:
                self.interrupted = True
                self._say("interrupted: stopping the flow and closing files…")
                loop.create_task(self.engine.stop())

        try:
            for signum in _STOP_SIGNALS:
                loop.add_signal_handler(signum, interrupt)
        except (NotImplementedError, RuntimeError, ValueError):
            return False  # not the main thread (tests) or no signal support
        return True

    def _verdict(self, ok: bool) -> int:
        if self.interrupted:
            self._say("stopped by interrupt; files written so far are complete")
            return EXIT_FAILED
        if self.timed_out:
            self._fail(f"failed: the run did not wind down within {GRACE_SECONDS:.0f} s of --max-duration")
            return EXIT_FAILED
        failed = [(spec.id, self.engine.reason(spec.id)) for spec in self.flow.nodes if self.engine.status(spec.id) == NodeStatus.ERROR]
        if failed:
            node_id, reason = failed[0]
            self._fail(f"failed: node '{node_id}': {reason}")
            return EXIT_FAILED
        if self.session_errors:
            self._fail(f"failed: the session ended in error: {self.session_errors[-1]}")
            return EXIT_FAILED
        lost = [(node_id, turns.lost_turn()) for node_id, turns in self.turns.items() if turns.heard_speech]
        lost = [(node_id, line) for node_id, line in lost if line]
        capped = self.capped or any(getattr(node, "reached_time_cap", False) for node in self.engine.nodes.values())
        if lost and not capped:
            self._fail(f"failed: {lost[0][1]}" + (f" (node '{lost[0][0]}')" if len(self.turns) > 1 else ""))
            return EXIT_FAILED
        if lost:
            self._say(f"warning: at --max-duration {lost[0][1]}")
        if self.turns and not any(turns.heard_speech for turns in self.turns.values()):
            self._say("warning: the input contained no speech: no user turn was heard")
        text = self.transcript_text()
        missing = [p.pattern for p in self.expectations if not p.search(text)]
        if missing:
            self._fail(f"failed: transcript does not match --expect-transcript {missing[0]!r}")
            return EXIT_FAILED
        if self.expectations:
            self._say(f"transcript matches all {len(self.expectations)} expectation(s)")
        self._say(f"done at --max-duration ({self.headless.max_duration:g} s)" if self.capped else "done")
        return EXIT_OK

    # -- transcript ------------------------------------------------------------

    def transcript_entries(self) -> list[TranscriptEntry]:
        entries: list[TranscriptEntry] = []
        for node_id, order in self.order.items():
            entries += [self.entries[node_id][item] for item in order]
        return entries

    def transcript_text(self) -> str:
        return "\n".join(text_line(e.role, shown_text(e)) for e in self.transcript_entries())

    def _write_transcripts(self) -> None:
        if self.transcript_files is not None:
            self.transcript_files.write(self.transcript_entries())

    # -- events ----------------------------------------------------------------

    def _on_flow_event(self, event: FlowEvent) -> None:
        self._emit_json(event)
        if isinstance(event, NodeStatusChanged):
            reason = f" ({event.reason})" if event.reason and event.status in (NodeStatus.ERROR, NodeStatus.CANCELLED) else ""
            self._say(f"node {event.node_id}: {event.status}{reason}")
            if event.status == NodeStatus.ERROR and not self._failing:
                # fail fast: the run has failed, and a live source (a microphone) would otherwise run on forever
                self._failing = True
                self._stop_task = asyncio.get_running_loop().create_task(self.engine.stop(), name="stop after error")
        elif isinstance(event, NodeEvent) and isinstance(event.payload, LiveSession):
            self._attach_session(event.node_id, event.payload)

    def _attach_session(self, node_id: str, session: LiveSession) -> None:
        if node_id in self.sessions:
            return
        self.sessions[node_id] = session
        self.entries.setdefault(node_id, {})
        self.order.setdefault(node_id, TranscriptOrder())
        self.turns[node_id] = tracker_for(session)
        session.events.add_callback(self.turns[node_id])
        session.events.add_callback(lambda event: self._on_session_event(node_id, event))

    def _on_session_event(self, node_id: str, event: SessionEvent) -> None:
        self._emit_json(event, node_id)
        if isinstance(event, StateChanged):
            reason = f" ({event.reason})" if event.reason else ""
            self._say(f"session {node_id}: {event.state}{reason}")
            if event.state == SessionState.ERROR:
                self.session_errors.append(event.reason or "unknown error")
        elif isinstance(event, TranscriptUpdated):
            self._on_transcript(node_id, event)
        elif isinstance(event, Notice):
            self._say(f"{event.level}: {event.message}")
        elif isinstance(event, SessionErrorEvent) and not event.fatal:
            self._say(f"service error{f' [{event.code}]' if event.code else ''}: {event.message}")
        elif isinstance(event, ResponseDone) and event.status not in ("completed",):
            self._say(f"response {event.status}")

    def _on_transcript(self, node_id: str, event: TranscriptUpdated) -> None:
        entry = event.entry
        before = self.entries[node_id].get(entry.item_id)
        self.order[node_id].place(entry.item_id, event.index)
        self.entries[node_id][entry.item_id] = entry
        key = (node_id, entry.item_id)
        stamp = f"{entry.start:6.1f}s"
        if entry.final and key not in self._finished_turns:
            self._finished_turns.add(key)
            self._say(f"[{stamp}] {entry.role}: {shown_text(entry)}")
            self._write_transcripts()
        elif entry.interrupted and before is not None and before.final and not before.interrupted:
            # the reply was all generated, then the person cut in on its playback
            self._say(f"[{stamp}] {entry.role}: {INTERRUPTED_MARK} (the person cut in)")
            self._write_transcripts()

    # -- output ----------------------------------------------------------------

    def _say(self, line: str) -> None:
        if not self.headless.quiet and not self.headless.json_events:
            self.err.write(f"voxflow: {line}\n")
            self.err.flush()

    def _fail(self, line: str) -> None:
        """The one-line reason a run failed: shown even with ``--quiet`` or ``--json`` (on stderr)."""
        self.err.write(f"voxflow: {line}\n")
        self.err.flush()

    def _emit_json(self, event: Any, node_id: str | None = None) -> None:
        if not self.headless.json_events:
            return
        body = event_json(event, node_id)
        if body is not None:
            self.out.write(json.dumps(body, ensure_ascii=False) + "\n")
            self.out.flush()

    async def _report_progress(self) -> None:
        """Show how far each file source is, in 10 % steps (readable in CI logs)."""
        while True:
            await asyncio.sleep(self.headless.progress_interval)
            for node_id, node in self.engine.nodes.items():
                progress = getattr(node, "progress", None)
                if not isinstance(progress, float):
                    continue
                step = int(progress * 10)
                if step > self._progress_shown.get(node_id, -1):
                    self._progress_shown[node_id] = step
                    bar = "█" * step + "·" * (10 - step)
                    self._say(f"input {node_id} [{bar}] {progress * 100:3.0f}%")
                    if self.headless.json_events:
                        self.out.write(json.dumps({"event": "input_progress", "node": node_id, "progress": round(progress, 3)}) + "\n")
                        self.out.flush()


def run_headless(flow: Flow, options: RunOptions, headless: HeadlessOptions, *, out: TextIO, err: TextIO,
                 on_engine: Callable[[FlowEngine], None] | None = None, service: RunService | None = None) -> int:
    """Blocking entry point for the CLI: runs the flow on a fresh event loop (``service``: metrics, health, systemd)."""

    async def main() -> int:
        runner = HeadlessRun(flow, options, headless, out=out, err=err)
        if on_engine is not None:
            on_engine(runner.engine)
        if service is None:
            return await runner.run()
        service.watch(runner.engine)
        async with service.beating():
            return await runner.run()

    return asyncio.run(main())
