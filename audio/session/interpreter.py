"""The server-event interpreter: Realtime server events in; state, transcript and typed events out.

Pure on purpose: no network, no audio, no tasks. It is fed parsed server
events (``protocol.ServerEvent``) by whichever transport is in use, keeps what
they say about the conversation (transcript, response/playing flags, usage,
effective session, connection facts) and publishes typed session events
(``audio/session/events.py``). What an event asks the *session* to do (stop
local playback, the session was created, the service ended the session) goes
through the narrow :class:`InterpreterEffects` protocol. Features such as tool
calls plug in with :meth:`EventInterpreter.add_listener` instead of editing
the handlers below.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from audio.base.clock import Clock
from audio.wire import protocol
from audio.session.events import (
    AssistantAudio,
    Notice,
    RateLimit,
    RateLimitsUpdated,
    ResponseDone,
    ResponseStarted,
    SessionErrorEvent,
    SessionEvent,
    SpeechStarted,
    SpeechStopped,
    TranscriptCleared,
    TranscriptEntry,
    TranscriptUpdated,
    Usage,
)
from audio.session.speech_times import InputTime, SpeechTimes
from audio.session.transcript import Transcript
from audio.session.turn_latency import TurnLatencyMeter

log = logging.getLogger(__name__)

ServerEventListener = Callable[[protocol.ServerEvent], None]


class InterpreterEffects(Protocol):
    """What server events ask of the session around the interpreter."""

    def flush_playback(self) -> None:
        """Stop local playback at once (the user barged in)."""

    def session_created(self) -> None:
        """``session.created`` arrived: the connection is usable."""

    def service_ended(self, reason: str, error: bool) -> None:
        """The service ended the session (e.g. ``session_expired``)."""

    def connection_facts(self, **facts: Any) -> None:
        """Model, voice or VAD as the service reports them (for the connection panel)."""


def confirmed_facts(session: dict[str, Any]) -> dict[str, str]:
    """Model, voice and VAD as far as the service's session object states them.

    A server may send ``null`` (or leave out) what it has not decided yet, as
    pydantic's dump of a fresh session does; the configured value then stays
    on show until the service confirms one. ``turn_detection: null`` means
    push-to-talk only where the key is present in an ``input`` object.
    """
    def part(parent: dict[str, Any], key: str) -> dict[str, Any]:
        value = parent.get(key)
        return value if isinstance(value, dict) else {}

    audio = part(session, "audio")
    output, audio_input = part(audio, "output"), part(audio, "input")
    voice = output.get("voice")
    if isinstance(voice, dict):  # a custom voice is reported by its id
        voice = voice.get("id")
    facts: dict[str, Any] = {"model": session.get("model"), "voice": voice}
    if "turn_detection" in audio_input:
        detection = audio_input["turn_detection"]
        facts["vad"] = "push-to-talk" if detection is None else detection.get("type") if isinstance(detection, dict) else None
    return {key: value for key, value in facts.items() if isinstance(value, str) and value}


class EventInterpreter:
    """Interprets one conversation's server events; survives reconnections (transcript kept)."""

    def __init__(
        self,
        clock: Clock,
        publish: Callable[[SessionEvent], None],
        effects: InterpreterEffects,
        *,
        push_to_talk: bool,
        latency: TurnLatencyMeter | None = None,
        input_time: InputTime | None = None,
    ) -> None:
        """``input_time``: when the live connection's input audio at a position (its ``audio_*_ms``) was sent."""
        self.clock = clock
        self._publish = publish
        self.effects = effects
        self.push_to_talk = push_to_talk
        self.latency = latency or TurnLatencyMeter(clock, publish)
        self.transcript = Transcript(clock, on_change=self._transcript_changed, on_clear=self._transcript_cleared)
        self.response_active = False
        self.assistant_playing = False
        self.saw_playback_events = False  # the server reports playback (output_audio_buffer.*)
        self._reply_item: str | None = None  # the assistant item of the reply being generated or played
        self.total_usage = Usage()
        self.effective_session: dict[str, Any] = {}
        self.last_activity = clock.monotonic()
        self._listeners: dict[str, list[ServerEventListener]] = {}
        self._ignored_prefix: str | None = None
        self._aliases: dict[str, str] = {}  # item id on this connection -> the transcript entry it continues
        self._continuing: str | None = None  # an entry the next user audio item continues
        self._speaking: str | None = None  # the item whose speech started and has not stopped ("" if unnamed)
        self._best_effort: dict[str, str] = {}  # event_id -> type of best-effort client events sent
        self._sent = 0
        self._input_time: InputTime = input_time or (lambda ms: None)
        self._speech = SpeechTimes()  # when the person spoke the turns the service detected
        self._buffer_since: float | None = None  # clock time the input buffer was last emptied (a commit or a clear)
        self._handlers: dict[str, Callable[[protocol.ServerEvent], None]] = {
            protocol.SESSION_CREATED: self._on_session,
            protocol.SESSION_UPDATED: self._on_session,
            protocol.SPEECH_STARTED: self._on_speech_started,
            protocol.SPEECH_STOPPED: self._on_speech_stopped,
            protocol.INPUT_COMMITTED: self._on_committed,
            protocol.INPUT_CLEARED: self._on_cleared,
            protocol.ITEM_ADDED: self._on_item,
            protocol.ITEM_DONE: self._on_item,
            protocol.INPUT_TRANSCRIPTION_DELTA: self._on_input_delta,
            protocol.INPUT_TRANSCRIPTION_COMPLETED: self._on_input_completed,
            protocol.INPUT_TRANSCRIPTION_FAILED: self._on_input_failed,
            protocol.RESPONSE_CREATED: self._on_response_created,
            protocol.OUTPUT_AUDIO_TRANSCRIPT_DELTA: self._on_assistant_delta,
            protocol.OUTPUT_AUDIO_TRANSCRIPT_DONE: self._on_assistant_done,
            protocol.OUTPUT_TEXT_DELTA: self._on_assistant_delta,
            protocol.OUTPUT_TEXT_DONE: self._on_assistant_done,
            protocol.RESPONSE_DONE: self._on_response_done,
            protocol.OUTPUT_AUDIO_STARTED: self._on_output_audio,
            protocol.OUTPUT_AUDIO_STOPPED: self._on_output_audio,
            protocol.OUTPUT_AUDIO_CLEARED: self._on_output_audio,
            protocol.RATE_LIMITS_UPDATED: self._on_rate_limits,
            protocol.ERROR: self._on_error,
        }

    def stamp(self, event: dict[str, Any]) -> dict[str, Any]:
        """Give a best-effort client event (a clear, a cancel) an ``event_id``, so a refusal is recognised."""
        kind = event.get("type")
        if kind not in protocol.BEST_EFFORT or "event_id" in event:
            return event
        self._sent += 1
        event_id = f"voxflow_{self._sent}"
        if len(self._best_effort) > 256:
            self._best_effort.pop(next(iter(self._best_effort)))
        self._best_effort[event_id] = str(kind)
        return {**event, "event_id": event_id}

    # --- lifecycle of one connection ----------------------------------------------
    def reset_connection(self) -> None:
        """A new connection starts: forget what the previous one said (the transcript stays).

        Speech the previous connection heard start is over as far as it goes
        (its audio is sent again after an outage: ``outage_buffer.py``).
        """
        if self._speaking is not None:
            self._publish(SpeechStopped(self._speaking or None))
            self._speaking = None
        self.response_active = self.assistant_playing = self.saw_playback_events = False
        self._reply_item = None
        self.effective_session = {}
        self._aliases.clear()
        self._continuing = None
        self.latency.reset()
        self._speech.clear()
        self._buffer_since = None  # the new connection's buffer begins with its input audio

    def connection_ended(self) -> None:
        self.response_active = self.assistant_playing = False
        self.transcript.finish_open()

    def continue_turn(self, item_id: str, new_id: str | None = None) -> None:
        """A user turn cut by a drop goes on in another item (its audio was sent again after a reconnection).

        The events of item ``new_id`` -- None: the next user audio item the
        service starts -- update ``item_id``'s transcript entry instead of a new one.
        """
        if new_id is not None:
            self._aliases[new_id] = item_id
        else:
            self._continuing = item_id

    def ignore_items(self, id_prefix: str) -> None:
        """Items whose id starts with ``id_prefix`` are not turns (context carried over to a new session)."""
        self._ignored_prefix = id_prefix

    @property
    def assistant_busy(self) -> bool:
        return self.response_active or self.assistant_playing

    def playback_cut(self, *, audible: bool = False) -> None:
        """Local playback was cut for the person (a barge-in): the reply being generated or played is marked.

        ``audible``: reply audio was still being heard here, though the service
        may have reported it played out already (on a loaded machine the
        receive path can be seconds behind the service's playback events).
        """
        if (self.assistant_busy or audible) and self._reply_item is not None:
            self.transcript.interrupt(self._reply_item)

    # --- extension ------------------------------------------------------------------
    def add_listener(self, event_type: str, listener: ServerEventListener) -> Callable[[], None]:
        """Call ``listener`` for every ``event_type`` (GA name) after the built-in handling.

        This is the hook for features such as tool calls
        (``response.function_call_arguments.done``, ``response.output_item.done``).
        Returns a function that removes the listener.
        """
        listeners = self._listeners.setdefault(event_type, [])
        listeners.append(listener)

        def remove() -> None:
            if listener in listeners:
                listeners.remove(listener)

        return remove

    # --- input ------------------------------------------------------------------------
    def feed(self, message: str | bytes) -> protocol.ServerEvent | None:
        """Parse and interpret one raw server message; returns the event (None if malformed)."""
        event = protocol.parse_server_event(message)
        if isinstance(event, protocol.MalformedEvent):
            log.warning("skipped a malformed server event: %s (%d bytes)", event.problem, event.size)
            return None
        self.handle(event)
        return event

    def handle(self, event: protocol.ServerEvent) -> None:
        self.last_activity = self.clock.monotonic()
        event = self._renamed(event)
        handler = self._handlers.get(event.type)
        if handler is None:
            log.debug("no built-in handling for server event %s", event.raw_type)
        else:
            try:
                handler(event)
            except Exception:  # a surprising payload must not take the session down
                log.exception("handling server event %s failed", event.type)
        for listener in list(self._listeners.get(event.type, ())):
            try:
                listener(event)
            except Exception:
                log.exception("a listener for server event %s failed", event.type)

    def _renamed(self, event: protocol.ServerEvent) -> protocol.ServerEvent:
        """``event`` with the ids of items that continue an earlier entry replaced by that entry's (``continue_turn``)."""
        if self._continuing is not None:
            new = self._new_user_audio_item(event)
            if new is not None:
                self._aliases[new], self._continuing = self._continuing, None
        if not self._aliases:
            return event
        data, renamed = dict(event.data), False
        for key in ("item_id", "previous_item_id"):
            if data.get(key) in self._aliases:
                data[key], renamed = self._aliases[data[key]], True
        item = data.get("item")
        if isinstance(item, dict) and (item.get("id") in self._aliases or item.get("previous_item_id") in self._aliases):
            item = dict(item)
            for key in ("id", "previous_item_id"):
                if item.get(key) in self._aliases:
                    item[key] = self._aliases[item[key]]
            data["item"], renamed = item, True
        return protocol.ServerEvent(event.type, data, event.raw_type) if renamed else event

    def _new_user_audio_item(self, event: protocol.ServerEvent) -> str | None:
        """The id of a user audio item ``event`` starts on this connection, if any."""
        if event.type in (protocol.SPEECH_STARTED, protocol.INPUT_COMMITTED):
            item_id = event.get("item_id")
        elif event.type == protocol.ITEM_ADDED and isinstance(event.get("item"), dict):
            item = event.get("item")
            audio = any(isinstance(part, dict) and part.get("type") == "input_audio" for part in item.get("content") or [])
            item_id = item.get("id") if item.get("role") == "user" and audio else None
        else:
            return None
        if not isinstance(item_id, str) or item_id in self.transcript:
            return None
        if self._ignored_prefix is not None and item_id.startswith(self._ignored_prefix):
            return None
        return item_id

    def set_playing(self, playing: bool, response_id: str | None = None) -> None:
        """The assistant's audio started or stopped playing (from server events or from local playback)."""
        if playing:
            self.latency.reply_audio_started()
        self.assistant_playing = playing
        self._publish(AssistantAudio(playing, response_id))

    # --- handlers -------------------------------------------------------------------------
    def _on_session(self, event: protocol.ServerEvent) -> None:
        session = event.get("session")
        if isinstance(session, dict):
            self.effective_session = session
            self.effects.connection_facts(**confirmed_facts(session))
        if event.type == protocol.SESSION_CREATED:
            self.effects.session_created()

    def _turn_detection(self) -> Any:
        session = self.effective_session
        audio_input = (session.get("audio") or {}).get("input") or {}
        return audio_input["turn_detection"] if "turn_detection" in audio_input else session.get("turn_detection")

    def _on_speech_started(self, event: protocol.ServerEvent) -> None:
        item_id = event.get("item_id")
        if isinstance(item_id, str):
            self._speech.started(item_id, event.get("audio_start_ms"), self._turn_detection(), self._input_time)
        self.latency.reset()
        item_id = event.get("item_id")
        self._speaking = item_id if isinstance(item_id, str) else ""
        self._publish(SpeechStarted(item_id))
        if not self.push_to_talk and self._interrupts():
            self.effects.flush_playback()  # barge-in: stop local playback at once

    def _interrupts(self) -> bool:
        """Whether the person speaking cuts the reply: not with ``interrupt_response: false`` (the reply plays on)."""
        detection = self._turn_detection()
        return not isinstance(detection, dict) or detection.get("interrupt_response") is not False

    def _on_speech_stopped(self, event: protocol.ServerEvent) -> None:
        self._speaking = None
        item_id = event.get("item_id")
        if isinstance(item_id, str):
            self._speech.stopped(item_id, event.get("audio_end_ms"), self._turn_detection(), self._input_time)
        self.latency.turn_ended()
        self._publish(SpeechStopped(event.get("item_id")))

    def _on_committed(self, event: protocol.ServerEvent) -> None:
        item_id = event.get("item_id")
        if isinstance(item_id, str):
            self.transcript.add_item(item_id, "user", event.get("previous_item_id"), spoken=self._spoken(item_id))

    def _on_cleared(self, event: protocol.ServerEvent) -> None:
        self._buffer_since = self.clock.monotonic()

    def _spoken(self, item_id: str) -> tuple[float, float]:
        """When the turn committed now was spoken, in transcript seconds: the speech the service detected,
        else the buffer's audio (from when it was last emptied to now)."""
        now = self.clock.monotonic()
        span = self._speech.take(item_id)
        if span is not None:
            start, end = span[0], now if span[1] is None else span[1]
        else:
            began = self._buffer_since if self._buffer_since is not None else self._input_time(0.0)
            start, end = (now if began is None else began), now
        self._buffer_since = now
        origin = self.transcript.origin
        return min(start, end) - origin, end - origin

    def _on_item(self, event: protocol.ServerEvent) -> None:
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type", "message") != "message":
            return
        role, item_id = item.get("role"), item.get("id")
        if role not in ("user", "assistant") or not isinstance(item_id, str):
            return
        if self._ignored_prefix is not None and item_id.startswith(self._ignored_prefix):
            return
        typed = None
        for part in item.get("content") or []:
            if isinstance(part, dict) and part.get("type") in ("input_text", "text"):
                typed = (typed or "") + str(part.get("text") or "")
        previous = event.get("previous_item_id", item.get("previous_item_id"))
        if event.type == protocol.ITEM_DONE and item_id in self.transcript:
            current = self.transcript.get(item_id)
            if typed is not None and role == "user" and current is not None and not current.final:
                self.transcript.complete(item_id, "user", typed)
            return
        self.transcript.add_item(item_id, role, previous, text=typed if role == "user" else None)
        if role == "assistant":
            self._reply_item = item_id

    def _on_input_delta(self, event: protocol.ServerEvent) -> None:
        item_id = event.get("item_id")
        if isinstance(item_id, str):
            self.transcript.append_delta(item_id, "user", str(event.get("delta") or ""))

    def _on_input_completed(self, event: protocol.ServerEvent) -> None:
        item_id = event.get("item_id")
        if isinstance(item_id, str):
            self.transcript.complete(item_id, "user", str(event.get("transcript") or ""))

    def _on_input_failed(self, event: protocol.ServerEvent) -> None:
        item_id = event.get("item_id")
        if isinstance(item_id, str):
            error = event.get("error")
            reason = error.get("message") if isinstance(error, dict) else None
            self.transcript.fail(item_id, reason if isinstance(reason, str) else None)

    def _on_response_created(self, event: protocol.ServerEvent) -> None:
        self.response_active = True
        self._reply_item = None
        response = event.get("response") or {}
        self._publish(ResponseStarted(str(response.get("id") or "")))

    def _on_assistant_delta(self, event: protocol.ServerEvent) -> None:
        item_id = event.get("item_id")
        if isinstance(item_id, str):
            self._reply_item = item_id
            self.transcript.append_delta(item_id, "assistant", str(event.get("delta") or ""))

    def _on_assistant_done(self, event: protocol.ServerEvent) -> None:
        item_id = event.get("item_id")
        if isinstance(item_id, str):
            text = event.get("transcript", event.get("text"))
            self.transcript.complete(item_id, "assistant", text if isinstance(text, str) else None)

    def _on_response_done(self, event: protocol.ServerEvent) -> None:
        self.response_active = False
        response = event.get("response") or {}
        raw = response.get("usage") or {}
        inp, out = int(raw.get("input_tokens") or 0), int(raw.get("output_tokens") or 0)
        usage = Usage(inp, out, int(raw.get("total_tokens") or 0) or inp + out)
        total = self.total_usage
        self.total_usage = Usage(
            total.input_tokens + usage.input_tokens,
            total.output_tokens + usage.output_tokens,
            total.total_tokens + usage.total_tokens,
        )
        for item in response.get("output") or []:
            item_id = item.get("id") if isinstance(item, dict) else None
            entry = self.transcript.get(item_id) if isinstance(item_id, str) else None
            if isinstance(item_id, str) and entry is not None and entry.role == "assistant" and not entry.final:
                self.transcript.complete(item_id, "assistant", None)
        status = str(response.get("status") or "completed")
        self._publish(ResponseDone(str(response.get("id") or ""), status, usage, self.total_usage))

    def _on_output_audio(self, event: protocol.ServerEvent) -> None:
        self.saw_playback_events = True
        response_id = event.get("response_id")
        self.set_playing(event.type == protocol.OUTPUT_AUDIO_STARTED, response_id if isinstance(response_id, str) else None)

    def _on_rate_limits(self, event: protocol.ServerEvent) -> None:
        limits = tuple(
            RateLimit(
                str(raw.get("name") or ""),
                int(raw.get("limit") or 0),
                int(raw.get("remaining") or 0),
                float(raw.get("reset_seconds") or 0.0),
            )
            for raw in event.get("rate_limits") or []
            if isinstance(raw, dict)
        )
        self._publish(RateLimitsUpdated(limits))

    def _on_error(self, event: protocol.ServerEvent) -> None:
        code, message = protocol.error_fields(event)
        if code == protocol.CANCEL_NOT_ACTIVE:
            return  # harmless: we cancelled a response that had just finished
        if code == protocol.SESSION_EXPIRED:
            self._publish(SessionErrorEvent(message, code, fatal=True))
            self.effects.service_ended(
                f"maximum session duration reached: the service ended the session ({code})", False
            )
            return
        if code == protocol.COMMIT_EMPTY:
            self._publish(Notice("The service heard no audio in that turn (under 100 ms): nothing was sent.",
                                 "warning"))
            return
        kind, origin = protocol.error_origin(event)
        refused = self._best_effort.pop(origin, None) if origin is not None else None
        if refused is not None:  # e.g. a server that does not accept input_audio_buffer.clear: nothing is lost
            self._publish(Notice(f"The service refused {refused}: {message}", "info"))
            return
        if code is None and kind:
            message = f"{kind}: {message}"
        self._publish(SessionErrorEvent(message, code, fatal=False))

    # --- transcript -> events -------------------------------------------------------
    def _transcript_changed(self, entry: TranscriptEntry, index: int) -> None:
        self._publish(TranscriptUpdated(entry, index))

    def _transcript_cleared(self) -> None:
        self._publish(TranscriptCleared())
