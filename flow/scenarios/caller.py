"""The scripted caller: speaks a turn, waits for the reply (or barges in), pauses, speaks the next.

It follows the conversation only through the session core's events (playing
state, responses, tool calls, the transcript, turn latency) and speaks only
through its :class:`~flow.scenarios.caller_source.CallerSource`, so it works
the same over WebRTC and WebSocket, against the local server or OpenAI, and
against a scripted stand-in in tests. What it saw is kept per turn
(:class:`TurnLog`, times in seconds on the transcript's clock, which is the
recording's), for :mod:`flow.scenarios.outcome` to turn into results.

A turn:

1. ``silence_before``: that much silence first;
2. the utterance, sample by sample (push-to-talk flows get the key pressed
   around it);
3. with ``interrupt_after``: wait for the reply to start playing, let it play
   that long, and go straight on to the next turn (a barge-in); otherwise
   wait until the reply is over (something played or was said after the
   utterance, nothing plays, no response or tool call runs, no user turn is
   open) and then ``pause`` more after the last reply audio; if the agent
   started again meanwhile, wait for that too. A backchannel is said that
   long into the reply, if it is still playing.

After the scripted turns, an AI caller (:mod:`flow.scenarios.ai_caller`), if
the scenario has one, goes on: each of its answers is said and waited on like
a scripted turn (no ``expect`` of its own), until it hangs up, its turns run
out, or the agent hangs up.

Every wait has a deadline; a turn that gets no reply, or a session that ends
with turns left, stops the caller with a one-line :class:`CallerError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from audio.base.clock import Clock
from audio.base.errors import VoxflowError
from audio.dsp import rms_dbfs
from audio.base.pubsub import EventHub
from audio.session import (
    AssistantAudio,
    ResponseDone,
    ResponseStarted,
    SessionEvent,
    SessionState,
    StateChanged,
    ToolCallUpdated,
    TranscriptEntry,
    TranscriptUpdated,
    ToolCallInfo,
    TurnLatency,
)
from flow.scenarios.ai_caller import AiCaller
from flow.scenarios.caller_source import CallerSource, Utterance
from flow.scenarios.script import CallerScript, CallerTurn
from flow.turns import TurnTracker

CONNECT_SECONDS = 30.0
REPLY_SECONDS = 30.0
"""How long a turn waits for its reply to start, and then to end."""
AUDIBLE_DBFS = -50.0
"""Reply audio louder than this is heard (the recording is read with the same threshold)."""
HEARD_GAP = 0.25
"""Reply audio that ended this recently means the assistant is still talking (its pauses between words are shorter)."""
LEAD_IN_SECONDS = 0.5
"""Silence before the first turn: a person does not speak in the first instant of a call."""
BACKCHANNEL_MARGIN = 0.3
"""A user item starting this close to a backchannel is the backchannel (turn detection pads its start)."""
BACKCHANNEL_GRACE = 1.0
"""How long after its transcription a backchannel's own turn may still be answered (the service answers at once)."""
ANSWER_LEAD_SECONDS = 0.5
"""How much of the AI caller's answer is in before it starts saying it (the rest is said as it arrives)."""
GOODBYE_SECONDS = 10.0
"""How long the caller waits for an answer to its goodbye (the agent may just hang up)."""
_ENDED = (SessionState.DISCONNECTED, SessionState.ERROR)


class CallerError(Exception):
    """Why the call could not go on, in one line (becomes the run's error)."""


@dataclass
class TurnLog:
    """What happened in one caller turn; times are seconds on the transcript's (and the recording's) clock."""

    index: int
    said: str
    caller_start_s: float | None = None
    caller_end_s: float | None = None
    reply_started_s: float | None = None  # where the first reply audio heard after the utterance starts
    reply_stopped_s: float | None = None  # where the last reply audio heard in this turn ends
    backchannel_start_s: float | None = None
    backchannel_end_s: float | None = None
    backchannel_missed: bool = False  # the reply was over before the backchannel's moment
    audio_reported: bool = False  # the service said reply audio started playing after the utterance
    items: list[str] = field(default_factory=list)  # transcript items first seen in this turn, in that order
    calls: dict[str, ToolCallInfo] = field(default_factory=dict)  # call_id -> the call as it stands
    cuts: list[float] = field(default_factory=list)  # when an assistant item of this turn was marked interrupted
    latency_events_s: float | None = None  # the session's own turn latency (speech stopped -> first reply audio)
    improvised: bool = False  # the AI caller said it (no scripted turn, no expectations of its own)


