"""One Realtime call: an aiortc peer, the ``oai-events`` channel and the conversation state machine.

A call owns its peer connection, an input buffer of 16 kHz mono audio fed by
the received track (always drained), an optional energy VAD, the conversation
items, at most one active response, and the outgoing paced reply track. Client
events are handled one at a time from a bounded queue so their order is kept;
a response runs as its own task (:mod:`audio.realtime.server.responses`),
recognition and synthesis in worker threads, so the event loop never blocks. Server events follow the GA names and shapes
of ../shared/REALTIME_PROTOCOL.md.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcdatachannel import RTCDataChannel

from audio.formats import Resampler
from audio.realtime.server.config import ServerConfig
from audio.realtime.server.protocol import error_object, new_id
from audio.realtime.server.replies import ReplyPolicy, make_policy
from audio.realtime.server.responses import Response, ResponseGeneration
from audio.realtime.server.session_config import (
    ConfigError, merge, parse_update, update_voice, voice_of,
)
from audio.realtime.server.speech import RECOGNITION_RATE, SpeechEngines, describe_speech
from audio.realtime.server.tool_script import ScriptedConversation
from audio.realtime.server.tracks import ReplyAudioTrack
from audio.realtime.server.vad import EnergyVad, SpeechBoundary, VadSettings

logger = logging.getLogger("voxflow.realtime.server")

INBOX_SIZE = 256
MIN_COMMIT_MS = 100
MAX_INPUT_SECONDS = 300  # manual turns longer than this keep only their last 5 minutes
TRANSCRIPTION_GRACE_S = 1.5  # a commit with no response gets its transcription after this
RECORD_LIMIT = 5000
ITEM_LIMIT = 1000  # conversation items remembered (for previous_item_id, delete, truncate)
OPEN_TIMEOUT_S = 30.0


class CallState(StrEnum):
    CONNECTING = "connecting"  # answered, waiting for the data channel
    OPEN = "open"              # session.created sent
    CLOSED = "closed"


@dataclass
class UserTurn:
    """A committed user item: its words arrive later (``heard``) and its events wait for ``release``."""

    item_id: str
    samples: int
    heard: asyncio.Future[str]
    release: asyncio.Event = field(default_factory=asyncio.Event)


class Call(ResponseGeneration):
    """A call from ``POST /v1/realtime/calls`` until hangup, fault, cap or the peer going away."""

    def __init__(
        self, call_id: str, session: dict[str, Any], config: ServerConfig, speech: SpeechEngines,
        on_closed: Callable[[Call], None],
    ) -> None:
        self.id = call_id
        self.session = session
        self.state = CallState.CONNECTING
        self.received: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECORD_LIMIT)
        self.sent: collections.deque[dict[str, Any]] = collections.deque(maxlen=RECORD_LIMIT)
        self._config = config
        self._faults = config.faults
        self._clock = config.clock
        self._speech = speech
        self._on_closed = on_closed
        self._policy: ReplyPolicy = make_policy(config.reply, config.script)
        self._echo_audio = config.reply == "echo-audio"
        self._scripted = ScriptedConversation(config.rules) if config.rules is not None else None
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.track = ReplyAudioTrack(config.output_rate, on_started=self._audio_started, on_stopped=self._audio_stopped)
        self.pc.addTrack(self.track)
        self.channel: RTCDataChannel | None = None
        self._inbox: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue(maxsize=INBOX_SIZE)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._input: list[np.ndarray] = []
        self._input_samples = 0
        self._received_samples = 0  # every input sample ever decoded, trimmed or not
        self._vad: EnergyVad | None = None
        self._pending_item_id: str | None = None  # id announced with speech_started
        self._turns: list[UserTurn] = []
        self._items: dict[str, dict[str, Any]] = {}
        self._last_item_id: str | None = None
        self._latest_user: asyncio.Future[str] | None = None  # words of the latest user item
        self._response: Response | None = None
        self._cancelling: asyncio.Task[None] | None = None
        self._responses_started = 0
        self._audio_produced = False
        self._playing: str | None = None
        self._error_on_next_response = self._faults.error_code if self._faults.error_when == "next_response" else None
        self._apply_turn_detection()
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_connection_state)

    # -- what tests look at ------------------------------------------------------------
    @property
    def input_received_seconds(self) -> float:
        """Caller audio decoded so far (silence included): a test waits on it instead of sleeping."""
        return self._received_samples / RECOGNITION_RATE

    @property
    def received_types(self) -> list[str]:
        return [str(event.get("type")) for event in self.received]

    @property
    def sent_types(self) -> list[str]:
        return [str(event.get("type")) for event in self.sent]

    # -- lifecycle ---------------------------------------------------------------------
    async def answer(self, offer_sdp: str) -> str:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self._spawn(self._process_inbox())
        self._spawn(self._expect_channel())
        return self.pc.localDescription.sdp

    async def _expect_channel(self) -> None:
        """A peer that never opens ``oai-events`` is given up after OPEN_TIMEOUT_S (transport time, not the clock)."""
        await asyncio.sleep(OPEN_TIMEOUT_S)
        if self.state is CallState.CONNECTING:
            await self.close("the data channel never opened")

    async def close(self, reason: str = "closed") -> None:
        """Close the peer and stop every task of the call; safe to call twice."""
        if self.state is CallState.CLOSED:
            return
        self.state = CallState.CLOSED
        logger.info("call %s closed: %s", self.id, reason)
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        for task in tasks:
            task.cancel()
        self.track.stop()
        await self.pc.close()
        await asyncio.gather(*tasks, return_exceptions=True)
        for turn in self._turns:
            if not turn.heard.done():
                turn.heard.cancel()
        self._on_closed(self)

    async def _finish(self, reason: str) -> None:
        """Close after the last queued data-channel message had a chance to leave."""
        for _ in range(50):
            if self.channel is None or self.channel.bufferedAmount == 0:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)
        await self.close(reason)

    def _spawn(self, coroutine: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("call %s: task failed", self.id, exc_info=task.exception())

    def _on_connection_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed") and self.state is not CallState.CLOSED:
            self._spawn(self.close(f"peer connection {self.pc.connectionState}"))

    # -- the data channel --------------------------------------------------------------
    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        if channel.label != "oai-events" or self.channel is not None:
            return
        self.channel = channel
        channel.on("message", self._on_message)
        if channel.readyState == "open":
            self._opened()
        else:
            channel.on("open", self._opened)

    def _opened(self) -> None:
        if self.state is not CallState.CONNECTING:
            return
        self.state = CallState.OPEN
        self.send("session.created", session=self.session)
        faults = self._faults
        if faults.malformed_event and self.channel is not None:
            self.channel.send("{this is not json")
        if faults.error_code and faults.error_when == "session_created":
            self.send_error(faults.error_code, f"Injected fault: {faults.error_code}.", type="server_error")
        self._spawn(self._after(self._config.max_session_seconds, self._expire, "the duration cap"))
        if faults.expire_after_seconds is not None:
            self._spawn(self._after(faults.expire_after_seconds, self._expire, "the expiry fault"))
        if faults.drop_after_seconds is not None:
            self._spawn(self._after(faults.drop_after_seconds, self.close, "the drop fault"))

    async def _after(self, seconds: float, action: Callable[[str], Any], reason: str) -> None:
        await self._clock.sleep(seconds)
        await action(reason)

    async def _expire(self, reason: str) -> None:
        minutes = self._config.max_session_seconds / 60
        self.send_error("session_expired", f"Your session hit the maximum duration of {minutes:g} minutes.")
        await self._finish(reason)

    def send(self, type: str, **fields: Any) -> None:
        event = {"type": type, "event_id": new_id("event"), **fields}
        self.sent.append(event)
        if self.channel is None or self.channel.readyState != "open":
            return
        try:
            self.channel.send(json.dumps(event))
        except Exception:  # the channel closed under us; the call is ending anyway
            logger.debug("call %s: could not send %s", self.id, type)

    def send_error(self, code: str, message: str, *, type: str = "invalid_request_error",
                   param: str | None = None, event_id: str | None = None) -> None:
        self.send("error", error=error_object(code, message, type=type, param=param, event_id=event_id))

    def _on_message(self, message: str | bytes) -> None:
        try:
            event = json.loads(message)
            if not isinstance(event, dict) or not isinstance(event.get("type"), str):
                raise ValueError("not an event")
        except (ValueError, UnicodeDecodeError):
            self.send_error("invalid_json", "The message could not be parsed as a JSON event with a 'type'.")
            return
        self.received.append(event)
        try:
            self._inbox.put_nowait(event)
        except asyncio.QueueFull:
            self.send_error("too_many_events", "Too many events at once; slow down.", event_id=event.get("event_id"))

    async def _process_inbox(self) -> None:
        while True:
            event = await self._inbox.get()
            if event is None:
                return
            handler = self._handlers.get(event["type"])
            event_id = event.get("event_id")
            if handler is None:
                self.send_error("invalid_value", f"Invalid value: '{event['type']}' is not a supported event type.",
                                param="type", event_id=event_id)
                continue
            try:
                handler(self, event)
            except ConfigError as error:
                self.send_error(error.code, error.message, param=error.param, event_id=event_id)
            if self._cancelling is not None:  # let response.done(cancelled) go out before the next event
                await asyncio.wait({self._cancelling}, timeout=5)
                self._cancelling = None

    # -- client events -----------------------------------------------------------------
    def _session_update(self, event: dict[str, Any]) -> None:
        update = parse_update(event.get("session"))
        voice = update_voice(update)
        if voice is not None and self._audio_produced and voice != voice_of(self.session):
            raise ConfigError("cannot_update_voice", "Cannot update a conversation's voice if assistant audio is present.",
                              "session.audio.output.voice")
        self.session = merge(self.session, update)
        self._apply_turn_detection()
        self.send("session.updated", session=self.session)

    def _apply_turn_detection(self) -> None:
        detection = self.session["audio"]["input"]["turn_detection"]
        if detection is None:
            self._vad = None
            return
        settings = VadSettings.from_turn_detection(detection)
        if self._vad is None or self._vad.settings != settings:
            position = self._vad.position_ms if self._vad is not None else 0
            self._vad = EnergyVad(settings, RECOGNITION_RATE, start_ms=position)  # audio_*_ms stay on one timeline

    def _buffer_clear(self, event: dict[str, Any]) -> None:
        self._input, self._input_samples = [], 0
        self.send("input_audio_buffer.cleared")

    def _buffer_commit(self, event: dict[str, Any]) -> None:
        buffered_ms = self._input_samples * 1000 / RECOGNITION_RATE
        if buffered_ms < MIN_COMMIT_MS:
            raise ConfigError(
                "input_audio_buffer_commit_empty",
                f"Error committing input audio buffer: buffer too small. Expected at least {MIN_COMMIT_MS}ms of audio,"
                f" but buffer only has {buffered_ms:.2f}ms of audio.",
            )
        self._commit_input()

    def _response_create(self, event: dict[str, Any]) -> None:
        overrides = event.get("response") or {}
        if not isinstance(overrides, dict):
            raise ConfigError("invalid_type", "Invalid type for 'response': expected an object.", "response")
        modalities = overrides.get("output_modalities")
        if modalities is not None and (not isinstance(modalities, list) or not modalities
                                       or not set(modalities) <= {"audio", "text"}):
            raise ConfigError("invalid_value", "Invalid value for 'response.output_modalities': expected a list of"
                              " 'audio' and/or 'text'.", "response.output_modalities")
        if self._response is not None:
            raise ConfigError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {self._response.id}."
                " Wait until the response is finished before creating a new one.",
            )
        self._start_response(overrides)

    def _response_cancel(self, event: dict[str, Any]) -> None:
        if self._response is None:
            raise ConfigError("response_cancel_not_active", "Cancellation failed: no active response found.")
        self._cancel_response("client_cancelled")

    def _output_clear(self, event: dict[str, Any]) -> None:
        dropped = self.track.clear()
        response_id = self._playing or (dropped[0] if dropped else None)
        self._playing = None
        self.send("output_audio_buffer.cleared", response_id=response_id)

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
            texts = [part.get("text") for part in content if isinstance(part, dict)
                     and part.get("type") in ("input_text", "text", "output_text") and isinstance(part.get("text"), str)]
            if item["role"] == "user" and texts:
                self._latest_user = asyncio.get_running_loop().create_future()
                self._latest_user.set_result(" ".join(texts))
        stored = {"object": "realtime.item", "status": "completed", **item, "id": item.get("id") or new_id("item")}
        if item["type"] == "function_call_output" and self._scripted is not None:
            self._scripted.output_arrived(str(item.get("call_id")), str(item.get("output") or ""))
        previous = event.get("previous_item_id", self._last_item_id)
        self._add_item(stored, previous)
        self.send("conversation.item.done", item=stored, previous_item_id=previous)

    def _item_delete(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if item_id not in self._items:
            raise ConfigError("item_not_found", f"Item with item_id '{item_id}' not found.", "item_id")
        del self._items[item_id]
        self.send("conversation.item.deleted", item_id=item_id)

    def _item_truncate(self, event: dict[str, Any]) -> None:
        item_id = event.get("item_id")
        if item_id not in self._items:
            raise ConfigError("item_not_found", f"Item with item_id '{item_id}' not found.", "item_id")
        self.send("conversation.item.truncated", item_id=item_id, content_index=event.get("content_index", 0),
                  audio_end_ms=event.get("audio_end_ms", 0))

    def _buffer_append(self, event: dict[str, Any]) -> None:
        raise ConfigError("invalid_value", "Over WebRTC the input audio comes from the media track;"
                          " 'input_audio_buffer.append' is not used.", "type")

    _handlers: dict[str, Callable[[Call, dict[str, Any]], None]] = {
        "session.update": _session_update,
        "input_audio_buffer.append": _buffer_append,
        "input_audio_buffer.clear": _buffer_clear,
        "input_audio_buffer.commit": _buffer_commit,
        "response.create": _response_create,
        "response.cancel": _response_cancel,
        "output_audio_buffer.clear": _output_clear,
        "conversation.item.create": _item_create,
        "conversation.item.delete": _item_delete,
        "conversation.item.truncate": _item_truncate,
    }

    # -- input audio ------------------------------------------------------------------
    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._drain(track))

    async def _drain(self, track: MediaStreamTrack) -> None:
        """Read every received frame (aiortc would queue them without bound) into the input buffer."""
        to_16k = Resampler(RECOGNITION_RATE, 1)
        to_output = Resampler(self._config.output_rate, 1) if self._echo_audio else None
        echo_tag = new_id("echo")
        if to_output is not None:
            self.track.begin(echo_tag, live=True)
        pending = np.zeros(0, dtype=np.int16)
        frame_len = RECOGNITION_RATE // 50
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if to_output is not None:
                self.track.push(echo_tag, to_output.process_av(frame).reshape(-1))
            pending = np.concatenate([pending, to_16k.process_av(frame).reshape(-1)])
            while len(pending) >= frame_len:
                self._take_input(pending[:frame_len])
                pending = pending[frame_len:]

    def _take_input(self, frame: np.ndarray) -> None:
        self._input.append(frame)
        self._input_samples += len(frame)
        self._received_samples += len(frame)
        self._trim_input(MAX_INPUT_SECONDS * RECOGNITION_RATE)
        vad = self._vad
        if vad is None:
            return
        boundary = vad.feed(frame)
        if not vad.speaking and boundary is None:
            self._trim_input(vad.settings.prefix_padding_ms * RECOGNITION_RATE // 1000 + 2 * len(frame))
        if boundary is not None and self.state is CallState.OPEN:
            self._speech_boundary(boundary, vad.settings)

    def _trim_input(self, keep: int) -> None:
        while self._input and self._input_samples - len(self._input[0]) >= keep:
            self._input_samples -= len(self._input.pop(0))

    def _speech_boundary(self, boundary: SpeechBoundary, settings: VadSettings) -> None:
        if boundary.started:
            self._pending_item_id = new_id("item")
            self.send("input_audio_buffer.speech_started", audio_start_ms=boundary.ms, item_id=self._pending_item_id)
            if settings.interrupt_response and (self._response is not None or self._playing is not None):
                if self._response is not None:
                    self._cancel_response("turn_detected")
                self._output_clear({})
            return
        item_id = self._pending_item_id or new_id("item")
        self.send("input_audio_buffer.speech_stopped", audio_end_ms=boundary.ms, item_id=item_id)
        self._commit_input(item_id)
        if settings.create_response and self._response is None:
            self._start_response({})

    def _commit_input(self, item_id: str | None = None) -> None:
        item_id = item_id or self._pending_item_id or new_id("item")
        self._pending_item_id = None
        audio = np.concatenate(self._input) if self._input else np.zeros(0, dtype=np.int16)
        self._input, self._input_samples = [], 0
        previous = self._last_item_id
        self.send("input_audio_buffer.committed", item_id=item_id, previous_item_id=previous)
        item = {"id": item_id, "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
                "content": [{"type": "input_audio", "transcript": None}]}
        self._add_item(item, previous)
        self.send("conversation.item.done", item=item, previous_item_id=previous)
        heard: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        turn = UserTurn(item_id, len(audio), heard)
        self._turns.append(turn)
        self._latest_user = heard
        self._spawn(self._transcribe(turn, audio))

    def _add_item(self, item: dict[str, Any], previous: str | None) -> None:
        self._items[item["id"]] = item
        while len(self._items) > ITEM_LIMIT:
            self._items.pop(next(iter(self._items)))
        self._last_item_id = item["id"]
        self.send("conversation.item.added", item=item, previous_item_id=previous)

    async def _transcribe(self, turn: UserTurn, audio: np.ndarray) -> None:
        """Recognise the turn now; announce it once a response started (or after a grace period)."""
        try:
            words = await self._speech.transcribe(audio)
        except Exception:
            logger.exception("call %s: recognition failed", self.id)
            words = describe_speech(turn.samples, RECOGNITION_RATE)
        if turn.heard.done():  # the call closed meanwhile
            return
        turn.heard.set_result(words)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(turn.release.wait(), TRANSCRIPTION_GRACE_S)
        if self.session["audio"]["input"].get("transcription") is not None:
            self.send("conversation.item.input_audio_transcription.delta", item_id=turn.item_id, content_index=0,
                      delta=words)
            self.send("conversation.item.input_audio_transcription.completed", item_id=turn.item_id,
                      content_index=0, transcript=words,
                      usage={"type": "duration", "seconds": round(turn.samples / RECOGNITION_RATE, 2)})
        if turn in self._turns:
            self._turns.remove(turn)

    # -- playback reports from the track (called inside the track's recv on the loop) ---
    def _audio_started(self, tag: str) -> None:
        if tag.startswith("resp_"):
            self._playing = tag
            self.send("output_audio_buffer.started", response_id=tag)

    def _audio_stopped(self, tag: str) -> None:
        if tag.startswith("resp_"):
            if self._playing == tag:
                self._playing = None
            self.send("output_audio_buffer.stopped", response_id=tag)
