"""RealtimeSession: one live conversation with a Realtime service, as a plain asyncio object.

It composes these parts, each replaceable without touching the others:

* :class:`~audio.session.interpreter.EventInterpreter` -- what server events
  mean (transcript, response and playing state, typed events);
* :class:`~audio.session.lifecycle.Lifecycle` -- the connection's one state
  machine, ended safely under cancellation;
* per connection, :class:`~audio.session.media.MediaPaths` (microphone and
  playback) and a :class:`~audio.transports.transport.RealtimeTransport`
  (WebRTC or WebSocket) made by the transport factory;
* :class:`~audio.session.controls.UserControls` -- mute, push-to-talk, typed
  turns and barge-in, always on the live connection.

With ``reconnect`` (the default) or ``renew`` the
:class:`~audio.session.renewal.Renewal` supervisor keeps it going across
connections: after a drop, and with ``renew`` before the cap
(``renewal.py``, ``handover.py``).

Typed events (``audio/session/events.py``) go out on :attr:`events`; the TUI
and the headless runner are just subscribers. ``connect()`` may be called
again after the session ended (same config, transcript kept); ``disconnect()``
releases everything the session opened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from audio.base.clock import Clock, SystemClock
from audio.base.errors import VoxflowError
from audio.dsp.frames import AudioSource
from audio.dsp.pipe import AudioPipe
from audio.base.pubsub import EventHub
from audio.wire import protocol
from audio.wire.config import SessionConfig
from audio.session.connection import TASK_PREFIX as TASK_PREFIX
from audio.session.connection import Connection, release_shielded
from audio.echo.echo_guard import EchoGuard
from audio.session.events import (
    ConnectionInfo,
    Notice,
    PttState,
    SessionEvent,
    SessionState,
    StateChanged,
    TimerTick,
)
from audio.session.input_gate import InputGate
from audio.session.interpreter import EventInterpreter, ServerEventListener
from audio.session.latency_budget import run_latency_budget
from audio.session.lifecycle import Lifecycle, Phase
from audio.session.controls import UserControls
from audio.session.media import MediaPaths, PlaybackListener, Recorder, resolve_input
from audio.session.outage_buffer import HeardUntil, OutageBuffer, OutageReport
from audio.session.outage_speech import append_events, item_events, speech_only
from audio.speech.speech_probability import SileroScorer
from audio.transports.secrets import SecretProvider
from audio.session.session_sync import session_update_needed
from audio.session.renewal import Renewal
from audio.session.renewal_port import RenewalPort
from audio.session.session_tools import SessionTools
from audio.session.timers import SessionTimer, run_session_timer
from audio.session.tools import Approver, Tool
from audio.session.transcript import Transcript
from audio.transports.transport import RealtimeTransport, TransportCallbacks, TransportFactory
from audio.session.playout import follow_playout
from audio.transports.factory import transport_factory
from audio.base.registry import AudioRegistry

if TYPE_CHECKING:  # echo cancellation (numpy, PyAV) is wired by the caller, only when it is used
    from audio.echo.echo_setup import EchoSetup

log = logging.getLogger(__name__)

USER_DISCONNECT = "disconnected"


@dataclass(frozen=True)
class _Effects:
    """The session's side of :class:`~audio.session.interpreter.InterpreterEffects`: its own methods, handed over."""

    flush_playback: Callable[[], None]
    session_created: Callable[[], None]
    service_ended: Callable[[str, bool], None]
    connection_facts: Callable[..., None]


