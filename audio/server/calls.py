"""One Realtime call: the session state machine over a transport, from start to hangup, fault or cap.

A call owns the session config and wires narrow collaborators together:
:class:`~audio.server.outbox.Outbox` (server events out),
:class:`~audio.server.conversation.Conversation` (items and their
rules), :class:`~audio.server.input_audio.InputAudio` (buffer, VAD,
commits, idle timeout), :class:`~audio.server.turns.UserTurns`
(recognition, which runs in a worker subprocess, and transcription events) and
:class:`~audio.server.responses.Responder` (at most one response).
The transport is a link: :class:`~audio.server.webrtc_link.WebRtcLink`
or :class:`~audio.server.websocket_link.WebSocketLink`; both drive
the same :class:`Call`. Client events are handled one at a time from a bounded
queue so their order is kept. Event shapes: ``openai.types.realtime`` (see
docs/PROTOCOL_CONFORMANCE.md).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import json
import logging
from collections.abc import Callable, Coroutine
from enum import StrEnum
from typing import Any

import numpy as np

from audio.dsp.formats import Resampler
from audio.server.config import ServerConfig
from audio.server.conversation import Conversation
from audio.server.key_shuffle import KeyShuffler
from audio.server.input_audio import FRAME_SAMPLES, InputAudio
from audio.server.link import Link
from audio.server.outbox import Outbox, for_the_record
from audio.wire.objects import new_id
from audio.server.replies import make_policy
from audio.server.responses import Responder, ResponseRequest
from audio.wire.session_schema import (
    ConfigError, event_session, merge, parse_update, update_voice, voice_of,
)
from audio.speech.engines import RECOGNITION_RATE, SpeechEngines
from audio.server.tool_script import ScriptedConversation
from audio.server.transcription_settings import check_transcription
from audio.server.turns import TranscriptionRequest, UserTurns
from audio.server.wire_audio import WireCodec, format_type, rate_of

logger = logging.getLogger("voxflow.realtime.server")

INBOX_SIZE = 256
RECORD_LIMIT = 5000


class CallState(StrEnum):
    CONNECTING = "connecting"  # answered, waiting for the transport to open
    OPEN = "open"              # session.created sent
    CLOSED = "closed"


class Call:
    """A call from ``POST /v1/realtime/calls`` (or a WebSocket connect) until it ends."""

    def __init__(self, call_id: str, session: dict[str, Any], config: ServerConfig, speech: SpeechEngines,
                 on_closed: Callable[[Call], None], make_link: Callable[[Call], Link], *,
                 on_recognized: Callable[[float, float], None] | None = None) -> None:
        self.id = call_id
        self.close_reason: str | None = None
        self.session = session
        self.state = CallState.CONNECTING
        self.received: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECORD_LIMIT)
        self.outbox = Outbox(call_id, KeyShuffler(config.shuffle_seed).encode if config.shuffle_keys else json.dumps)
        self._config = config
        self._faults = config.faults
        self._on_closed = on_closed
        self._tasks: set[asyncio.Task[Any]] = set()
        self._inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=INBOX_SIZE)
        self.link = make_link(self)
        echo_audio = config.reply == "echo-audio" and self.link.kind == "webrtc"
        self.conversation = Conversation(self.outbox)
        self._speech = speech
        self.turns = UserTurns(self.outbox, speech, request=lambda: TranscriptionRequest.of(self.session),
                               spawn=self.spawn, owner=call_id, fail=self._faults.fail_transcription,
                               on_recognized=on_recognized)
        self.input = InputAudio(self.outbox, self.conversation, self.turns)
        self.responder = Responder(
            sink=self.outbox, conversation=self.conversation, turns=self.turns, speech=speech,
            policy=make_policy(config.reply, config.script), audio_out=self.link.audio_out, config=config,
            session=lambda: self.session, spawn=self.spawn, drop_call=self.close,
            on_finished=self.input.response_finished, text_only_audio=echo_audio,
            scripted=ScriptedConversation(config.rules) if config.rules is not None else None)
        self._wire = WireCodec()
        self._appended: Resampler | None = None
        self._appended_rest = np.zeros(0, dtype=np.int16)
        self.input.configure(self.session["audio"]["input"]["turn_detection"])
        self.link.attach(self)
        self.spawn(self._process_inbox())

    # -- what tests look at ------------------------------------------------------------
    @property
    def sent(self) -> collections.deque[dict[str, Any]]:
        return self.outbox.sent

    @property
    def input_received_seconds(self) -> float:
        """Caller audio decoded so far (silence included): a test waits on it instead of sleeping."""
        return self.input.received_samples / RECOGNITION_RATE

    @property
    def received_types(self) -> list[str]:
        return [str(event.get("type")) for event in self.received]

    @property
    def sent_types(self) -> list[str]:
        return [str(event.get("type")) for event in self.sent]

    # -- lifecycle (driven by the link) ---------------------------------------------
    def is_connecting(self) -> bool:
        return self.state is CallState.CONNECTING

    def opened(self) -> None:
        if self.state is not CallState.CONNECTING:
            return
        self.state = CallState.OPEN
        self.outbox.send("session.created", session=event_session(self.session))
        faults = self._faults
        if faults.malformed_event:
            self.link.send_raw("{this is not json")
        if faults.error_code and faults.error_when == "session_created":
            self.outbox.send_error(faults.error_code, f"Injected fault: {faults.error_code}.", type="server_error")
        self.spawn(self._after(self._config.max_session_seconds, self._expire, "the duration cap"))
        if faults.expire_after_seconds is not None:
            self.spawn(self._after(faults.expire_after_seconds, self._expire, "the expiry fault"))
        if faults.drop_after_seconds is not None:
            self.spawn(self._after(faults.drop_after_seconds, self.close, "the drop fault"))

    async def close(self, reason: str = "closed") -> None:
        """Close the transport and stop every task of the call; safe to call twice."""
        if self.state is CallState.CLOSED:
            return
        self.state = CallState.CLOSED
        self.close_reason = reason
        logger.info("call %s closed: %s", self.id, reason)
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        try:
            await self.link.close()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self.turns.abandon()
            self._on_closed(self)

    async def _after(self, seconds: float, action: Callable[[str], Any], reason: str) -> None:
        await self._config.clock.sleep(seconds)
        await action(reason)

    async def _expire(self, reason: str) -> None:
        minutes = self._config.max_session_seconds / 60
        self.outbox.send_error("session_expired", f"Your session hit the maximum duration of {minutes:g} minutes.")
        await self.link.drain()
        await self.close(reason)

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("call %s: task failed", self.id, exc_info=task.exception())

    # -- client events ---------------------------------------------------------------
    def receive(self, message: str | bytes) -> None:
        try:
            event = json.loads(message)
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                raise ValueError("not an event")
        except (ValueError, UnicodeDecodeError):
            self.outbox.send_error("invalid_json", "The message could not be parsed as a JSON event with a 'type'.")
            return
        self.received.append(for_the_record(event, "audio") if event["type"] == "input_audio_buffer.append" else event)
        try:
            self._inbox.put_nowait(event)
        except asyncio.QueueFull:
            self.outbox.send_error("too_many_events", "Too many events at once; slow down.",
                                   event_id=event.get("event_id"))

    async def _process_inbox(self) -> None:
        while True:
            event = await self._inbox.get()
            if event is None:
                return
            handler = _HANDLERS.get(event["type"])
            event_id = event.get("event_id")
            if handler is None:
                self.outbox.send_error("invalid_value", f"Invalid value: '{event['type']}' is not a supported event"
                                       " type.", param="type", event_id=event_id)
                continue
            try:
                handler(self, event)
            except ConfigError as error:
                self.outbox.send_error(error.code, error.message, param=error.param, event_id=event_id)
            cancelling = self.responder.cancelling
            if cancelling is not None:  # let response.done(cancelled) go out before the next event
                await asyncio.wait({cancelling}, timeout=5)
                self.responder.cancelling = None

    def _session_update(self, event: dict[str, Any]) -> None:
        update = parse_update(event.get("session"), kind=str(self.session.get("type", "realtime")))
        voice = update_voice(update)
        if voice is not None and self.responder.audio_produced and voice != voice_of(self.session):
            raise ConfigError("cannot_update_voice", "Cannot update a conversation's voice if assistant audio is"
                              " present.", "session.audio.output.voice")
        session = merge(self.session, update)
        recognizer = self._speech.recognizer
        check_transcription(session, multilingual=recognizer.multilingual if recognizer else None,
                            recognizer=recognizer.name if recognizer else "none")
        self.session = session
        self.input.configure(self.session["audio"]["input"].get("turn_detection"))
        self.outbox.send("session.updated", session=event_session(self.session))

    def _buffer_append(self, event: dict[str, Any]) -> None:
        if not self.link.accepts_appended_audio:
            raise ConfigError("invalid_value", "Over WebRTC the input audio comes from the media track;"
                              " 'input_audio_buffer.append' is not used.", "type")
        audio_format = self.session["audio"]["input"].get("format")
        try:
            samples = self._wire.decode(base64.b64decode(str(event.get("audio", "")), validate=True), audio_format)
        except (binascii.Error, ValueError) as error:
            raise ConfigError("invalid_value", f"Invalid value for 'audio': expected base64-encoded"
                              f" {format_type(audio_format)} audio ({error}).", "audio") from None
        rate = rate_of(audio_format)
        if self._appended is None or self._appended.in_rate != rate:
            self._appended = Resampler(RECOGNITION_RATE, 1, in_rate=rate)
        pending = np.concatenate([self._appended_rest, self._appended.process(samples.reshape(-1, 1)).reshape(-1)])
        while len(pending) >= FRAME_SAMPLES:
            self.take_input(pending[:FRAME_SAMPLES])
            pending = pending[FRAME_SAMPLES:]
        self._appended_rest = pending

    def _buffer_clear(self, event: dict[str, Any]) -> None:
        self.input.clear()

    def _buffer_commit(self, event: dict[str, Any]) -> None:
        self.input.commit_manual()

    def _response_create(self, event: dict[str, Any]) -> None:
        if self.session["type"] != "realtime":
            raise ConfigError("invalid_value", "A transcription session does not create responses.", "type")
        self.responder.start(ResponseRequest.parse(event.get("response")))

    def _response_cancel(self, event: dict[str, Any]) -> None:
        if self.responder.active is None:
            raise ConfigError("response_cancel_not_active", "Cancellation failed: no active response found.")
        self.responder.cancel("client_cancelled")

    def _output_clear(self, event: dict[str, Any]) -> None:
        if self.link.kind != "webrtc":
            raise ConfigError("invalid_value", "'output_audio_buffer.clear' is for WebRTC and SIP calls; over a"
                              " WebSocket, cancel the response and truncate its item.", "type")
        self._stop_playing()

    def _stop_playing(self) -> None:
        """Cut the reply audio; ``output_audio_buffer.cleared`` names the response it belonged to."""
        response_id = self.link.stop_playing() or self.responder.last_id
        if response_id is not None and self.link.kind == "webrtc" and self._config.playback_events:
            self.outbox.send("output_audio_buffer.cleared", response_id=response_id)

    def _item_create(self, event: dict[str, Any]) -> None:
        item = event.get("item")
        if not isinstance(item, dict) or item.get("type") not in ("message", "function_call", "function_call_output"):
            raise ConfigError("invalid_value", "Invalid value for 'item.type': expected 'message', 'function_call'"
                              " or 'function_call_output'.", "item.type")
        if item["type"] == "message":
            if item.get("role") not in ("user", "system", "assistant"):
                raise ConfigError("invalid_value", "Invalid value for 'item.role': expected 'user', 'system' or"
                                  " 'assistant'.", "item.role")
            content = item.get("content")
            if not isinstance(content, list) or not content:
                raise ConfigError("missing_required_parameter", "Missing required parameter: 'item.content'.",
                                  "item.content")
            texts = [str(part["text"]) for part in content if isinstance(part, dict)
                     and part.get("type") in ("input_text", "text", "output_text") and isinstance(part.get("text"), str)]
            if item["role"] == "user" and texts:
                self.turns.said(" ".join(texts))
            heard = self._item_audio(content) if item["role"] == "user" else None
            if heard is not None:  # the audio stays here; the item, as announced, carries its transcript only
                item = {**item, "content": [{"type": "input_audio", "transcript": None} if isinstance(part, dict)
                                            and part.get("type") == "input_audio" else part for part in content]}
        else:
            heard = None
        stored = {"object": "realtime.item", "status": "completed", **item, "id": item.get("id") or new_id("item")}
        if item["type"] == "function_call_output" and self.responder.scripted is not None:
            self.responder.scripted.output_arrived(str(item.get("call_id")), str(item.get("output") or ""))
        previous = event.get("previous_item_id", self.conversation.last_item_id)
        if previous is not None and previous != "root" and previous not in self.conversation:
            raise ConfigError("item_not_found", f"Item with item_id '{previous}' not found.", "previous_item_id")
        self.conversation.add(stored, previous)
        self.outbox.send("conversation.item.done", item=stored, previous_item_id=previous)
        if heard is not None and heard.size:
            self.turns.committed(stored["id"], heard)  # transcribed and answered as a committed turn would be

    def _item_audio(self, content: list[Any]) -> np.ndarray | None:
        """The 16 kHz samples of a user message's ``input_audio`` parts (base64 in the session's input format)."""
        parts = [part for part in content if isinstance(part, dict) and part.get("type") == "input_audio"]
        if not parts:
            return None
        audio_format = self.session["audio"]["input"].get("format")
        samples = []
        for part in parts:
            try:
                samples.append(self._wire.decode(base64.b64decode(str(part.get("audio") or ""), validate=True),
                                                 audio_format))
            except (binascii.Error, ValueError) as error:
                raise ConfigError("invalid_value", f"Invalid value for 'item.content.audio': expected base64-encoded"
                                  f" {format_type(audio_format)} audio ({error}).", "item.content.audio") from None
        resampler = Resampler(RECOGNITION_RATE, 1, in_rate=rate_of(audio_format))
        pcm = np.concatenate(samples).reshape(-1, 1)
        return np.concatenate([resampler.process(pcm), resampler.flush()]).reshape(-1).astype(np.int16)

    def _item_retrieve(self, event: dict[str, Any]) -> None:
        self.conversation.retrieve(event.get("item_id"))

    def _item_delete(self, event: dict[str, Any]) -> None:
        self.conversation.delete(event.get("item_id"))

    def _item_truncate(self, event: dict[str, Any]) -> None:
        self.conversation.truncate(event.get("item_id"), event.get("content_index"), event.get("audio_end_ms"))

    # -- input audio (from either transport, 20 ms at 16 kHz) -------------------------
    def take_input(self, frame: np.ndarray) -> None:
        busy = self.responder.active is not None or self.link.now_playing() is not None
        signal = self.input.take(frame, open=self.state is CallState.OPEN, busy=busy)
        if signal is None:
            return
        if signal.kind == "speech_started":
            if signal.interrupt and busy:
                if self.responder.active is not None:
                    self.responder.cancel("turn_detected")
                self._stop_playing()
        elif signal.respond and self.responder.active is None and self.session["type"] == "realtime":
            self.responder.start(ResponseRequest())


_HANDLERS: dict[str, Callable[[Call, dict[str, Any]], None]] = {
    "session.update": Call._session_update,
    "input_audio_buffer.append": Call._buffer_append,
    "input_audio_buffer.clear": Call._buffer_clear,
    "input_audio_buffer.commit": Call._buffer_commit,
    "response.create": Call._response_create,
    "response.cancel": Call._response_cancel,
    "output_audio_buffer.clear": Call._output_clear,
    "conversation.item.create": Call._item_create,
    "conversation.item.retrieve": Call._item_retrieve,
    "conversation.item.delete": Call._item_delete,
    "conversation.item.truncate": Call._item_truncate,
}
