"""The AI caller: a second Realtime session plays the caller, with a persona and a goal, until it hangs up.

Scripted turns say what the scenario wrote; an AI caller decides what to say,
so a flow meets callers who answer back. It is a session of the project's own
session core (:class:`~audio.session.RealtimeSession`), against OpenAI with a
key or against the local server with a rule script, so it is tested offline
like everything else. Its audio in is the flow's speaker: the agent's reply
is fed in as the caller hears it (:meth:`AiCaller.hear`, from the run's
recording, on its clock). Its audio out is the flow's microphone: each answer
is received whole over WebSocket (faster than real time) and handed to the
scripted caller's machinery (:class:`~flow.scenarios.caller.Caller`), which
speaks it, waits for the reply to end and pauses, exactly as for a scripted
turn.

Turn taking is the caller's, not a second VAD's: the session runs in
push-to-talk mode, the key is held while the agent talks and released once
the reply is over, which commits what was heard and asks for the answer.
The caller ends the call with its ``end_call`` tool (``goal_met``,
``reason``), or gives up after its turn limit; either way the outcome is the
run's ``goal`` check.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from audio.base import AudioRegistry
from audio.base.clock import Clock
from audio.base.errors import VoxflowError
from audio.dsp import Resampler
from audio.io import PacedSource
from audio.session import (
    Notice,
    PttState,
    RealtimeSession,
    ResponseDone,
    ResponseStarted,
    SessionEvent,
    SessionState,
    ToolCallUpdated,
    approve_all,
    tool_definition,
)
from audio.transports import SecretProvider
from audio.wire import VOICES, SessionConfig, protocol
from flow.scenarios.loader import CallerGoal
from flow.scenarios.voice import CALLER_RATE

END_CALL = "end_call"
DEFAULT_VOICE = "marin"
ANSWER_SECONDS = 30.0
"""How long the AI caller may take to answer (its response generated and received whole)."""
LISTEN_WAIT_SECONDS = 0.5
"""How long the key waits for the caller's own answer to be over in its session (the agent answers later)."""
DRAIN_SECONDS = 5.0
"""How long an answer waits for the reply heard so far to be sent (beyond its own length) before committing."""


def instructions(goal: CallerGoal, call_so_far: str) -> str:
    """What the caller's model is told: who it is, what it wants, how to end, and what was said before it took over."""
    parts = [
        "You are a person phoning a voice agent. You are the caller, never the agent. "
        "Speak as a caller does on the phone: one or two short sentences per turn, in plain spoken words.",
    ]
    if goal.persona:
        parts.append(f"Who you are: {goal.persona.strip()}")
    parts.append(f"What you want from this call: {goal.goal.strip()}")
    parts.append(
        f"When you have what you wanted, say a short goodbye and call {END_CALL} with goal_met true and the reason. "
        f"If the agent cannot or will not help, call {END_CALL} with goal_met false and the reason. "
        f"You have {goal.max_turns} turns at most."
    )
    if call_so_far.strip():
        parts.append("The call so far (you are 'Caller'):\n" + call_so_far.strip() + "\nGo on from there.")
    else:
        parts.append("The agent is waiting for you: start the call.")
    return "\n\n".join(parts)


@dataclass(frozen=True)
class Hangup:
    """How the caller ended the call."""

    goal_met: bool
    reason: str


@dataclass(frozen=True)
class CallerLine:
    """One answer: what the caller says (mono int16 at the caller's rate) and its words, if it spoke."""

    audio: np.ndarray
    text: str
    hangup: Hangup | None = None


class EndCall:
    """The caller's one tool: it hangs up, saying whether its goal was met (a :class:`~audio.session.Tool`)."""

    name = END_CALL
    description = "Hang up. Call it when your goal is met, or when the agent cannot help."
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {
            "goal_met": {"type": "boolean", "description": "Whether you got what you called for."},
            "reason": {"type": "string", "description": "One sentence: why."},
        },
        "required": ["goal_met", "reason"],
        "additionalProperties": False,
    }
    confirm = False
    node_id: str | None = None

    def __init__(self) -> None:
        self.hangup: Hangup | None = None

    async def call(self, arguments: dict[str, Any]) -> str:
        self.hangup = Hangup(bool(arguments.get("goal_met")), str(arguments.get("reason") or "").strip())
        return "The call is over."

    def secrets(self) -> tuple[str, ...]:
        return ()