def _started(log: TurnLog) -> bool:
    return log.reply_started_s is not None


def _set_spoken(log: TurnLog, start: float, end: float) -> None:
    log.caller_start_s, log.caller_end_s = start, end


def _set_backchannel(log: TurnLog, start: float, end: float) -> None:
    log.backchannel_start_s, log.backchannel_end_s = start, end


class Caller:
    """Drives one call from a :class:`CallerScript`; :meth:`follow` a session's events, then ``await run()``."""

    def __init__(self, script: CallerScript, source: CallerSource, clock: Clock, *,
                 reply_seconds: float = REPLY_SECONDS, connect_seconds: float = CONNECT_SECONDS,
                 improviser: AiCaller | None = None) -> None:
        self.script = script
        self.improviser = improviser  # the AI caller that goes on after the scripted turns
        self.source = source
        self.clock = clock
        self.reply_seconds = reply_seconds
        self.connect_seconds = connect_seconds
        self.logs: list[TurnLog] = []
        self.before = TurnLog(0, "")  # what came before the first turn (a greeting)
        self.tracker = TurnTracker()
        self.finished = False
        self.scripted_done = False  # every scripted turn was said (an AI caller may go on)
        self.cut_off = False  # the session ended (the agent hung up) while the AI caller still had turns
        self._origin = 0.0
        self._state = SessionState.IDLE
        self._reason: str | None = None
        self._playing = False
        self._responses: set[str] = set()
        self._running_calls: set[str] = set()
        self._owner: dict[str, TurnLog] = {}  # item or call id -> the turn it belongs to
        self._changed = asyncio.Event()
        self._toggle_ptt: Callable[[], Awaitable[object]] | None = None
        self._hears_audio = False
        self.send_lag = 0.0  # how long a frame the caller hands out takes to be sent (the track's queue)
        self._sent: dict[int, float] = {}  # frame index -> clock time it was sent
        self._stamps: list[tuple[Utterance, Utterance, Callable[[float, float], None]]] = []  # (first, last, setter)
        self._heard_until: float | None = None  # where the audible reply audio heard so far ends (transcript clock)

    # -- following the session -------------------------------------------------------------------------------------

    def follow(self, events: EventHub[SessionEvent], origin: float,
               toggle_ptt: Callable[[], Awaitable[object]] | None = None, *, ear: bool = True) -> Callable[[], None]:
        """Subscribe to a session's events (``origin``: its transcript's 0 s on the clock); returns the unsubscribe.

        ``ear``: the reply audio will be :meth:`heard` (a :class:`~flow.scenarios.ear.CallerEar` on the
        recording); without one the service's playing state stands in for it.
        """
        self._origin = origin
        self._toggle_ptt = toggle_ptt
        self._hears_audio = ear
        return events.add_callback(self.on_event)

    def now(self) -> float:
        """Seconds on the transcript's clock."""
        return self.clock.monotonic() - self._origin

    @property
    def current(self) -> TurnLog:
        return self.logs[-1] if self.logs else self.before

    @property
    def state(self) -> SessionState:
        """The session's state as its last event said."""
        return self._state

    @property
    def reason(self) -> str | None:
        return self._reason

    @property
    def session_ended(self) -> bool:
        return self._state in _ENDED

    def on_event(self, event: SessionEvent) -> None:
        self.tracker(event)
        now, log = self.now(), self.current
        if isinstance(event, StateChanged):
            self._state, self._reason = event.state, event.reason
        elif isinstance(event, AssistantAudio):
            self._playing = event.playing
            if event.playing and log.caller_end_s is not None:
                log.audio_reported = True
            if not self._hears_audio:  # no ear on the recording: the playing state is the best there is
                if event.playing and log.caller_end_s is not None and log.reply_started_s is None:
                    log.reply_started_s = now
                elif not event.playing and log.reply_started_s is not None:
                    log.reply_stopped_s = now
        elif isinstance(event, ResponseStarted):
            self._responses.add(event.response_id)
        elif isinstance(event, ResponseDone):
            self._responses.discard(event.response_id)
        elif isinstance(event, ToolCallUpdated):
            call = event.call
            owner = self._owner.setdefault(call.call_id, log)
            owner.calls[call.call_id] = call
            if call.status == "running":
                self._running_calls.add(call.call_id)
            else:
                self._running_calls.discard(call.call_id)
        elif isinstance(event, TranscriptUpdated):
            entry = event.entry
            if entry.item_id not in self._owner:
                self._owner[entry.item_id] = log
                log.items.append(entry.item_id)
            owner = self._owner[entry.item_id]
            if entry.role == "assistant" and entry.interrupted and f"cut:{entry.item_id}" not in self._owner:
                self._owner[f"cut:{entry.item_id}"] = owner
                owner.cuts.append(now)
        elif isinstance(event, TurnLatency):
            if log.caller_end_s is not None and log.latency_events_s is None:
                log.latency_events_s = event.seconds
        self._changed.set()

    def heard(self, pcm: np.ndarray, rate: int, at: float) -> None:
        """Reply audio plays from clock time ``at`` (what the run's recording writes: :class:`CallerEar`).

        What the caller hears decides, not what the service says it sent: on a
        loaded machine the reply can reach the ear seconds after the service
        reported it done, and a person waits for the voice, not for an event.
        Audio that arrives faster than it plays (WebSocket) is heard when it plays.
        """
        if self.improviser is not None:
            self.improviser.hear(pcm, rate, at)
        if rms_dbfs(pcm) <= AUDIBLE_DBFS:
            return
        start = at - self._origin
        end = start + len(pcm) / rate
        if self._heard_until is None or start - self._heard_until >= HEARD_GAP:
            self._changed.set()  # the assistant is heard again
        self._heard_until = max(end, self._heard_until or end)
        log = self.current
        if log.caller_end_s is not None and self.reply_item(log) is not None:
            if log.reply_started_s is None:
                log.reply_started_s = start
            log.reply_stopped_s = max(end, log.reply_stopped_s or end)

    def sent_frame(self, index: int, rate: int, at: float) -> None:
        """The caller's ``index``-th frame was sent at clock time ``at`` (as the recording places it).

        Every frame the caller hands out is sent once, in order (:class:`CallerEar`
        counts them), some time later: the sending track may hold a few frames.
        The turn's times are moved to when its first and last samples were sent,
        and the caller learns how far sending runs behind handing out, so that a
        pause on the recording is the pause asked for.
        """
        handed = self.source.handed_at(index)
        if handed is not None:
            self.send_lag = max(0.0, at - handed)
        self._sent[index] = at
        if len(self._sent) > 2 * self.source.handed.maxlen:  # type: ignore[operator]
            for old in sorted(self._sent)[: len(self._sent) // 2]:
                del self._sent[old]
        self._place_stamps()

    def _when_sent(self, utterance: Utterance, setter: Callable[[float, float], None], *,
                   last: Utterance | None = None) -> None:
        """Call ``setter(start, end)`` (transcript clock) once the start of ``utterance`` and the end of ``last``
        (default: itself) have been sent."""
        self._stamps.append((utterance, last or utterance, setter))
        self._place_stamps()

    def _place_stamps(self) -> None:
        waiting = []
        for first, last, setter in self._stamps:
            if first.start is None or last.end is None:
                waiting.append((first, last, setter))
                continue
            start_at, end_at = self._sent.get(first.start[0]), self._sent.get(last.end[0])
            if start_at is None or end_at is None:
                waiting.append((first, last, setter))
                continue
            rate = self.source.sample_rate
            setter(start_at + first.start[1] / rate - self._origin, end_at + last.end[1] / rate - self._origin)
        self._stamps = waiting

    def cut(self, at: float) -> None:
        """Playback was flushed at clock time ``at`` (a barge-in): what was queued behind it is never heard."""
        if self.improviser is not None:
            self.improviser.cut(at)
        cut_at = at - self._origin
        if self._heard_until is not None and self._heard_until > cut_at:
            self._heard_until = cut_at
        log = self.current
        if log.reply_stopped_s is not None and log.reply_stopped_s > cut_at:
            log.reply_stopped_s = max(cut_at, log.reply_started_s or cut_at)
        self._changed.set()

    def reply_item(self, log: TurnLog) -> TranscriptEntry | None:
        """The first assistant item of the turn: audio heard before it exists is an older reply's tail."""
        for item in log.items:
            entry = self.tracker.entry(item)
            if entry is not None and entry.role == "assistant":
                return entry
        return None

    def quiet_in(self) -> float | None:
        """Seconds until the assistant counts as silent (None: it is silent now)."""
        if self._heard_until is None:
            return None
        left = self._heard_until + HEARD_GAP - self.now()
        return left if left > 0 else None

    @property
    def talking(self) -> bool:
        """The assistant is heard, or the service says its audio is playing."""
        return self._playing or self.quiet_in() is not None

    def idle(self) -> bool:
        """Nothing plays, no response or tool call runs, and no user turn waits for its transcript or reply.

        A backchannel the service took for a turn of its own may never be
        answered (the agent talked on): once it is transcribed and
        :data:`BACKCHANNEL_GRACE` has passed with no reply, it does not hold
        the caller up any more.
        """
        if self.talking or self._responses or self._running_calls:
            return False
        open_turn = self.tracker.open_turn()
        if open_turn is None:
            return True
        entry = open_turn.entry
        return (entry is not None and self.is_backchannel(entry) and entry.final and entry.transcribed_at is not None
                and self.now() - entry.transcribed_at >= BACKCHANNEL_GRACE)

    def is_backchannel(self, entry: TranscriptEntry) -> bool:
        """Whether a user item is the caller's backchannel rather than one of its turns."""
        owner = self._owner.get(entry.item_id)
        if entry.role != "user" or owner is None or owner.backchannel_start_s is None:
            return False
        end = owner.backchannel_end_s if owner.backchannel_end_s is not None else owner.backchannel_start_s
        return owner.backchannel_start_s - BACKCHANNEL_MARGIN <= entry.start <= end + BACKCHANNEL_MARGIN

    def answered(self, log: TurnLog) -> bool:
        """The reply was heard; or, where the service played no audio for it, the assistant said something in text.

        Audio the service reported playing must reach the caller's ear first:
        the service's events can run seconds ahead of it on a loaded machine.
        """
        if log.reply_started_s is not None:
            return True
        if log.audio_reported and self._hears_audio:
            return False
        return any((entry := self.tracker.entry(item)) is not None and entry.role == "assistant" and entry.text
                   for item in log.items)

    # -- the call --------------------------------------------------------------------------------------------------

    async def run(self) -> None:
        """Say every turn; raises :class:`CallerError` when a turn gets no reply or the session ends early."""
        await self._until(lambda: self._state is SessionState.CONNECTED, "the session did not connect",
                          self.connect_seconds, turn=None)
        await self._until(self.idle, "the assistant's greeting did not end", self.reply_seconds, turn=None)
        await self._sleep(LEAD_IN_SECONDS)
        for turn in self.script.turns:
            log = TurnLog(turn.index, turn.said)
            self.logs.append(log)
            if turn.silence_before:
                await self._sleep(turn.silence_before)
            await self._say(turn.audio, log)
            if turn.interrupt_after is not None:
                await self._until(partial(_started, log),
                                  f"no reply started within {self.reply_seconds:g} s", self.reply_seconds, turn=turn.index)
                assert log.reply_started_s is not None
                await self._sleep(turn.interrupt_after - (self.now() - log.reply_started_s) - self.send_lag)
                continue
            backchannel = (asyncio.ensure_future(self._backchannel(turn, log))
                           if turn.backchannel is not None else None)
            try:
                await self._settle(log)
                if backchannel is not None and not backchannel.done():
                    backchannel.cancel()
                    log.backchannel_missed = log.backchannel_start_s is None
            finally:
                if backchannel is not None:
                    backchannel.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await backchannel
        self.scripted_done = True
        if self.improviser is not None:
            await self._improvise(self.improviser)
        self.finished = True

    async def _improvise(self, ai: AiCaller) -> None:
        """The AI caller's turns: it answers what it heard, the reply plays, until it hangs up or its turns run out."""
        try:
            await ai.open(self.call_so_far(), self.last_reply() if self.logs else "")  # after scripted turns
        except VoxflowError as error:
            raise CallerError(f"the AI caller could not start: {error.message}") from None
        while not self.session_ended:
            index = len(self.logs) + 1
            log = TurnLog(index, "", improvised=True)
            try:
                spoke = await self._say_answer(ai, log)
            except VoxflowError as error:
                raise CallerError(f"turn {index}: {error.message}") from None
            except CallerError:
                if self._state is SessionState.DISCONNECTED:
                    self.cut_off = True  # the agent hung up on the caller: the goal check says so, not an error
                    return
                raise
            line = ai.last_line
            assert line is not None
            if spoke:
                await ai.listen()  # from here its input is the agent's reply
                try:
                    if line.hangup is not None:
                        with contextlib.suppress(CallerError):  # a goodbye need not be answered
                            await self._settle(log, GOODBYE_SECONDS)
                    else:
                        await self._settle(log)
                except CallerError:
                    if self._state is SessionState.DISCONNECTED:
                        self.cut_off = True
                        return
                    raise
            if line.hangup is not None or ai.turns >= ai.goal.max_turns:
                return
        self.cut_off = True

    async def _say_answer(self, ai: AiCaller, log: TurnLog) -> bool:
        """Say the AI caller's answer as it arrives, once :data:`ANSWER_LEAD_SECONDS` of it (or all of it) is in.

        Speaking while the rest streams in is what a person does; the lead keeps
        the answer whole when it arrives no faster than it is spoken (the local
        server streams in real time). Returns whether anything was said.
        """
        lead = int(ANSWER_LEAD_SECONDS * self.source.sample_rate)
        held: list[np.ndarray] = []
        said: list[Utterance] = []
        try:
            async for chunk in ai.answer_stream():
                if not said:
                    held.append(chunk)
                    if sum(len(piece) for piece in held) < lead:
                        continue
                    said = await self._start_answer(log, held)
                elif not self.session_ended:
                    said.append(self.source.say(chunk, f"turn {log.index}"))
            if not said and held and not self.session_ended:
                said = await self._start_answer(log, held)
            if not said:
                return False
            await self._spoken(said[-1], log.index)
        finally:  # also when the call ends under it: the turn keeps what was said, and when
            log.said = ai.words() or "(the AI caller's words were not transcribed)"
            spoken = [utterance for utterance in said if utterance.end_at is not None]
            if spoken:
                log.caller_start_s = self._stamp(said[0].start_at)
                log.caller_end_s = self._stamp(spoken[-1].end_at)
                self._when_sent(said[0], partial(_set_spoken, log), last=spoken[-1])
        if self._toggle_ptt is not None:
            await self._toggle_ptt()  # release: the turn is sent
        return True

    async def _start_answer(self, log: TurnLog, held: list[np.ndarray]) -> list[Utterance]:
        self.logs.append(log)
        if self._toggle_ptt is not None:
            await self._toggle_ptt()  # press: the caller talks
        return [self.source.say(piece, f"turn {log.index}") for piece in held]

    @property
    def improvised_turns(self) -> int:
        """How many turns the AI caller spoke."""
        return sum(1 for log in self.logs if log.improvised)

    def last_reply(self) -> str:
        """The agent's last words so far ('' before any reply): what an AI caller taking over answers first."""
        replies = [entry.text for entry in self.tracker.entries() if entry.role == "assistant" and entry.text]
        return replies[-1] if replies else ""

    def call_so_far(self) -> str:
        """The transcript so far as the AI caller reads it: ``Caller:`` and ``Agent:`` lines."""
        names = {"user": "Caller", "assistant": "Agent"}
        return "\n".join(f"{names[entry.role]}: {entry.text}" for entry in self.tracker.entries()
                         if entry.role in names and entry.text)

    async def _say(self, audio: np.ndarray, log: TurnLog) -> None:
        if self._toggle_ptt is not None:
            await self._toggle_ptt()  # press: the caller talks
        utterance = self.source.say(audio, f"turn {log.index}")
        await self._spoken(utterance, log.index)
        log.caller_start_s = self._stamp(utterance.start_at)
        log.caller_end_s = self._stamp(utterance.end_at)
        self._when_sent(utterance, partial(_set_spoken, log))
        if self._toggle_ptt is not None:
            await self._toggle_ptt()  # release: the turn is sent

    async def _settle(self, log: TurnLog, reply_seconds: float | None = None) -> None:
        """Until the reply is over and ``pause`` has passed since its last audio, with nothing started again."""
        while True:
            await self._until(lambda: self.answered(log) and self.idle(),
                              lambda: (f"the reply did not end within {self.reply_seconds:g} s" if self.answered(log)
                                       else f"no reply within {reply_seconds or self.reply_seconds:g} s"),
                              reply_seconds or self.reply_seconds, turn=log.index, ended_ok=lambda: self.answered(log))
            heard = log.reply_stopped_s
            since = self.now() - (heard if heard is not None else self.now())
            await self._sleep(self.script.pause - since - self.send_lag)  # on the recording: ``pause`` exactly
            if self.session_ended or (self.idle() and log.reply_stopped_s == heard):
                return  # nothing was heard during the pause, and nothing started again

    async def _backchannel(self, turn: CallerTurn, log: TurnLog) -> None:
        assert turn.backchannel is not None and turn.backchannel_after is not None
        await self._until(partial(_started, log), "", self.reply_seconds, turn=turn.index, quiet=True)
        assert log.reply_started_s is not None
        await self._sleep(turn.backchannel_after - (self.now() - log.reply_started_s) - self.send_lag)
        if not self.talking:
            log.backchannel_missed = True
            return
        utterance = self.source.say(turn.backchannel, "backchannel")
        await self._spoken(utterance, turn.index)
        log.backchannel_start_s = self._stamp(utterance.start_at)
        log.backchannel_end_s = self._stamp(utterance.end_at)
        self._when_sent(utterance, partial(_set_backchannel, log))

    async def _spoken(self, utterance: Utterance, turn: int) -> None:
        """Until the utterance has been handed out (the source stopping or the session ending cut it short)."""
        await self._until(utterance.finished.is_set, f"the caller could not finish speaking within "
                          f"{len(utterance.audio) / self.source.sample_rate + self.reply_seconds:g} s",
                          len(utterance.audio) / self.source.sample_rate + self.reply_seconds, turn=turn,
                          wake=utterance.finished)
        if self.source.ended and utterance.end_at is None:
            raise CallerError(f"turn {turn}: the caller's audio was stopped while it spoke")

    async def _sleep(self, seconds: float) -> None:
        """Wait on the clock (a pause is wall time: the reply plays on whatever the caller's audio does)."""
        if seconds > 0 and not self.source.ended:
            await self.clock.sleep(seconds)

    def _stamp(self, at: float | None) -> float | None:
        return None if at is None else at - self._origin

    async def _until(self, ready: Callable[[], bool], message: str | Callable[[], str], timeout: float, *,
                     turn: int | None,
                     ended_ok: Callable[[], bool] | None = None, quiet: bool = False,
                     wake: asyncio.Event | None = None) -> None:
        """Until ``ready()``; CallerError after ``timeout`` s or when the session ends first."""
        where = f"turn {turn}: " if turn is not None else ""
        deadline = self.clock.monotonic() + timeout
        while not ready():
            if self.session_ended:
                if quiet or (ended_ok is not None and ended_ok()):
                    return
                raise CallerError(f"{where}the session ended ({self._reason or self._state})")
            if self.source.ended and not quiet:
                raise CallerError(f"{where}the caller's audio was stopped")
            remaining = deadline - self.clock.monotonic()
            if remaining <= 0:
                if quiet:
                    return
                raise CallerError(f"{where}{message if isinstance(message, str) else message()}")
            self._changed.clear()
            waits: list[asyncio.Future[object]] = [asyncio.ensure_future(self._changed.wait())]
            if wake is not None:
                waits.append(asyncio.ensure_future(wake.wait()))
            silent_in = self.quiet_in()
            if silent_in is not None:  # the moment the assistant falls silent
                waits.append(asyncio.ensure_future(self._sleep(silent_in)))
            try:
                await asyncio.wait(waits, timeout=min(remaining, 0.25), return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waits:
                    waiter.cancel()
