"""A call's responses: the reply text, its speech paced onto the track, and the response events.

Split from :mod:`audio.realtime.server.calls`, which keeps the peer
connection, the client events and the input side. One response runs as its own
task: the reply policy picks the words, the speech engine (in a worker thread)
voices them, the audio goes to the outgoing track in small chunks kept just
ahead of playback, and transcript deltas follow the audio. ``response.cancel``
cancels the task, which ends the response as ``cancelled``; the drop fault
closes the call half-way. Event shapes follow ../shared/REALTIME_PROTOCOL.md.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from audio.realtime.server.config import FaultConfig, ServerConfig
from audio.realtime.server.protocol import new_id
from audio.realtime.server.replies import ReplyPolicy
from audio.realtime.server.session_config import voice_of
from audio.realtime.server.speech import RECOGNITION_RATE, SpeechEngines
from audio.realtime.server.tool_script import ScriptedConversation, emit_function_call
from audio.realtime.server.tracks import ReplyAudioTrack

logger = logging.getLogger("voxflow.realtime.server")

CHUNK_MS = 100  # reply audio is handed to the track in chunks of this length
LEAD_MS = 300  # ...keeping at most this much queued ahead of playback


class _Dropped(Exception):
    """The drop fault closed the call in the middle of a reply: the response just stops."""


@dataclass
class Response:
    id: str
    task: asyncio.Task[None] | None = None
    cancel_reason: str | None = None


class ResponseGeneration:
    """The response half of :class:`~audio.realtime.server.calls.Call` (a mixin over the call's state).

    The annotations below are what it uses of the call; ``Call.__init__`` sets them.
    """

    id: str
    session: dict[str, Any]
    track: ReplyAudioTrack
    _config: ServerConfig
    _faults: FaultConfig
    _speech: SpeechEngines
    _policy: ReplyPolicy
    _scripted: ScriptedConversation | None
    _echo_audio: bool
    _turns: list[Any]  # calls.UserTurn
    _items: dict[str, dict[str, Any]]
    _last_item_id: str | None
    _latest_user: asyncio.Future[str] | None
    _response: Response | None
    _cancelling: asyncio.Task[None] | None
    _responses_started: int
    _audio_produced: bool
    _error_on_next_response: str | None

    # the call's own methods
    send: Callable[..., None]
    send_error: Callable[..., None]
    _spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]]
    _add_item: Callable[[dict[str, Any], str | None], None]
    close: Callable[..., Coroutine[Any, Any, None]]

    def _start_response(self, overrides: dict[str, Any]) -> None:
        response = Response(new_id("resp"))
        self._response = response
        response.task = self._spawn(self._run_response(response, overrides))

    def _cancel_response(self, reason: str) -> None:
        response = self._response
        if response is None or response.task is None:
            return
        response.cancel_reason = reason
        response.task.cancel()
        self._cancelling = response.task

    async def _run_response(self, response: Response, overrides: dict[str, Any]) -> None:
        """Run one response; an unexpected failure ends it as ``failed`` so the next one can start."""
        try:
            await self._respond(response, overrides)
        except _Dropped:
            return
        except Exception:
            logger.exception("call %s: response %s failed", self.id, response.id)
            self.track.end(response.id)
            self.send_error("server_error", "The local server failed while generating the response.", type="server_error")
            modalities = self.session["output_modalities"]
            self._end_response(response, "failed", modalities, voice_of(self.session), [],
                               {"type": "failed", "error": {"type": "server_error", "code": "server_error"}})

    async def _respond(self, response: Response, overrides: dict[str, Any]) -> None:
        modalities = overrides.get("output_modalities") or self.session["output_modalities"]
        audio_out = "audio" in modalities
        voice = voice_of(self.session)
        self.send("response.created", response=self._response_object(response.id, "in_progress", modalities, voice))
        self._responses_started += 1
        for turn in self._turns:
            turn.release.set()
        audio_in_seconds = sum(turn.samples for turn in self._turns if not turn.heard.cancelled()) / RECOGNITION_RATE
        if self._error_on_next_response is not None:
            code, self._error_on_next_response = self._error_on_next_response, None
            self.send_error(code, f"Injected fault: {code}.", type="server_error")
            self._end_response(response, "failed", modalities, voice, [], {"type": "failed", "error": {"code": code}})
            return
        item = {"id": new_id("item"), "object": "realtime.item", "type": "message", "status": "in_progress",
                "role": "assistant", "content": []}
        transcript_parts: list[str] = []
        part_type = "audio" if audio_out else "text"
        previous = self._last_item_id
        try:
            heard = await self._latest_user if self._latest_user is not None else ""
            if self._scripted is not None:  # a rule script: this response may be a function call
                plan = self._scripted.plan(heard)
                if plan.call is not None:
                    called = emit_function_call(self.send, response.id, plan.call, self._add_item, self._last_item_id)
                    self._end_response(response, "completed", modalities, voice, [called], None, [], audio_in_seconds)
                    return
                assert plan.reply is not None
                text = await plan.reply()
            else:
                text = self._policy.reply(heard)
            previous = self._last_item_id
            self.send("response.output_item.added", response_id=response.id, output_index=0, item=item)
            self._add_item(item, previous)
            self.send("response.content_part.added", response_id=response.id, item_id=item["id"], output_index=0,
                      content_index=0, part={"type": part_type, "transcript" if audio_out else "text": ""})
            await self._stream_reply(response, item["id"], text, voice, audio_out, transcript_parts)
        except asyncio.CancelledError:
            if response.cancel_reason is None:
                raise  # the call is closing
            self.track.end(response.id)
            output = []
            if item["id"] in self._items:
                self._finish_item(response, item, previous, part_type, transcript_parts, audio_out, "incomplete")
                output = [item]
            self._end_response(response, "cancelled", modalities, voice, output,
                               {"type": "cancelled", "reason": response.cancel_reason}, transcript_parts,
                               audio_in_seconds)
            return
        self._finish_item(response, item, previous, part_type, transcript_parts, audio_out, "completed")
        self._end_response(response, "completed", modalities, voice, [item], None, transcript_parts,
                           audio_in_seconds)

    async def _stream_reply(self, response: Response, item_id: str, text: str, voice: str, audio_out: bool,
                            transcript_parts: list[str]) -> None:
        words = text.split(" ")
        delta_type = "response.output_audio_transcript.delta" if audio_out else "response.output_text.delta"
        ids = {"response_id": response.id, "item_id": item_id, "output_index": 0, "content_index": 0}

        def emit_words(upto: int) -> None:
            while len(transcript_parts) < min(upto, len(words)):
                delta = words[len(transcript_parts)] + (" " if len(transcript_parts) < len(words) - 1 else "")
                transcript_parts.append(delta)
                self.send(delta_type, delta=delta, **ids)

        if not audio_out or self._echo_audio:
            emit_words(len(words))
            return
        rate = self._config.output_rate
        audio = await self._speech.speak(text, voice, rate)
        self._audio_produced = True
        self.track.begin(response.id)
        chunk = rate * CHUNK_MS // 1000
        lead = rate * LEAD_MS // 1000
        drop_at = len(audio) // 2 if self._faults.drop_mid_reply and self._responses_started == 1 else None
        for start in range(0, len(audio), chunk):
            while self.track.queued_samples(response.id) > lead:
                await asyncio.sleep(0.02)
            self.track.push(response.id, audio[start:start + chunk])
            emit_words(math.ceil(len(words) * min(len(audio), start + chunk) / len(audio)))
            if drop_at is not None and start >= drop_at:
                await self.close("the mid-reply drop fault")
                raise _Dropped
        emit_words(len(words))
        self.send("response.output_audio.done", **ids)
        self.track.end(response.id)

    def _finish_item(self, response: Response, item: dict[str, Any], previous: str | None, part_type: str,
                     parts: list[str],
                     audio_out: bool, status: str) -> None:
        text = "".join(parts)
        ids = {"response_id": response.id, "item_id": item["id"], "output_index": 0, "content_index": 0}
        if audio_out:
            self.send("response.output_audio_transcript.done", transcript=text, **ids)
            part = {"type": "audio", "transcript": text}
        else:
            self.send("response.output_text.done", text=text, **ids)
            part = {"type": "text", "text": text}
        self.send("response.content_part.done", part=part, **ids)
        item.update(status=status, content=[{"type": "output_audio" if audio_out else "output_text",
                                             "transcript" if audio_out else "text": text}])
        self.send("response.output_item.done", response_id=response.id, output_index=0, item=item)
        self.send("conversation.item.done", item=item, previous_item_id=previous)

    def _end_response(self, response: Response, status: str, modalities: list[str], voice: str,
                      output: list[dict[str, Any]], details: dict[str, Any] | None,
                      transcript_parts: list[str] | None = None, audio_in_seconds: float = 0.0) -> None:
        body = self._response_object(response.id, status, modalities, voice)
        body.update(output=output, status_details=details,
                    usage=self._usage("audio" in modalities, transcript_parts or [], audio_in_seconds))
        if self._response is response:
            self._response = None
        self.send("response.done", response=body)
        if self._config.rate_limits:
            self.send("rate_limits.updated", rate_limits=[
                {"name": "requests", "limit": 1000, "remaining": 999, "reset_seconds": 0.06},
                {"name": "tokens", "limit": 40000, "remaining": 39000, "reset_seconds": 1.5},
            ])

    def _response_object(self, response_id: str, status: str, modalities: list[str], voice: str) -> dict[str, Any]:
        return {"object": "realtime.response", "id": response_id, "status": status, "status_details": None,
                "output": [], "conversation_id": "conv_" + self.id.removeprefix("rtc_"),
                "output_modalities": modalities, "max_output_tokens": "inf",
                "audio": {"output": {"format": {"type": "audio/pcm", "rate": 24000}, "voice": voice}},
                "usage": None, "metadata": None}

    def _usage(self, audio: bool, parts: list[str], audio_in_seconds: float) -> dict[str, Any]:
        """Token counts of the same order as the service's: ~10 audio tokens per second in, 20 out."""
        text_out = len("".join(parts).split())
        audio_out = 10 * text_out if audio else 0  # ~0.5 s of speech per word
        text_in = len(str(self.session.get("instructions") or "").split()) + 4
        audio_in = math.ceil(10 * audio_in_seconds)
        return {"total_tokens": text_in + audio_in + text_out + audio_out, "input_tokens": text_in + audio_in,
                "output_tokens": text_out + audio_out,
                "input_token_details": {"text_tokens": text_in, "audio_tokens": audio_in, "cached_tokens": 0},
                "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out}}