class ReplyFeed(PacedSource):
    """The AI caller's microphone: the agent's reply, each piece at the clock time it plays, silence between.

    Fed by :meth:`hear` (the run's recording places every piece of the reply
    where it plays, also when WebSocket delivers it early); read in real time
    by the session's sending track. A barge-in's :meth:`cut` drops what would
    have played after it. Nothing heard is ever dropped for being late: on a
    loaded machine the sending track stalls, and a reply the caller half heard
    would be answered as if it were something else. :meth:`drained` says when
    everything due has been sent, so the turn is committed whole.
    """

    def __init__(self, clock: Clock, rate: int = CALLER_RATE, *, realtime: bool = True) -> None:
        super().__init__(rate, 1, realtime=realtime, clock=clock)
        self._pieces: collections.deque[tuple[float, np.ndarray]] = collections.deque()
        self._resampler: Resampler | None = None
        self._resampled_from: int | None = None
        self._drained = asyncio.Event()
        self._drained.set()

    def hear(self, pcm: np.ndarray, rate: int, at: float) -> None:
        mono = np.asarray(pcm)
        if mono.ndim == 2:
            mono = mono.mean(axis=1).astype(np.int16) if mono.shape[1] > 1 else mono[:, 0]
        mono = mono.astype(np.int16, copy=False).reshape(-1)
        if rate != self.sample_rate:
            if self._resampler is None or self._resampled_from != rate:
                self._resampler, self._resampled_from = Resampler(self.sample_rate, 1), rate
            mono = self._resampler.process(mono.reshape(-1, 1), rate).reshape(-1)
        if len(mono):
            self._pieces.append((at, mono))
            self._drained.clear()

    def cut(self, at: float) -> None:
        self._pieces = collections.deque(piece for piece in self._pieces if piece[0] < at)
        if not self._pieces:
            self._drained.set()

    def clear(self) -> None:
        """Forget everything heard so far (it was not this turn's input)."""
        self._pieces.clear()
        self._drained.set()

    @property
    def queued_seconds(self) -> float:
        """Reply audio heard and not yet handed to the sending track."""
        return sum(len(piece) for _, piece in self._pieces) / self.sample_rate

    async def drained(self) -> None:
        """Until every piece heard so far has been handed out (or the feed stopped)."""
        if not self.ended:
            await self._drained.wait()

    def stop(self) -> None:
        super().stop()
        self._drained.set()

    def _next_frame(self) -> np.ndarray | None:
        size = self.frame_samples
        frame = np.zeros(size, dtype=np.int16)
        now = self.clock.monotonic()
        end = now + size / self.sample_rate
        filled = 0
        while filled < size and self._pieces and self._pieces[0][0] < end:
            at, piece = self._pieces[0]
            taken = piece[: size - filled]
            frame[filled:filled + len(taken)] = taken
            filled += len(taken)
            if len(taken) < len(piece):
                self._pieces[0] = (at + len(taken) / self.sample_rate, piece[len(taken):])
            else:
                self._pieces.popleft()
        if not self._pieces:
            self._drained.set()
        return frame.reshape(-1, 1)


