"""A call's responses: the reply text, its speech paced onto the audio out, and the response events.

One response runs as its own task: the reply policy picks the words, the
speech engine voices them, the audio goes out in small chunks kept just ahead
of playback (to the WebRTC track or as WebSocket deltas, see ``audio_out.py``)
and transcript deltas follow the audio. ``response.cancel`` cancels the task,
which ends the response as ``cancelled``; the drop fault closes the call
half-way. An out-of-band response (``conversation: "none"``) answers its own
``input`` and adds nothing to the conversation; its ``metadata`` is echoed.
Shapes: ``openai.types.realtime.realtime_response`` and ``response_*_event``.

Seam for function calls: :meth:`Responder._compose` decides what a response
says from what the user said; a tool-calling policy replaces that step.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audio.server.audio_out import AudioOut
from audio.server.config import ServerConfig
from audio.server.conversation import Conversation
from audio.server.outbox import EventSink
from audio.wire.objects import new_id
from audio.server.replies import ReplyPolicy
from audio.wire.session_schema import ConfigError, voice_of
from audio.speech.engines import SpeechEngines
from audio.server.tool_script import ScriptedConversation, emit_function_call
from audio.server.turns import UserTurns

logger = logging.getLogger("voxflow.realtime.server")

CHUNK_MS = 100  # reply audio is handed over in chunks of this length
LEAD_MS = 300  # ...keeping at most this much queued ahead of playback
MAX_METADATA_PAIRS = 16
RESPONSE_FIELDS = frozenset({  # openai.types.realtime.RealtimeResponseCreateParams
    "audio", "conversation", "input", "instructions", "max_output_tokens", "metadata", "output_modalities",
    "prompt", "tool_choice", "tools",
})


class Dropped(Exception):
    """The drop fault closed the call in the middle of a reply: the response just stops."""


@dataclass
class ResponseRequest:
    """A validated ``response.create``: what the client asked of this one response."""

    modalities: list[str] | None = None
    voice: str | None = None
    out_of_band: bool = False
    input: list[dict[str, Any]] | None = None
    metadata: dict[str, str] | None = None

    @classmethod
    def parse(cls, raw: Any) -> ResponseRequest:
        if raw is None:
            return cls()
        if not isinstance(raw, dict):
            raise ConfigError("invalid_type", "Invalid type for 'response': expected an object.", "response")
        unknown = sorted(raw.keys() - RESPONSE_FIELDS)
        if unknown:
            raise ConfigError("unknown_parameter", f"Unknown parameter: 'response.{unknown[0]}'.",
                              f"response.{unknown[0]}")
        modalities = raw.get("output_modalities")
        if modalities is not None and (not isinstance(modalities, list) or not modalities
                                       or not set(modalities) <= {"audio", "text"}):
            raise ConfigError("invalid_value", "Invalid value for 'response.output_modalities': expected a list of"
                              " 'audio' and/or 'text'.", "response.output_modalities")
        conversation = raw.get("conversation", "auto")
        if conversation not in ("auto", "none", None):
            raise ConfigError("invalid_value", "Invalid value for 'response.conversation': expected 'auto' or 'none'.",
                              "response.conversation")
        items = raw.get("input")
        if items is not None and (not isinstance(items, list) or not all(isinstance(i, dict) for i in items)):
            raise ConfigError("invalid_type", "Invalid type for 'response.input': expected an array of items.",
                              "response.input")
        metadata = raw.get("metadata")
        if metadata is not None and (not isinstance(metadata, dict) or len(metadata) > MAX_METADATA_PAIRS or not all(
                isinstance(k, str) and len(k) <= 64 and isinstance(v, str) and len(v) <= 512
                for k, v in metadata.items())):
            raise ConfigError("invalid_value", "Invalid value for 'response.metadata': up to 16 string pairs"
                              " (keys up to 64 characters, values up to 512).", "response.metadata")
        voice = ((raw.get("audio") or {}).get("output") or {}).get("voice")
        return cls(modalities, voice if isinstance(voice, str) else None, conversation == "none", items, metadata)


@dataclass
class Response:
    id: str
    request: ResponseRequest = field(default_factory=ResponseRequest)
    task: asyncio.Task[None] | None = None
    cancel_reason: str | None = None
    ran: bool = False  # its task began (a response cancelled before that never said anything)


class Responder:
    """Runs at most one response at a time for a call."""

    def __init__(self, *, sink: EventSink, conversation: Conversation, turns: UserTurns, speech: SpeechEngines,
                 policy: ReplyPolicy, audio_out: AudioOut, config: ServerConfig,
                 session: Callable[[], dict[str, Any]],
                 spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]],
                 drop_call: Callable[[str], Coroutine[Any, Any, None]],
                 on_finished: Callable[[], None], text_only_audio: bool = False,
                 scripted: ScriptedConversation | None = None) -> None:
        self._sink = sink
        self._conversation = conversation
        self._turns = turns
        self._speech = speech
        self._policy = policy
        self.scripted = scripted  # a rule script (tool calls) instead of the reply policy
        self.audio_out = audio_out
        self._config = config
        self._session = session
        self._spawn = spawn
        self._drop_call = drop_call
        self._on_finished = on_finished
        self._text_only_audio = text_only_audio  # echo-audio: the call mirrors the caller instead of speaking
        self.active: Response | None = None
        self.cancelling: asyncio.Task[None] | None = None
        self.last_id: str | None = None  # the latest response (output_audio_buffer.cleared names it)
        self.started = 0
        self.audio_produced = False
        self._error_next: str | None = (config.faults.error_code
                                        if config.faults.error_when == "next_response" else None)

    def start(self, request: ResponseRequest) -> None:
        if self.active is not None:
            raise ConfigError(
                "conversation_already_has_active_response",
                f"Conversation already has an active response in progress: {self.active.id}."
                " Wait until the response is finished before creating a new one.",
            )
        response = Response(new_id("resp"), request)
        self.active = response
        self.last_id = response.id
        response.task = self._spawn(self._run(response))

    def cancel(self, reason: str) -> None:
        response = self.active
        if response is None or response.task is None:
            return
        response.cancel_reason = reason
        response.task.cancel()
        if not response.ran:  # cancelled in the step that started it (speech began in the burst that committed
            self.active = None  # its turn): it never said anything, and must not hold up the next one
            self._on_finished()
            return
        self.cancelling = response.task

    async def _run(self, response: Response) -> None:
        """Run one response; an unexpected failure ends it as ``failed`` so the next one can start."""
        response.ran = True
        try:
            await self._respond(response)
        except Dropped:
            return
        except Exception:
            logger.exception("response %s failed", response.id)
            self.audio_out.end(response.id)
            self._sink.send_error("server_error", "The local server failed while generating the response.",
                                  type="server_error")
            self._end(response, "failed", [], {"type": "failed", "error": {"type": "server_error",
                                                                           "code": "server_error"}})

    def _modalities(self, response: Response) -> list[str]:
        return response.request.modalities or list(self._session()["output_modalities"])

    def _voice(self, response: Response) -> str:
        return response.request.voice or voice_of(self._session())

    async def _heard(self, response: Response) -> str:
        """The words this response answers: its own ``input`` if given, else the latest user item."""
        items = response.request.input
        if items is None:
            # shielded: cancelling this response (a barge-in) must not cancel the turn's recognition,
            # whose transcription events the client still waits for
            return await asyncio.shield(self._turns.latest) if self._turns.latest is not None else ""
        for item in reversed(items):
            if item.get("type") == "item_reference" and item.get("id") in self._conversation:
                item = self._conversation.get(item["id"])
            if item.get("role") == "user":
                texts = [part.get("text") or part.get("transcript") or "" for part in item.get("content") or []
                         if isinstance(part, dict)]
                return " ".join(text for text in texts if text)
        return ""

    async def _compose(self, response: Response, heard: str) -> str:
        """What the response says (the seam where a tool-calling policy would call a function first)."""
        return self._policy.reply(heard)

    async def _respond(self, response: Response) -> None:
        modalities = self._modalities(response)
        audio_out = "audio" in modalities
        self._sink.send("response.created", response=self._object(response, "in_progress"))
        self.started += 1
        audio_in_seconds = self._turns.release()
        if self._error_next is not None:
            code, self._error_next = self._error_next, None
            self._sink.send_error(code, f"Injected fault: {code}.", type="server_error")
            self._end(response, "failed", [], {"type": "failed", "error": {"code": code}})
            return
        item: dict[str, Any] = {"id": new_id("item"), "object": "realtime.item", "type": "message",
                                "status": "in_progress", "role": "assistant", "content": []}
        parts: list[str] = []
        announced = False
        previous = self._conversation.last_item_id
        try:
            heard = await self._heard(response)
            if self.scripted is not None:  # a rule script: this response may be a function call
                plan = self.scripted.plan(heard)
                if plan.call is not None:
                    called = emit_function_call(self._sink.send, response.id, plan.call, self._conversation.add,
                                                self._conversation.last_item_id)
                    self._end(response, "completed", [called], None, [], audio_in_seconds)
                    return
                assert plan.reply is not None
                text = await plan.reply()
            else:
                text = await self._compose(response, heard)
            previous = self._conversation.last_item_id
            self._sink.send("response.output_item.added", response_id=response.id, output_index=0, item=item)
            if not response.request.out_of_band:
                self._conversation.add(item, previous)
            announced = True
            part_type = "audio" if audio_out else "text"
            self._sink.send("response.content_part.added", response_id=response.id, item_id=item["id"],
                            output_index=0, content_index=0,
                            part={"type": part_type, "transcript" if audio_out else "text": ""})
            item["content"] = [{"type": "output_audio" if audio_out else "output_text",
                                "transcript" if audio_out else "text": ""}]
            await self._stream(response, item["id"], text, audio_out, parts)
        except asyncio.CancelledError:
            if response.cancel_reason is None:
                raise  # the call is closing
            self.audio_out.end(response.id)
            output = []
            if announced:
                self._finish_item(response, item, previous, parts, audio_out, "incomplete")
                output = [item]
            self._end(response, "cancelled", output, {"type": "cancelled", "reason": response.cancel_reason},
                      parts, audio_in_seconds)
            return
        self._finish_item(response, item, previous, parts, audio_out, "completed")
        self._end(response, "completed", [item], None, parts, audio_in_seconds)

    async def _stream(self, response: Response, item_id: str, text: str, audio_out: bool, parts: list[str]) -> None:
        words = text.split(" ")
        delta_type = "response.output_audio_transcript.delta" if audio_out else "response.output_text.delta"
        ids = {"response_id": response.id, "item_id": item_id, "output_index": 0, "content_index": 0}

        def emit_words(upto: int) -> None:
            while len(parts) < min(upto, len(words)):
                delta = words[len(parts)] + (" " if len(parts) < len(words) - 1 else "")
                parts.append(delta)
                self._sink.send(delta_type, delta=delta, **ids)

        if not audio_out or self._text_only_audio:
            emit_words(len(words))
            return
        out = self.audio_out
        rate = out.sample_rate
        audio = await self._speech.speak(text, self._voice(response), rate)
        if self._config.reply_seconds is not None:  # a reply of exactly this length (tests of short replies)
            wanted = round(self._config.reply_seconds * rate)
            audio = np.concatenate([audio, np.zeros(max(0, wanted - len(audio)), dtype=audio.dtype)])[:wanted]
        self.audio_produced = True
        if not response.request.out_of_band:
            self._conversation.set_audio_ms(item_id, len(audio) * 1000 // rate)
        out.begin(response.id, ids=ids)
        chunk = rate * CHUNK_MS // 1000
        lead = rate * LEAD_MS // 1000
        drop_at = len(audio) // 2 if self._config.faults.drop_mid_reply and self.started == 1 else None
        for start in range(0, len(audio), chunk):
            while out.paced and out.queued_samples(response.id) > lead:
                await asyncio.sleep(0.02)
            out.push(response.id, audio[start:start + chunk])
            emit_words(math.ceil(len(words) * min(len(audio), start + chunk) / len(audio)))
            if drop_at is not None and start >= drop_at:
                await self._drop_call("the mid-reply drop fault")
                raise Dropped
        emit_words(len(words))
        self._sink.send("response.output_audio.done", **ids)
        out.end(response.id)

    def _finish_item(self, response: Response, item: dict[str, Any], previous: str | None, parts: list[str],
                     audio_out: bool, status: str) -> None:
        text = "".join(parts)
        ids = {"response_id": response.id, "item_id": item["id"], "output_index": 0, "content_index": 0}
        if audio_out:
            self._sink.send("response.output_audio_transcript.done", transcript=text, **ids)
            part = {"type": "audio", "transcript": text}
        else:
            self._sink.send("response.output_text.done", text=text, **ids)
            part = {"type": "text", "text": text}
        self._sink.send("response.content_part.done", part=part, **ids)
        item.update(status=status, content=[{"type": "output_audio" if audio_out else "output_text",
                                             "transcript" if audio_out else "text": text}])
        self._sink.send("response.output_item.done", response_id=response.id, output_index=0, item=item)
        if not response.request.out_of_band:
            self._sink.send("conversation.item.done", item=item, previous_item_id=previous)

    def _end(self, response: Response, status: str, output: list[dict[str, Any]], details: dict[str, Any] | None,
             parts: list[str] | None = None, audio_in_seconds: float = 0.0) -> None:
        body = self._object(response, status)
        body.update(output=output, status_details=details,
                    usage=self._usage("audio" in self._modalities(response), parts or [], audio_in_seconds))
        if self.active is response:
            self.active = None
        self._sink.send("response.done", response=body)
        self._on_finished()
        if self._config.rate_limits:
            self._sink.send("rate_limits.updated", rate_limits=[
                {"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 0.06},
                {"name": "tokens", "limit": 40000, "remaining": 39000, "reset_seconds": 1.5},
            ])

    def _object(self, response: Response, status: str) -> dict[str, Any]:
        session_id = str(self._session().get("id", ""))
        return {"object": "realtime.response", "id": response.id, "status": status, "status_details": None,
                "output": [],
                "conversation_id": None if response.request.out_of_band else "conv_" + session_id.removeprefix("sess_"),
                "output_modalities": self._modalities(response), "max_output_tokens": "inf",
                "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": self._voice(response)}},
                "usage": None, "metadata": response.request.metadata}

    def _usage(self, audio: bool, parts: list[str], audio_in_seconds: float) -> dict[str, Any]:
        """Token counts of the same order as the service's: ~10 audio tokens per second in, 20 out."""
        text_out = len("".join(parts).split())
        audio_out = 10 * text_out if audio else 0  # ~0.5 s of speech per word
        text_in = len(str(self._session().get("instructions") or "").split()) + 4
        audio_in = math.ceil(10 * audio_in_seconds)
        return {"total_tokens": text_in + audio_in + text_out + audio_out, "input_tokens": text_in + audio_in,
                "output_tokens": text_out + audio_out,
                "input_token_details": {"text_tokens": text_in, "audio_tokens": audio_in, "cached_tokens": 0},
                "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out}}
