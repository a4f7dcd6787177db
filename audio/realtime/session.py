"""RealtimeSession: one live conversation with a Realtime service, as a plain asyncio object.

It owns a :class:`~audio.realtime.webrtc.WebRtcTransport`, the microphone path
(:class:`~audio.realtime.input_gate.InputGate` into a paced sending track), the
receive pump that writes the assistant's audio into an
:class:`~audio.pipe.AudioPipe` registered for downstream nodes, the
:class:`~audio.realtime.transcript.Transcript`, the session timer and the
push-to-talk machine. It interprets server events (docs/PROTOCOL.md §4) and
publishes typed events (``audio/realtime/events.py``) on :attr:`events`; the
TUI and the headless runner are just subscribers.

Lifecycle: ``idle → connecting → connected → disconnected | error``. ``connect()``
may be called again after the session ended (same config, transcript kept);
``disconnect()`` releases everything the session opened.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

import numpy as np

from audio.clock import Clock, SystemClock
from audio.errors import VoxflowError
from audio.frames import AudioSource
from audio.pipe import AudioPipe
from audio.pubsub import EventHub
from audio.realtime import protocol
from audio.realtime.config import SessionConfig
from audio.levels import LevelMeter, rms_dbfs
from audio.realtime.echo_guard import AUDIBLE_DBFS, EchoGuard
from audio.realtime.events import (
    AssistantAudio,
    ConnectionInfo,
    Levels,
    MuteChanged,
    Notice,
    PttChanged,
    PttState,
    RateLimit,
    RateLimitsUpdated,
    ResponseDone,
    ResponseStarted,
    SessionErrorEvent,
    SessionEvent,
    SessionState,
    SpeechStarted,
    SpeechStopped,
    StateChanged,
    TimerTick,
    TranscriptCleared,
    TranscriptUpdated,
    TurnLatency,
    Usage,
)
from audio.realtime.input_gate import InputGate
from audio.realtime.ptt import PushToTalk
from audio.realtime.secrets import SecretProvider
from audio.realtime.timers import SessionTimer
from audio.realtime.transcript import Transcript
from audio.realtime.webrtc import WebRtcTransport
from audio.registry import AudioRegistry

log = logging.getLogger(__name__)

LEVELS_INTERVAL = 0.1  # publish levels at most ~10 times a second
OUTPUT_PIPE_MS = 2000
TASK_PREFIX = "voxflow-realtime"
USER_DISCONNECT = "disconnected"


def _duration_text(minutes: float) -> str:
    """``60 min``, ``2.5 min``, or ``45 s`` for caps under a minute."""
    if minutes < 1:
        return f"{minutes * 60:.3g} s"
    return f"{minutes:.4g} min"


class RealtimeSession:
    """A Realtime conversation over WebRTC; see the module docstring."""

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
        recorder: Any = None,
        echo_guard: bool = True,
        provider_label: str | None = None,
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
        self.events: EventHub[SessionEvent] = EventHub()

        self.state = SessionState.IDLE
        self.reason: str | None = None
        self.transcript = Transcript(self.clock, on_change=self._transcript_changed, on_clear=self._transcript_cleared)
        self.echo_guard = EchoGuard(self.clock, enabled=echo_guard and not config.push_to_talk)
        self.ptt = PushToTalk(
            clock=self.clock,
            send=self._send_quiet,
            set_gate=self._set_ptt_gate,
            flush_playback=self._flush_playback,
            assistant_busy=lambda: self.assistant_busy,
            on_state=lambda state: self._publish(PttChanged(state)),
            on_notice=lambda message: self._publish(Notice(message, "warning")),
        )
        self.timer = SessionTimer(self.clock, config.max_seconds)

        self.muted = False
        self.response_active = False
        self.assistant_playing = False
        self.total_usage = Usage()
        self.last_latency: float | None = None
        self.last_activity = self.clock.monotonic()
        self.call_id: str | None = None
        self.output_stream_id: str | None = None
        self.output_pipe: AudioPipe | None = None
        self.input_gate: InputGate | None = None
        self.effective_session: dict[str, Any] = {}

        self._transport: WebRtcTransport | None = None
        self._send_track: Any = None
        self._pump: Any = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._detached: set[asyncio.Task[Any]] = set()
        self._opening: asyncio.Future[None] | None = None
        self._abort_reason: str | None = None
        self._tearing_down = False
        self._session_created: asyncio.Event = asyncio.Event()
        self._ended: asyncio.Event = asyncio.Event()
        self._end_reason: tuple[str, bool] | None = None
        self._ptt_gate = False
        self._turn_end_at: float | None = None
        self._latency_armed = False  # the reply to the ended turn started playing: its first audible frame counts
        self._input_meter = LevelMeter()
        self._output_meter = LevelMeter()
        self._levels_published_at = float("-inf")
        self._generation = 0
        self._info = ConnectionInfo(
            model=config.model, voice=config.voice, vad=config.vad_label(), provider=self.provider_label
        )
        self._closed_event = asyncio.Event()
        self._closed_event.set()

    # ---------------------------------------------------------------- public state
    @property
    def connected(self) -> bool:
        return self.state is SessionState.CONNECTED

    @property
    def assistant_busy(self) -> bool:
        """The assistant is generating or its audio is still playing."""
        return self.response_active or self.assistant_playing

    @property
    def input_ended(self) -> bool:
        return self.input_gate is not None and self.input_gate.ended.is_set()

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
        return max(0.0, self.clock.monotonic() - self.last_activity)

    async def wait_closed(self) -> None:
        """Until the current connection (if any) has ended."""
        await self._closed_event.wait()

    # ---------------------------------------------------------------- connecting
    async def connect(self) -> None:
        """Open the session; raises :class:`VoxflowError` (state ``error`` with the reason) on failure."""
        if self.state in (SessionState.CONNECTING, SessionState.CONNECTED):
            raise VoxflowError("the realtime session is already connected", hint="Disconnect it first.")
        self._generation += 1
        self._session_created = asyncio.Event()
        self._ended = asyncio.Event()
        self._end_reason = None
        self._closed_event = asyncio.Event()
        self.response_active = self.assistant_playing = False
        self._turn_end_at, self._latency_armed = None, False
        self.effective_session = {}
        self.echo_guard.reset()
        self._set_state(SessionState.CONNECTING)
        self._abort_reason = None
        timeout = self.config.connect_timeout
        self._opening = asyncio.ensure_future(self._open())
        try:
            await asyncio.wait_for(self._opening, timeout)
        except TimeoutError:
            reason = f"no answer from the Realtime service within {timeout:g} s"
            await self._teardown(SessionState.ERROR, reason)
            raise VoxflowError(reason, hint="Check the network, OPENAI_BASE_URL, or try again.") from None
        except VoxflowError as exc:
            await self._teardown(SessionState.ERROR, exc.message)
            raise
        except asyncio.CancelledError:
            task = asyncio.current_task()
            stopped_by_disconnect = self._abort_reason is not None and not (task and task.cancelling())
            reason = self._abort_reason or "connecting was cancelled"
            await self._teardown(SessionState.DISCONNECTED, reason)
            if stopped_by_disconnect:
                raise VoxflowError(f"connecting was stopped ({reason})") from None
            raise
        except Exception as exc:
            log.exception("connecting the realtime session failed")
            reason = f"connecting failed ({type(exc).__name__})"
            await self._teardown(SessionState.ERROR, reason)
            raise VoxflowError(reason, hint="Try again; if it keeps failing, run with --provider local.") from None
        finally:
            self._opening = None

    async def _open(self) -> None:
        generation = self._generation
        secret = await self.secret_provider.mint(self.config)

        from audio.tracks import SourceTrack, TrackPump  # aiortc + PyAV: imported when a session connects

        self.output_pipe = AudioPipe(self.output_sample_rate, self.output_channels, max_ms=OUTPUT_PIPE_MS)
        self.output_pipe.add_flush_listener(self.echo_guard.reset)
        self.output_stream_id = self.registry.register(self.output_pipe, hint="realtime-out")

        source = self._resolve_input()
        if source is not None:
            self.input_gate = InputGate(source, echo_guard=self.echo_guard, on_frame=self._on_input_frame)
            self._send_track = SourceTrack(
                self.input_gate, clock=self.clock, on_frame=self._on_sent_frame, gate_open=self._gate_wanted()
            )

        def on_track(track: Any) -> None:
            if generation != self._generation or self.output_pipe is None:
                return
            self._pump = TrackPump(
                track,
                self.output_pipe,
                sample_rate=self.output_sample_rate,
                channels=self.output_channels,
                on_frame=self._on_output_frame,
            )
            self._pump.start()

        self._transport = WebRtcTransport(
            self.config.base_url,
            ice_servers=self.config.ice_servers,
            on_message=lambda message: self._on_message(generation, message),
            on_track=on_track,
            on_state=lambda ice, channel: self._on_transport_state(generation, ice, channel),
            on_closed=lambda reason, error: self._on_transport_closed(generation, reason, error),
        )
        self.call_id = await self._transport.open(secret, self._send_track)
        self._update_info(call_id=self.call_id)
        await self._wait_or_end(self._transport.wait_open())
        await self._wait_or_end(self._session_created.wait())
        self._sync_session()
        self.timer.start()
        self._set_state(SessionState.CONNECTED)
        self._spawn(self._run_timer(), "timer")

    def _resolve_input(self) -> AudioSource | None:
        if self.input_source is not None:
            return self.input_source
        if self.input_stream_id is not None:
            stream = self.registry.get(self.input_stream_id)
            if not hasattr(stream, "read"):
                raise VoxflowError(
                    f"audio stream {self.input_stream_id!r} is not an audio source",
                    hint="Connect an audio-input node to the realtime-conversation node's audio-in.",
                )
            return stream
        return None

    async def _wait_or_end(self, awaitable: Coroutine[Any, Any, Any]) -> None:
        """Wait for ``awaitable`` unless the transport ends first (then raise its reason)."""
        waiter = asyncio.ensure_future(awaitable)
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait({waiter, ended}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for future in (waiter, ended):
                if not future.done():
                    future.cancel()
            await asyncio.gather(waiter, ended, return_exceptions=True)
        if self._ended.is_set() and self._end_reason is not None:
            raise VoxflowError(self._end_reason[0])

    def _sync_session(self) -> None:
        """Send ``session.update`` only when the service's session differs from the config."""
        wanted = self.config.session_json()
        have = self.effective_session
        have_audio = have.get("audio") or {}
        have_input = have_audio.get("input") or {}
        wanted_input = wanted["audio"]["input"]
        differs = (
            (have_audio.get("output") or {}).get("voice") != self.config.voice
            or (have.get("instructions") or "") != self.config.instructions
            or ((have_input.get("turn_detection") or {}).get("type"))
            != ((wanted_input.get("turn_detection") or {}).get("type"))
            or ((have_input.get("transcription") or {}).get("model"))
            != ((wanted_input.get("transcription") or {}).get("model"))
        )
        if differs:
            update = {key: value for key, value in wanted.items() if key not in ("type", "model")}
            self._send_quiet(protocol.session_update(update))

    # ---------------------------------------------------------------- ending
    async def disconnect(self, reason: str | None = None) -> None:
        """End the session cleanly (idempotent); the transcript is kept."""
        if self.state in (SessionState.IDLE, SessionState.DISCONNECTED, SessionState.ERROR):
            await self._release()
            return
        opening = self._opening
        if opening is not None and not opening.done():
            self._abort_reason = reason or USER_DISCONNECT
            opening.cancel()  # connect() tears down and reports
            await self._closed_event.wait()
            return
        await self._teardown(SessionState.DISCONNECTED, reason or USER_DISCONNECT)

    async def _teardown(self, state: SessionState, reason: str) -> None:
        if self._closed_event.is_set() or self._tearing_down:
            return
        self._tearing_down = True
        self._generation += 1  # late callbacks of this connection are ignored from now on
        self._end_reason = self._end_reason or (reason, state is SessionState.ERROR)
        self._ended.set()
        await self._release()
        self.transcript.finish_open()
        self.state = state
        self.reason = reason
        self._publish(StateChanged(state, reason))
        self._closed_event.set()
        self._tearing_down = False

    async def _release(self) -> None:
        """Stop everything this connection opened: tasks, PTT, tracks, pump, pc, registry entry."""
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self.ptt.reset()
        self.response_active = self.assistant_playing = False
        if self.input_gate is not None:
            self.input_gate.stop()
        pump, self._pump = self._pump, None
        if pump is not None:
            try:
                await pump.stop()
            except Exception:
                log.debug("stopping the receive pump failed", exc_info=True)
        track, self._send_track = self._send_track, None
        if track is not None:
            await track.aclose()
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.close()
        stream_id, self.output_stream_id = self.output_stream_id, None
        self.output_pipe = None
        if stream_id is not None:
            self.registry.unregister(stream_id)
        self._update_info(ice_state="closed", datachannel_state="closed")

    def _on_transport_closed(self, generation: int, reason: str, error: bool) -> None:
        if generation != self._generation:
            return
        self._end_reason = (reason, error)
        self._ended.set()
        if self.state is SessionState.CONNECTED:
            state = SessionState.ERROR if error else SessionState.DISCONNECTED
            self._spawn_detached(self._teardown(state, reason), "teardown")

    def _spawn(self, coro: Coroutine[Any, Any, Any], name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"{TASK_PREFIX}-{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _spawn_detached(self, coro: Coroutine[Any, Any, Any], name: str) -> None:
        """A task that must outlive :meth:`_release` (it is the one calling it)."""
        task = asyncio.get_running_loop().create_task(coro, name=f"{TASK_PREFIX}-{name}")
        self._detached.add(task)
        task.add_done_callback(self._detached.discard)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("realtime session task %s failed", task.get_name(), exc_info=task.exception())

    # ---------------------------------------------------------------- timers
    async def _run_timer(self) -> None:
        limit = _duration_text(self.config.max_duration)

        def tick(elapsed: float, remaining: float, warning: bool) -> None:
            self._publish(TimerTick(elapsed, remaining, warning))

        def warn(remaining: float) -> None:
            self._publish(Notice(f"{max(1, round(remaining))} s left before the {limit} limit", "warning"))

        def cap() -> None:
            self._spawn_detached(
                self._teardown(SessionState.DISCONNECTED, f"maximum session duration ({limit}) reached"),
                "cap",
            )

        await self.timer.run(tick, warn, cap)

    # ---------------------------------------------------------------- user actions
    def mute(self) -> None:
        if not self.muted:
            self.muted = True
            self._apply_gate()
            self._publish(MuteChanged(True))

    def unmute(self) -> None:
        if self.muted:
            self.muted = False
            self._apply_gate()
            self._publish(MuteChanged(False))

    async def ptt_toggle(self) -> PttState:
        """Push-to-talk press/release (docs/PROTOCOL.md §5); only with ``vad: disabled``."""
        if not self.config.push_to_talk:
            self._publish(Notice("Push-to-talk is off: voice activity detection is on, just speak."))
            return self.ptt.state
        if not self.connected:
            self._publish(Notice("Not connected: start the session first.", "warning"))
            return self.ptt.state
        if self.input_gate is None:
            self._publish(Notice("This session has no microphone input.", "warning"))
            return self.ptt.state
        before = self.ptt.state
        await self.ptt.toggle()
        if before is PttState.TALKING and self.ptt.state is PttState.OFF:
            self._turn_end_at = self.clock.monotonic()
        return self.ptt.state

    def send_text(self, text: str) -> None:
        """A typed user turn: ``conversation.item.create`` + ``response.create`` (barging in if needed)."""
        text = text.strip()
        if not text:
            return
        if not self.connected or self._transport is None:
            raise VoxflowError("the realtime session is not connected", hint="Start the session first.")
        if self.assistant_busy:
            self._barge_in()
        self._transport.send(protocol.user_text_item(text))
        self._transport.send(protocol.response_create())
        self._turn_end_at = self.clock.monotonic()

    # ---------------------------------------------------------------- gates & playback
    def _set_ptt_gate(self, open_: bool) -> None:
        self._ptt_gate = open_
        self._apply_gate()

    def _gate_wanted(self) -> bool:
        by_turns = self._ptt_gate if self.config.push_to_talk else True
        return by_turns and not self.muted

    def _apply_gate(self) -> None:
        if self._send_track is not None:
            self._send_track.set_gate(self._gate_wanted())

    def _flush_playback(self) -> None:
        if self.output_pipe is not None:
            self.output_pipe.flush()  # also resets the echo guard (flush listener)
        else:
            self.echo_guard.reset()

    def _barge_in(self) -> None:
        self._send_quiet(protocol.response_cancel())
        self._send_quiet(protocol.output_audio_buffer_clear())
        self._flush_playback()

    def _send_quiet(self, event: dict[str, Any]) -> None:
        """Send if the channel is open; a closed channel is reported by the transport itself."""
        transport = self._transport
        if transport is not None and transport.is_open:
            transport.send(event)
        else:
            log.debug("dropped %s: channel not open", event.get("type"))

    # ---------------------------------------------------------------- audio hooks
    def _on_input_frame(self, raw: np.ndarray) -> None:
        """Every microphone frame (before echo guard and gate): the input level."""
        self._input_meter.update(raw)
        self._maybe_publish_levels()

    def _on_sent_frame(self, pcm: np.ndarray, gated: bool) -> None:
        """Every frame the track sends from the source: push-to-talk capture and the recording."""
        rate = self._send_track.sample_rate if self._send_track is not None else 48_000
        if not gated and self.config.push_to_talk:
            self.ptt.captured(pcm.shape[0] * 1000.0 / rate)
        if self.recorder is not None:
            self.recorder.write_user(np.zeros_like(pcm) if gated else pcm, rate)

    def _on_output_frame(self, pcm: np.ndarray) -> None:
        self._output_meter.update(pcm)
        self.echo_guard.note_playback(pcm)
        if self._latency_armed and self._turn_end_at is not None and rms_dbfs(pcm) > AUDIBLE_DBFS:
            self.last_latency = max(0.0, self.clock.monotonic() - self._turn_end_at)
            self._turn_end_at = None
            self._latency_armed = False
            self._publish(TurnLatency(self.last_latency))
        if self.recorder is not None:
            self.recorder.write_assistant(pcm, self.output_sample_rate)
        self._maybe_publish_levels()

    def _maybe_publish_levels(self) -> None:
        now = self.clock.monotonic()
        if now - self._levels_published_at >= LEVELS_INTERVAL:
            self._levels_published_at = now
            heard, played = self._input_meter.level, self._output_meter.level
            self._publish(Levels(heard.rms_dbfs, heard.peak_dbfs, played.rms_dbfs, played.peak_dbfs))

    # ---------------------------------------------------------------- server events
    def _on_message(self, generation: int, message: str | bytes) -> None:
        if generation != self._generation:
            return
        event = protocol.parse_server_event(message)
        if isinstance(event, protocol.MalformedEvent):
            log.warning("skipped a malformed server event: %s (%d bytes)", event.problem, event.size)
            return
        self.last_activity = self.clock.monotonic()
        handler = self._handlers.get(event.type)
        if handler is None:
            log.debug("ignored server event %s", event.raw_type)
            return
        try:
            handler(self, event)
        except Exception:  # a surprising payload must not take the session down
            log.exception("handling server event %s failed", event.type)

    def _on_session(self, event: protocol.ServerEvent) -> None:
        session = event.get("session")
        if isinstance(session, dict):
            self.effective_session = session
            audio = session.get("audio") or {}
            voice = (audio.get("output") or {}).get("voice")
            detection = (audio.get("input") or {}).get("turn_detection")
            vad = "push-to-talk" if detection is None else (detection or {}).get("type")
            self._update_info(model=session.get("model") or self._info.model, voice=voice or self._info.voice,
                              vad=vad or self._info.vad)
        if event.type == protocol.SESSION_CREATED:
            self._session_created.set()

    def _on_speech_started(self, event: protocol.ServerEvent) -> None:
        self._turn_end_at, self._latency_armed = None, False
        self._publish(SpeechStarted(event.get("item_id")))
        if not self.config.push_to_talk:
            self._flush_playback()  # barge-in: stop local playback at once

    def _on_speech_stopped(self, event: protocol.ServerEvent) -> None:
        self._turn_end_at = self.clock.monotonic()
        self._publish(SpeechStopped(event.get("item_id")))

    def _on_committed(self, event: protocol.ServerEvent) -> None:
        item_id = event.get("item_id")
        if isinstance(item_id, str) and item_id not in self.transcript:
            self.transcript.add_item(item_id, "user", event.get("previous_item_id"))

    def _on_item(self, event: protocol.ServerEvent) -> None:
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type", "message") != "message":
            return
        role, item_id = item.get("role"), item.get("id")
        if role not in ("user", "assistant") or not isinstance(item_id, str):
            return
        typed = None
        for part in item.get("content") or []:
            if isinstance(part, dict) and part.get("type") in ("input_text", "text"):
                typed = (typed or "") + str(part.get("text") or "")
        previous = event.get("previous_item_id", item.get("previous_item_id"))
        if event.type == protocol.ITEM_DONE and item_id in self.transcript:
            if typed is not None and role == "user" and not self.transcript.get(item_id).final:
                self.transcript.complete(item_id, "user", typed)
            return
        self.transcript.add_item(item_id, role, previous, text=typed if role == "user" else None)

    def _on_input_delta(self, event: protocol.ServerEvent) -> None:
        if isinstance(event.get("item_id"), str):
            self.transcript.append_delta(event.get("item_id"), "user", str(event.get("delta") or ""))

    def _on_input_completed(self, event: protocol.ServerEvent) -> None:
        if isinstance(event.get("item_id"), str):
            self.transcript.complete(event.get("item_id"), "user", str(event.get("transcript") or ""))

    def _on_input_failed(self, event: protocol.ServerEvent) -> None:
        if isinstance(event.get("item_id"), str):
            error = event.get("error")
            reason = error.get("message") if isinstance(error, dict) else None
            self.transcript.fail(event.get("item_id"), reason if isinstance(reason, str) else None)

    def _on_response_created(self, event: protocol.ServerEvent) -> None:
        self.response_active = True
        response = event.get("response") or {}
        self._publish(ResponseStarted(str(response.get("id") or "")))

    def _on_assistant_delta(self, event: protocol.ServerEvent) -> None:
        if isinstance(event.get("item_id"), str):
            self.transcript.append_delta(event.get("item_id"), "assistant", str(event.get("delta") or ""))

    def _on_assistant_done(self, event: protocol.ServerEvent) -> None:
        if isinstance(event.get("item_id"), str):
            text = event.get("transcript", event.get("text"))
            self.transcript.complete(event.get("item_id"), "assistant", text if isinstance(text, str) else None)

    def _on_response_done(self, event: protocol.ServerEvent) -> None:
        self.response_active = False
        response = event.get("response") or {}
        raw = response.get("usage") or {}
        usage = Usage(
            input_tokens=int(raw.get("input_tokens") or 0),
            output_tokens=int(raw.get("output_tokens") or 0),
            total_tokens=int(raw.get("total_tokens") or 0)
            or int(raw.get("input_tokens") or 0) + int(raw.get("output_tokens") or 0),
        )
        self.total_usage = Usage(
            self.total_usage.input_tokens + usage.input_tokens,
            self.total_usage.output_tokens + usage.output_tokens,
            self.total_usage.total_tokens + usage.total_tokens,
        )
        for item in response.get("output") or []:
            item_id = item.get("id") if isinstance(item, dict) else None
            entry = self.transcript.get(item_id) if isinstance(item_id, str) else None
            if entry is not None and entry.role == "assistant" and not entry.final:
                self.transcript.complete(item_id, "assistant", None)
        status = str(response.get("status") or "completed")
        self._publish(ResponseDone(str(response.get("id") or ""), status, usage, self.total_usage))

    def _on_output_audio(self, event: protocol.ServerEvent) -> None:
        playing = event.type == protocol.OUTPUT_AUDIO_STARTED
        if playing and self._turn_end_at is not None:
            self._latency_armed = True  # audio of this reply is coming: audio from an older one must not count
        self.assistant_playing = playing
        self._publish(AssistantAudio(playing, event.get("response_id")))

    def _on_rate_limits(self, event: protocol.ServerEvent) -> None:
        limits = []
        for raw in event.get("rate_limits") or []:
            if isinstance(raw, dict):
                limits.append(
                    RateLimit(
                        str(raw.get("name") or ""),
                        int(raw.get("limit") or 0),
                        int(raw.get("remaining") or 0),
                        float(raw.get("reset_seconds") or 0.0),
                    )
                )
        self._publish(RateLimitsUpdated(tuple(limits)))

    def _on_error(self, event: protocol.ServerEvent) -> None:
        code, message = protocol.error_fields(event)
        if code == protocol.CANCEL_NOT_ACTIVE:
            return  # harmless: we cancelled a response that had just finished
        if code == protocol.SESSION_EXPIRED:
            reason = f"maximum session duration reached: the service ended the session ({code})"
            self._publish(SessionErrorEvent(message, code, fatal=True))
            self._spawn_detached(self._teardown(SessionState.DISCONNECTED, reason), "expired")
            return
        if code == protocol.COMMIT_EMPTY:
            self._publish(Notice("The service heard no audio in that turn (under 100 ms): nothing was sent.",
                                 "warning"))
            return
        self._publish(SessionErrorEvent(message, code, fatal=False))

    _handlers: dict[str, Any] = {
        protocol.SESSION_CREATED: _on_session,
        protocol.SESSION_UPDATED: _on_session,
        protocol.SPEECH_STARTED: _on_speech_started,
        protocol.SPEECH_STOPPED: _on_speech_stopped,
        protocol.INPUT_COMMITTED: _on_committed,
        protocol.ITEM_ADDED: _on_item,
        protocol.ITEM_DONE: _on_item,
        protocol.INPUT_TRANSCRIPTION_DELTA: _on_input_delta,
        protocol.INPUT_TRANSCRIPTION_COMPLETED: _on_input_completed,
        protocol.INPUT_TRANSCRIPTION_FAILED: _on_input_failed,
        protocol.RESPONSE_CREATED: _on_response_created,
        protocol.OUTPUT_AUDIO_TRANSCRIPT_DELTA: _on_assistant_delta,
        protocol.OUTPUT_AUDIO_TRANSCRIPT_DONE: _on_assistant_done,
        protocol.OUTPUT_TEXT_DELTA: _on_assistant_delta,
        protocol.OUTPUT_TEXT_DONE: _on_assistant_done,
        protocol.RESPONSE_DONE: _on_response_done,
        protocol.OUTPUT_AUDIO_STARTED: _on_output_audio,
        protocol.OUTPUT_AUDIO_STOPPED: _on_output_audio,
        protocol.OUTPUT_AUDIO_CLEARED: _on_output_audio,
        protocol.RATE_LIMITS_UPDATED: _on_rate_limits,
        protocol.ERROR: _on_error,
    }

    # ---------------------------------------------------------------- publishing
    def _publish(self, event: SessionEvent) -> None:
        self.events.publish(event)

    def _set_state(self, state: SessionState, reason: str | None = None) -> None:
        self.state = state
        self.reason = reason
        self._publish(StateChanged(state, reason))

    def _on_transport_state(self, generation: int, ice: str, channel: str) -> None:
        if generation == self._generation:
            self._update_info(ice_state=ice, datachannel_state=channel)

    def _update_info(self, **changes: Any) -> None:
        current = self._info
        fields = {name: getattr(current, name) for name in current.__dataclass_fields__}
        fields.update(changes)
        info = ConnectionInfo(**fields)
        if info != current:
            self._info = info
            self._publish(info)

    def _transcript_changed(self, entry: Any, index: int) -> None:
        self._publish(TranscriptUpdated(entry, index))

    def _transcript_cleared(self) -> None:
        self._publish(TranscriptCleared())