class AiCaller:
    """One call's AI caller: :meth:`open`, then :meth:`answer` per turn (:meth:`listen` while the agent talks), :meth:`close`."""

    def __init__(self, goal: CallerGoal, *, secrets: SecretProvider, base_url: str, clock: Clock,
                 voice: str = DEFAULT_VOICE, transport: str = "websocket", model: str = "gpt-realtime",
                 provider_label: str = "AI caller", answer_seconds: float = ANSWER_SECONDS) -> None:
        self.goal = goal
        self.clock = clock
        self.voice = voice if voice in VOICES else DEFAULT_VOICE
        self.answer_seconds = answer_seconds
        self.feed = ReplyFeed(clock)
        self.end_call = EndCall()
        self.turns = 0
        self.last_line: CallerLine | None = None  # the last complete answer
        self._secrets = secrets
        self._base_url = base_url
        self._transport = transport
        self._model = model
        self._label = provider_label
        self._session: RealtimeSession | None = None
        self._audio: list[np.ndarray] = []
        self._responses: set[str] = set()
        self._done = 0  # responses done since the answer was asked for
        self._running_calls: set[str] = set()
        self._calls_finished = 0
        self._changed = asyncio.Event()
        self._unsubscribe: Any = None
        self._before: set[str] = set()  # transcript items from before the answer asked for
        self._notice: str | None = None  # the last thing its session warned about (why an answer may not come)

    @property
    def session(self) -> RealtimeSession | None:
        return self._session

    @property
    def hangup(self) -> Hangup | None:
        return self.end_call.hangup

    async def open(self, call_so_far: str, last_heard: str = "") -> None:
        """Connect the caller's session; raises :class:`VoxflowError` when it cannot.

        ``last_heard``: after scripted turns, the agent's last reply. Its audio
        played before this session existed, so it is given as text: the first
        thing the caller heard, which its answer (and a local rule script's
        ``when``) goes by, instead of opening the call afresh.
        """
        config = SessionConfig.build(
            model=self._model, voice=self.voice, vad="disabled", instructions=instructions(self.goal, call_so_far),
            base_url=self._base_url, transport=self._transport, reconnect=False,
            tools=(tool_definition(self.end_call),),
        )
        session = RealtimeSession(config, secret_provider=self._secrets, registry=AudioRegistry(), clock=self.clock,
                                  input_source=self.feed, echo_guard=False, provider_label=self._label,
                                  tools=[self.end_call], approve_tools=approve_all,
                                  output_sample_rate=CALLER_RATE, output_channels=1)
        session.playback_listeners.append(self._spoken)
        self._unsubscribe = session.events.add_callback(self._on_event)
        self._session = session
        await session.connect()
        if session.state is not SessionState.CONNECTED:
            raise VoxflowError(f"the AI caller's session did not connect: {session.reason or session.state}")
        if last_heard.strip():
            session.send_event(protocol.user_text_item(last_heard.strip()))

    def hear(self, pcm: np.ndarray, rate: int, at: float) -> None:
        """The agent's reply plays from clock time ``at`` (what the caller hears; nothing before it took over)."""
        if self._session is not None:
            self.feed.hear(pcm, rate, at)

    def cut(self, at: float) -> None:
        self.feed.cut(at)

    async def listen(self) -> None:
        """Hold the key: what the agent says from now on is this turn's input (the buffer starts empty).

        Called once the caller has said its answer. Its own session models the
        answer as playing from when it arrived, plus a short tail; the key is
        pressed once that is over (at most :data:`LISTEN_WAIT_SECONDS` later),
        so that pressing cuts nothing of the caller's own.
        """
        session = self._require()
        self.feed.clear()  # what played before (the greeting, scripted turns' replies) is not this turn's input
        deadline = self.clock.monotonic() + LISTEN_WAIT_SECONDS
        while session.assistant_busy and (remaining := deadline - self.clock.monotonic()) > 0:
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.05))
        if session.ptt_state is PttState.OFF:
            session.ptt.press()

    async def answer_stream(self) -> AsyncIterator[np.ndarray]:
        """Commit what was heard (if the key is held), ask for the answer, and yield its audio as it arrives.

        The stream ends when the answer is complete (a finished ``end_call``'s
        follow-up response included); :attr:`last_line` then has its words and
        the hang-up, if any. Raises :class:`VoxflowError` when the session ends
        or no answer is complete within ``answer_seconds``.
        """
        session = self._require()
        self._audio, self._done, self._calls_finished, self._notice = [], 0, 0, None
        self._before = {entry.item_id for entry in session.transcript.entries()}
        if session.ptt_state is PttState.TALKING:
            with contextlib.suppress(TimeoutError):  # a stalled track: commit what was sent
                await asyncio.wait_for(self.feed.drained(), self.feed.queued_seconds + DRAIN_SECONDS)
            await session.ptt.release()  # commit + response.create, after the key's short tail
        else:
            session.send_event({"type": "response.create"})  # the caller speaks first
        deadline = self.clock.monotonic() + self.answer_seconds
        given = 0
        while True:
            while given < len(self._audio):
                given += 1
                yield self._audio[given - 1]
            if self._answered():
                break
            if session.state is not SessionState.CONNECTED:
                raise VoxflowError(f"the AI caller's session ended: {session.reason or session.state}")
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                raise VoxflowError(f"the AI caller did not answer within {self.answer_seconds:g} s ({self._waiting()})")
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.25))
        for piece in self._audio[given:]:
            yield piece
        self.turns += 1
        audio = np.concatenate(self._audio) if self._audio else np.zeros(0, dtype=np.int16)
        self.last_line = CallerLine(audio, self.words(), self.hangup)

    async def answer(self) -> CallerLine:
        """:meth:`answer_stream`, received whole."""
        async for _ in self.answer_stream():
            pass
        assert self.last_line is not None
        return self.last_line

    async def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._session is not None:
            await self._session.disconnect("the call is over")
        self.feed.stop()

    # -- following the caller's session ----------------------------------------------------------------------------

    def _require(self) -> RealtimeSession:
        if self._session is None:
            raise VoxflowError("the AI caller is not connected")
        return self._session

    def _answered(self) -> bool:
        """A response is done, none is running, no call runs, and a finished call's follow-up response is done too."""
        return (self._done > 0 and not self._responses and not self._running_calls
                and self._done > self._calls_finished)

    def _waiting(self) -> str:
        """What an answer that did not come was still waiting for, in a few words."""
        if self._notice is not None:
            return f"its session said: {self._notice}"
        if self._running_calls:
            return "its end_call was still running"
        if self._responses:
            return "its response was still running"
        return "no response came" if self._done == 0 else "no response came after its end_call"

    def _on_event(self, event: SessionEvent) -> None:
        if isinstance(event, Notice):
            self._notice = event.message
        elif isinstance(event, ResponseStarted):
            self._responses.add(event.response_id)
        elif isinstance(event, ResponseDone):
            self._responses.discard(event.response_id)
            self._done += 1
        elif isinstance(event, ToolCallUpdated):
            if event.call.status == "running":
                self._running_calls.add(event.call.call_id)
            elif event.call.call_id in self._running_calls:
                self._running_calls.discard(event.call.call_id)
                self._calls_finished += 1
        self._changed.set()

    def _spoken(self, pcm: np.ndarray) -> None:
        self._audio.append(np.asarray(pcm, dtype=np.int16).reshape(-1))
        self._changed.set()

    def words(self) -> str:
        """What the caller has said of its current answer so far (its session's transcript)."""
        entries = self._require().transcript.entries()
        return " ".join(entry.text for entry in entries
                        if entry.role == "assistant" and entry.text and entry.item_id not in self._before)