class RealtimeSession:
    """A Realtime conversation over a pluggable transport; see the module docstring.

    It offers :class:`~audio.session.renewal_port.RenewalPort` to its
    renewal supervisor, and :class:`~audio.session.live.LiveSession` to front ends.
    """

    def __init__(
        self,
        config: SessionConfig,
        *,
        secret_provider: SecretProvider,
        registry: AudioRegistry,
        clock: Clock | None = None,
        input_stream_id: str | None = None,
        input_source: AudioSource | None = None,
        output_sample_rate: int = 24_000,
        output_channels: int = 1,
        recorder: Recorder | None = None,
        echo_guard: bool = True,
        provider_label: str | None = None,
        transport_factory: TransportFactory | None = None,
        tools: Iterable[Tool] = (),
        approve_tools: Approver | None = None,
        echo: EchoSetup | None = None,
    ) -> None:
        self.config = config
        self.secret_provider = secret_provider
        self.registry = registry
        self.clock: Clock = clock or SystemClock()
        self.input_stream_id = input_stream_id
        self.input_source = input_source
        self.output_sample_rate = output_sample_rate
        self.output_channels = output_channels
        self.recorder = recorder
        self.provider_label = provider_label or getattr(secret_provider, "label", None)
        self.transport_factory = transport_factory  # None: the transport ``config.transport`` names, at connect time
        self.events: EventHub[SessionEvent] = EventHub()
        self.playback_listeners: list[PlaybackListener] = []

        self.state = SessionState.IDLE
        self.reason: str | None = None
        self.lifecycle = Lifecycle()
        effects = _Effects(flush_playback=lambda: self.controls.flush_playback(), session_created=self._session_created,
                           service_ended=self._service_ended, connection_facts=self._update_info)
        self.interpreter = EventInterpreter(self.clock, self._publish, effects, push_to_talk=config.push_to_talk,
                                            input_time=lambda ms: self._media.input_time(ms) if self._media else None)
        self.echo_guard = EchoGuard(self.clock, enabled=echo_guard and not config.push_to_talk)
        self.echo = echo  # echo cancellation (audio/echo/echo_setup.py), wired by the caller
        self.controls = UserControls(
            config=lambda: self.config, clock=self.clock, interpreter=self.interpreter, echo_guard=self.echo_guard,
            publish=self._publish, connected=lambda: self.connected, transport=lambda: self._transport,
            media=lambda: self._media, busy=lambda: self.assistant_busy, on_barge_in=self._cancel_tools,
        )
        self.mic_gate, self.ptt = self.controls.mic_gate, self.controls.ptt
        self.timer = SessionTimer(self.clock, config.max_seconds)
        tools = list(tools)
        self.tools: SessionTools | None = None  # function calls: see audio/session/session_tools.py
        if tools:
            self.tools = SessionTools(tools, send=self.controls.send_quiet, publish=self._publish, transcript=self.transcript,
                                      clock=self.clock, approve=approve_tools, tool_choice=config.tool_choice)
            self.tools.listen(self.on_server_event)
        self.call_id: str | None = None
        self._conn: Connection | None = None
        self._opening: asyncio.Future[None] | None = None
        self._detached: set[asyncio.Task[Any]] = set()
        self._releasing: set[asyncio.Future[Any]] = set()
        self._kept_output: tuple[AudioPipe, str] | None = None  # the playback stream across a switch
        self._first_started: float | None = None
        self.renewal: Renewal | None = Renewal(self) if config.renew or config.reconnect else None
        self._outage: OutageBuffer | None = None  # the microphone through outages (``outage_buffer.py``)
        self.heard_until = HeardUntil(self.clock)
        self.events.add_callback(self.heard_until)
        self._outages = 0
        self._info = ConnectionInfo(
            model=config.model, voice=config.voice, vad=config.vad_label(), provider=self.provider_label
        )

    # ---------------------------------------------------------------- public state
    def echo_status(self) -> tuple[str, float | None]:
        """What keeps the assistant from hearing itself right now, and the echo removed (dB) if measured."""
        if self.echo is not None and self.echo.canceller is not None and self.echo.canceller.active:
            return self.echo.label, self.echo.erle_db
        return ("guard" if self.echo_guard.enabled else "off"), None

    def local_barge_ins(self) -> int:
        """Replies held so far because the cleaned microphone heard the person (0 without echo cancellation)."""
        barge_in = self.echo.barge_in if self.echo is not None else None
        return barge_in.holds if barge_in is not None else 0

    @property
    def connected(self) -> bool:
        return self.state is SessionState.CONNECTED

    @property
    def transcript(self) -> Transcript:
        return self.interpreter.transcript

    @property
    def assistant_busy(self) -> bool:
        """The assistant is generating, its audio is still playing, or a tool it called is running."""
        return self.interpreter.assistant_busy or (self.tools is not None and self.tools.running)

    @property
    def _media(self) -> MediaPaths | None:
        return self._conn.media if self._conn is not None else None

    @property
    def _transport(self) -> RealtimeTransport | None:
        return self._conn.transport if self._conn is not None else None

    @property
    def output_pipe(self) -> AudioPipe | None:
        return self._media.output_pipe if self._media is not None else None

    @property
    def output_stream_id(self) -> str | None:
        return self._media.output_stream_id if self._media is not None else None

    @property
    def input_gate(self) -> InputGate | None:
        return self._media.input_gate if self._media is not None else None

    @property
    def input_ended(self) -> bool:
        return self._media is not None and self._media.input_ended

    @property
    def ptt_state(self) -> PttState:
        return self.ptt.state

    @property
    def connection_info(self) -> ConnectionInfo:
        return self._info

    def idle_for(self) -> float:
        """Seconds since the last server event while nothing is generating or playing (0 when busy)."""
        if self.assistant_busy:
            return 0.0
        return max(0.0, self.clock.monotonic() - self.interpreter.last_activity)

    async def wait_closed(self) -> None:
        """Until the session has ended (a renewal or reconnection in progress is not an end)."""
        while True:
            await self.lifecycle.closed.wait()
            if self.renewal is None or not self.renewal.switching:
                return
            await self.renewal.wait()

    def total_elapsed(self) -> float:
        """Seconds since the first connection of this session started (across renewals)."""
        return 0.0 if self._first_started is None else self.clock.monotonic() - self._first_started

    # ---------------------------------------------------------------- extension
    def on_server_event(self, event_type: str, listener: ServerEventListener) -> Callable[[], None]:
        """Follow one server event type (after the built-in handling); returns the unsubscribe function."""
        return self.interpreter.add_listener(event_type, listener)

    def send_event(self, event: dict[str, Any]) -> None:
        """Send one client event (e.g. ``conversation.item.create``); raises when not connected."""
        self.controls.send_event(event)

    # ---------------------------------------------------------------- connecting
    async def connect(self, *, failure_state: SessionState = SessionState.ERROR) -> None:
        """Open the session; raises :class:`VoxflowError` (state ``failure_state`` with the reason) on failure."""
        if self.lifecycle.phase in (Phase.CONNECTING, Phase.CONNECTED, Phase.CLOSING):
            raise VoxflowError("the realtime session is already connected", hint="Disconnect it first.")
        await self._finish_releases()
        generation = self.lifecycle.begin_connect()
        self.interpreter.reset_connection()
        self.echo_guard.reset()
        self._set_state(SessionState.CONNECTING)
        timeout = self.config.connect_timeout
        self._opening = asyncio.ensure_future(self._open(generation))
        try:
            await asyncio.wait_for(self._opening, timeout)
        except TimeoutError:
            reason = f"no answer from the Realtime service within {timeout:g} s"
            await self.end_connection(failure_state, reason)
            raise VoxflowError(reason, hint="Check the network, OPENAI_BASE_URL, or try again.") from None
        except VoxflowError as exc:
            await self.end_connection(failure_state, exc.message)
            raise
        except asyncio.CancelledError:
            task = asyncio.current_task()
            stop = self.lifecycle.stop_requested
            stopped_by_disconnect = stop is not None and not (task and task.cancelling())
            await self.end_connection(SessionState.DISCONNECTED, stop or "connecting was cancelled")
            if stopped_by_disconnect:
                raise VoxflowError(f"connecting was stopped ({stop})") from None
            raise
        except Exception as exc:
            log.exception("connecting the realtime session failed")
            reason = f"connecting failed ({type(exc).__name__})"
            await self.end_connection(failure_state, reason)
            raise VoxflowError(reason, hint="Try again; if it keeps failing, run with --provider local.") from None
        finally:
            self._opening = None

    async def _open(self, generation: int) -> None:
        conn = self._conn = Connection(generation)
        secret = await self.secret_provider.mint(self.config)
        source = self._microphone(resolve_input(self.registry, self.input_source, self.input_stream_id))
        conn.media = MediaPaths(
            clock=self.clock, registry=self.registry, echo_guard=self.echo_guard,
            latency=self.interpreter.latency, publish=self._publish, source=source,
            gate_open=self.mic_gate.open, output_sample_rate=self.output_sample_rate,
            output_channels=self.output_channels, recorder=self.recorder,
            on_user_audio=self.ptt.captured if self.config.push_to_talk else None,
            playback_listeners=tuple(self.playback_listeners), output=self._kept_output, echo_status=self.echo_status,
            barge_ins=self.local_barge_ins,
        )
        conn.transport = transport = self.new_transport(self.connection_callbacks(generation))
        self._update_info(transport=transport.name)
        self.call_id = await transport.open(secret, conn.media.paths()) or None
        self._update_info(call_id=self.call_id, transport=transport.name)
        follow_playout(self.clock, conn, self.interpreter)
        await conn.wait_or_end(transport.wait_open())
        await conn.wait_or_end(conn.created.wait())
        update = session_update_needed(self.config, self.interpreter.effective_session)
        if update is not None:
            self.controls.send_quiet(update)
        self._go_live(conn)  # its tasks start running once the state below is set
        if self._first_started is None:
            self._first_started = self.timer.clock.monotonic()
        self.lifecycle.connected()
        self._set_state(SessionState.CONNECTED)
        if self.echo is not None and self.echo.notice:
            self._publish(Notice(self.echo.notice, "warning"))

    def _microphone(self, source: AudioSource | None) -> AudioSource | None:
        """The microphone as connections read it: through the outage buffer when connections may be replaced."""
        if source is None or self.renewal is None or self.config.outage_buffer <= 0:
            return source
        if self._outage is None or self._outage.source is not source:
            if self._outage is not None:
                self._outage.stop()
            self._outage = OutageBuffer(source, self.clock, seconds=self.config.outage_buffer, keep=self._meant_to_send,
                                        scorer=SileroScorer)
        return self._outage

    def _meant_to_send(self) -> bool:
        """Whether the person means the microphone to be heard now (not muted; not the assistant's own echo)."""
        return self.mic_gate.open and not (self.echo_guard.enabled and self.interpreter.assistant_playing)

    def new_transport(self, callbacks: TransportCallbacks) -> RealtimeTransport:
        """A transport of the configured kind (the injected factory, else the one ``config.transport`` names)."""
        factory = self.transport_factory or transport_factory(self.config, self.warn)
        return factory(callbacks)

    def connection_callbacks(self, generation: int) -> TransportCallbacks:
        """How the session follows the connection of ``generation``; ignored once it is not the live one."""
        return TransportCallbacks(
            on_message=lambda message: self._on_message(generation, message),
            on_state=lambda link, channel: self._on_transport_state(generation, link, channel),
            on_closed=lambda reason, error: self._on_transport_closed(generation, reason, error),
        )

    def _go_live(self, conn: Connection) -> None:
        """The live connection's own clock and tasks (after a connect, or a handover: ``handover.py``)."""
        transport = conn.transport
        assert transport is not None
        if not transport.server_playback and conn.media is not None:
            conn.media.expect_bursts()
        self.timer.start()
        conn.spawn(self._run_timer(), "timer")
        conn.spawn(run_latency_budget(self.clock, transport, lambda: conn.media.output_pipe if conn.media is not None else None,
                                      self.interpreter.latency, self._publish), "latency-budget")
        if self.renewal is not None and self.config.renew:
            conn.spawn(self.renewal.watch(), "renewal")

    def warn(self, message: str) -> None:
        """Publish a warning notice."""
        self._publish(Notice(message, "warning"))

    # ---------------------------------------------------------------- ending
    async def disconnect(self, reason: str | None = None) -> None:
        """End the session cleanly (idempotent); the transcript is kept."""
        if self.renewal is not None and self.renewal.switching:
            await self.renewal.cancel()
            if self.state in (SessionState.RENEWING, SessionState.RECONNECTING, SessionState.CONNECTING):
                if self.lifecycle.phase is Phase.CLOSED:
                    self._set_state(SessionState.DISCONNECTED, reason or USER_DISCONNECT)
        phase = self.lifecycle.phase
        opening = self._opening
        if phase is Phase.CONNECTING and opening is not None and not opening.done():
            self.lifecycle.stop_requested = reason or USER_DISCONNECT
            opening.cancel()  # connect() tears down and reports
            await self.lifecycle.closed.wait()
        elif phase in (Phase.CONNECTING, Phase.CONNECTED):
            await self.end_connection(SessionState.DISCONNECTED, reason or USER_DISCONNECT)
        elif phase is Phase.CLOSING:
            await self.lifecycle.closed.wait()
        await self._finish_releases()

    async def end_connection(self, state: SessionState, reason: str) -> None:
        """End the live connection once; the caller's cancellation is re-raised, never leaves it half-closed.

        ``renewing``/``reconnecting`` leave a kept playback stream for the next connection.
        """
        if not self.lifecycle.begin_close(state, reason):
            return
        conn, self._conn = self._conn, None
        standby = self.renewal.handover.take() if self.renewal is not None else None  # one opened ahead goes too
        if self.tools is not None:
            self.tools.cancel("the session ended")
        try:
            await self.release(conn, standby)
        finally:
            self.ptt.reset()
            self.interpreter.connection_ended()
            if state not in (SessionState.RENEWING, SessionState.RECONNECTING):
                self.drop_kept_playback()  # the session's end: its playback stream goes too
                self.drop_held_input()
            outcome = self.lifecycle.finish_close()
            self._update_info(ice_state="closed", datachannel_state="closed")
            self._set_state(outcome.state, outcome.reason)

    async def release(self, *conns: Connection | None) -> None:
        """Release connections; a cancelled caller stops waiting, the release goes on (``disconnect`` waits for it)."""
        await release_shielded(conns, self._releasing)

    def release_later(self, conn: Connection) -> None:
        """Release ``conn`` in a task of its own (from one of its callbacks, which the release would cancel)."""
        self._spawn_detached(self.release(conn), "release")

    async def _finish_releases(self) -> None:
        """Wait for releases a cancelled teardown left running."""
        pending = [task for task in self._releasing if not task.done()]
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    def _on_transport_closed(self, generation: int, reason: str, error: bool) -> None:
        conn = self._conn
        if not self.lifecycle.current(generation) or conn is None:
            return
        conn.transport_ended(reason, error)
        if self.lifecycle.phase is Phase.CONNECTED and self.renewal is not None and self.config.reconnect:
            self.renewal.start("reconnection", reason)
        elif self.lifecycle.phase is Phase.CONNECTED:
            state = SessionState.ERROR if error else SessionState.DISCONNECTED
            self._spawn_detached(self.end_connection(state, reason), "teardown")

    def _spawn_detached(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """A task that must outlive :meth:`release` (it is the one calling it)."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{TASK_PREFIX}-{name}")
        self._detached.add(task)
        task.add_done_callback(self._detached.discard)

    # ---------------------------------------------------------------- timers
    async def _run_timer(self) -> None:
        def cap(reason: str) -> None:
            if not self.config.renew:  # with renewal, its watch switches at the cap at the latest
                self._spawn_detached(self.end_connection(SessionState.DISCONNECTED, reason), "cap")

        def publish(event: SessionEvent) -> None:
            if isinstance(event, TimerTick):
                event = replace(event, total=self.total_elapsed())
            self._publish(event)

        await run_session_timer(self.timer, self.config.max_duration, publish, cap)

    # ---------------------------------------------------------------- the renewal port (renewal_port.py)
    def last_server_activity(self) -> float:
        return self.interpreter.last_activity

    def live_connection(self) -> Connection | None:
        return self._conn

    def stamp(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.interpreter.stamp(event)

    def keep_playback(self, *, flush: bool) -> None:
        """Hand the playback stream of the live connection to the next one (see ``renewal.py``)."""
        media = self._media
        if media is None:
            return
        if flush:
            media.flush_playback()
        if self._kept_output is None:
            self._kept_output = media.hand_over_output()

    def drop_kept_playback(self) -> None:
        """Unregister a kept playback stream (no connection will take it)."""
        kept, self._kept_output = self._kept_output, None
        if kept is not None:
            self.registry.unregister(kept[1])

    def adopt(self, conn: Connection, *, call_id: str | None, link: tuple[str, str], kept: list[str | bytes]) -> None:
        """A connection opened ahead, its media already moved to it, becomes the live one (``handover.py``)."""
        assert conn.transport is not None
        self._conn = conn
        self.lifecycle.hand_over(conn.generation)
        self.interpreter.connection_ended()
        self.interpreter.reset_connection()
        self.call_id = call_id
        self._update_info(call_id=call_id, transport=conn.transport.name, ice_state=link[0], datachannel_state=link[1])
        for message in kept:  # session.created and .updated: the new session's effective settings
            self.interpreter.feed(message)
        follow_playout(self.clock, conn, self.interpreter)
        self._go_live(conn)

    def hold_input(self) -> None:
        """The link is down: the microphone goes on into the outage buffer, from what the session surely heard."""
        if self._outage is not None:
            self._outage.hold(self.heard_until.since())

    def drop_held_input(self) -> None:
        """No connection will take what an outage held: stop listening for one."""
        if self._outage is not None:
            self._outage.drop()

    async def resume_input(self) -> OutageReport | None:
        """The new connection is live: hand it what was said during the outage, then the live microphone.

        Only the speech goes (scored by Silero as it was held: ``outage_buffer.py``,
        ``outage_speech.py``). Over WebSocket it is appended right before the
        live audio; over WebRTC (and with push-to-talk) it becomes user audio
        items with a ``response.create``, while the live track goes on. A turn
        the old connection committed but never transcribed is continued by it,
        so the transcript shows it once. None: no outage was held, or the
        connection dropped again meanwhile (the next one gets what was held).
        """
        outage, conn = self._outage, self._conn
        transport = conn.transport if conn is not None else None
        if outage is None or not outage.holding or transport is None or not transport.is_open:
            return None
        await outage.settled()  # the last frames' scores (the live audio waits for them, at most a second)
        if self._conn is not conn or not transport.is_open or not outage.holding:
            return None  # dropped again: what was held stays in the buffer for the next connection
        held = outage.release()
        speech = speech_only(held, threshold=getattr(self.config.vad, "threshold", 0.5))
        cut = self._cut_turn() if speech.seconds > 0 else None
        if transport.appends_input and not self.config.push_to_talk:
            if cut is not None:
                self.interpreter.continue_turn(cut)
            for event in append_events(speech.pcm):  # queued ahead of the live audio, which follows at once
                self.controls.send_quiet(event)
        elif speech.seconds > 0:
            self._outages += 1
            events = item_events(speech.pcm, max_bytes=transport.max_event_bytes or 2**31,
                                 ids=lambda n: f"outage_{self._outages}_{n}")
            first = str(events[0]["item"]["id"])
            if cut is not None:
                self.interpreter.continue_turn(cut, first)
            self.heard_until.delivered(cut or first, held.until)
            for event in events:
                self.controls.send_quiet(event)
            self.controls.send_quiet(protocol.response_create())
        if speech.seconds == 0 and self._unanswered():
            self.controls.send_quiet(protocol.response_create())  # the drop came between a question and its reply
        return OutageReport(held.seconds, speech.seconds, held.dropped_seconds)

    def _cut_turn(self) -> str | None:
        """The oldest user turn the old connection committed but never transcribed (its audio is being sent again)."""
        return next((e.item_id for e in self.transcript.entries() if e.role == "user" and (e.pending or not e.final)), None)

    def _unanswered(self) -> bool:
        """The conversation ends with a transcribed user turn and no reply (carried over as text)."""
        turns = [e for e in self.transcript.entries() if e.role in ("user", "assistant")]
        return bool(turns) and turns[-1].role == "user" and turns[-1].final and not turns[-1].pending

    def send_carried(self, events: list[dict[str, Any]], id_prefix: str) -> None:
        """Send the conversation so far; items whose id starts with ``id_prefix`` are not new turns."""
        self.interpreter.ignore_items(id_prefix)
        for event in events:
            self.controls.send_quiet(event)

    def report_state(self, state: SessionState, reason: str | None = None) -> None:
        self._set_state(state, reason)

    # ---------------------------------------------------------------- user actions
    @property
    def muted(self) -> bool:
        return self.mic_gate.muted

    def mute(self) -> None:
        self.mic_gate.set_muted(True)

    def unmute(self) -> None:
        self.mic_gate.set_muted(False)

    async def ptt_toggle(self) -> PttState:
        """Push-to-talk press/release; only with ``vad: disabled``."""
        return await self.controls.ptt_toggle()

    async def send_text(self, text: str) -> None:
        """A typed user turn (barging in if the assistant is busy)."""
        await self.controls.send_text(text)

    def _cancel_tools(self) -> None:
        """Barge-in: the tool calls of the interrupted response are cancelled too."""
        if self.tools is not None:
            self.tools.cancel("the user interrupted")

    # ---------------------------------------------------------------- interpreter effects
    def _session_created(self) -> None:
        if self._conn is not None:
            self._conn.created.set()

    def _service_ended(self, reason: str, error: bool) -> None:
        if self.renewal is not None and self.config.renew and not error:  # session_expired: renew at once
            self.renewal.start("renewal", reason)
            return
        state = SessionState.ERROR if error else SessionState.DISCONNECTED
        self._spawn_detached(self.end_connection(state, reason), "service-ended")

    # ---------------------------------------------------------------- transport callbacks
    def _on_message(self, generation: int, message: str | bytes) -> None:
        if self.lifecycle.current(generation):
            self.interpreter.feed(message)

    def _on_transport_state(self, generation: int, link: str, channel: str) -> None:
        if self.lifecycle.current(generation):
            self._update_info(ice_state=link, datachannel_state=channel)

    # ---------------------------------------------------------------- publishing
    def _publish(self, event: SessionEvent) -> None:
        self.events.publish(event)

    def _set_state(self, state: SessionState, reason: str | None = None) -> None:
        self.state = state
        self.reason = reason
        self._publish(StateChanged(state, reason))

    def _update_info(self, **changes: Any) -> None:
        info = replace(self._info, **changes)
        if info != self._info:
            self._info = info
            self._publish(info)


_: type[RenewalPort] = RealtimeSession  # the type check holds the session to the port renewal works through
