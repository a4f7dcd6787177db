"""The user's turns: what each committed item said, recognised in the background and streamed in order.

A committed audio item is recognised at once by the process's recogniser
pool (``SpeechEngines.recognize``: worker processes, windows of at most 15 s,
calls queued fairly). Its words stream to the client as the service sends
them: ``conversation.item.input_audio_transcription.delta`` per decoded
window, then ``.completed`` with the whole transcript (casing and punctuation
as the recogniser gave them; ``logprobs`` only when the session's ``include``
asks for ``item.input_audio_transcription.logprobs``). In a realtime session
the events wait until a response started or a grace period passed, as the
service's do; a transcription session has no responses, so they go at once.

When recognition fails (a worker died or hung; it is restarted) the turn gets
``conversation.item.input_audio_transcription.failed`` and the reply hears
``(speech, N s)``. With the ``fail_transcription`` fault the recogniser's
words still reach the reply, but the client gets ``.failed``. Each turn's CPU
time, queueing and length go to the server's log (INFO).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audio.server.outbox import EventSink
from audio.speech.engines import RECOGNITION_RATE, SpeechEngines, describe_speech
from audio.speech.recognizer_pool import Piece, RecognitionFailed

logger = logging.getLogger("voxflow.realtime.server")

TRANSCRIPTION_GRACE_S = 1.5  # a commit with no response gets its transcription events after this
FAILED = "conversation.item.input_audio_transcription.failed"


@dataclass(frozen=True)
class TranscriptionRequest:
    """What the session asks of input transcription (``audio.input.transcription`` and ``include``)."""

    enabled: bool
    language: str | None = None
    prompt: str | None = None
    logprobs: bool = False
    waits_for_response: bool = True

    @classmethod
    def of(cls, session: dict[str, Any]) -> TranscriptionRequest:
        settings = session["audio"]["input"].get("transcription")
        include = session.get("include") or []
        if not isinstance(settings, dict):
            return cls(False, waits_for_response=session.get("type") == "realtime")
        return cls(True, settings.get("language"), settings.get("prompt"),
                   "item.input_audio_transcription.logprobs" in include, session.get("type") == "realtime")


@dataclass
class UserTurn:
    """A committed user audio item: its words arrive later (``heard``); its events flow once ``opened``."""

    item_id: str
    samples: int
    heard: asyncio.Future[str]
    request: TranscriptionRequest
    opened: bool = False
    held: list[Piece] = field(default_factory=list)
    grace: asyncio.TimerHandle | None = None
    open_event: asyncio.Event = field(default_factory=asyncio.Event)


class UserTurns:
    def __init__(self, sink: EventSink, speech: SpeechEngines, *, request: Callable[[], TranscriptionRequest],
                 spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]], owner: object = None,
                 fail: bool = False, on_recognized: Callable[[float, float], None] | None = None) -> None:
        self._sink = sink
        self._speech = speech
        self._request = request
        self._spawn = spawn
        self._owner = owner
        self._fail = fail
        self._on_recognized = on_recognized  # (seconds the recogniser took, seconds of audio): the server's metrics
        self._pending: list[UserTurn] = []
        self.latest: asyncio.Future[str] | None = None  # the words of the latest user item

    def said(self, text: str) -> None:
        """A user text item: its words are known at once."""
        self.latest = asyncio.get_running_loop().create_future()
        self.latest.set_result(text)

    def committed(self, item_id: str, audio: np.ndarray) -> None:
        loop = asyncio.get_running_loop()
        heard: asyncio.Future[str] = loop.create_future()
        turn = UserTurn(item_id, len(audio), heard, self._request())
        self._pending.append(turn)
        self.latest = heard
        if turn.request.waits_for_response:
            turn.grace = loop.call_later(TRANSCRIPTION_GRACE_S, self._open, turn)
        else:
            self._open(turn)
        self._spawn(self._transcribe(turn, audio))

    def release(self) -> float:
        """A response started: let pending transcriptions out; the seconds of user audio it answers."""
        for turn in self._pending:
            self._open(turn)
        return sum(turn.samples for turn in self._pending if not turn.heard.cancelled()) / RECOGNITION_RATE

    def abandon(self) -> None:
        for turn in self._pending:
            if turn.grace is not None:
                turn.grace.cancel()
            if not turn.heard.done():
                turn.heard.cancel()
        self._speech.forget(self._owner)

    def _open(self, turn: UserTurn) -> None:
        if turn.opened:
            return
        turn.opened = True
        turn.open_event.set()
        if turn.grace is not None:
            turn.grace.cancel()
        for piece in turn.held:
            self._send_delta(turn, piece)
        turn.held.clear()

    def _piece(self, turn: UserTurn, piece: Piece) -> None:
        if self._fail or turn.heard.done():
            return
        if turn.opened:
            self._send_delta(turn, piece)
        else:
            turn.held.append(piece)

    def _send_delta(self, turn: UserTurn, piece: Piece) -> None:
        if not turn.request.enabled:
            return
        extra = {"logprobs": piece.logprobs} if turn.request.logprobs else {}
        self._sink.send("conversation.item.input_audio_transcription.delta", item_id=turn.item_id,
                        content_index=0, delta=piece.text, **extra)

    async def _transcribe(self, turn: UserTurn, audio: np.ndarray) -> None:
        request = turn.request
        failure: str | None = None
        logprobs: list[dict[str, Any]] | None = None
        started = time.perf_counter()
        try:
            recognition = await self._speech.recognize(
                audio, owner=self._owner, language=request.language, prompt=request.prompt,
                logprobs=request.logprobs and request.enabled, on_piece=lambda piece: self._piece(turn, piece))
        except RecognitionFailed as error:
            logger.warning("turn %s: recognition failed (%s)", turn.item_id, error)
            recognition, failure = None, str(error)
        if self._on_recognized is not None:  # (seconds the recogniser took, seconds of audio): the server's metrics
            self._on_recognized(time.perf_counter() - started, turn.samples / RECOGNITION_RATE)
        words = recognition.text if recognition is not None and recognition.text else describe_speech(
            turn.samples, RECOGNITION_RATE)
        if recognition is not None:
            logprobs = recognition.logprobs
            logger.info("turn %s: %.2f s of audio, %.3f s CPU (%.3f s per audio second), queued %.3f s,"
                        " %d window(s): %s", turn.item_id, recognition.audio_seconds, recognition.cpu_seconds,
                        recognition.cpu_seconds / max(recognition.audio_seconds, 1e-3), recognition.queued_seconds,
                        recognition.windows, self._speech.recognizer.name if self._speech.recognizer else "none")
        if failure is None and (recognition is None or not recognition.text):
            self._piece(turn, Piece(words, [] if request.logprobs else None))  # nothing heard: the description
        if turn.heard.done():  # the call closed meanwhile
            return
        turn.heard.set_result(words)
        await turn.open_event.wait()
        if request.enabled:
            if self._fail:
                self._send_failed(turn, "audio_unintelligible", "Injected fault: the audio could not be transcribed.")
            elif failure is not None:
                self._send_failed(turn, "transcription_failed", f"The local speech recogniser failed on this turn"
                                  f" ({failure}); it has been restarted.")
            else:
                extra = {"logprobs": logprobs or []} if request.logprobs else {}
                self._sink.send("conversation.item.input_audio_transcription.completed", item_id=turn.item_id,
                                content_index=0, transcript=words,
                                usage={"type": "duration", "seconds": round(turn.samples / RECOGNITION_RATE, 2)},
                                **extra)
        if turn in self._pending:
            self._pending.remove(turn)

    def _send_failed(self, turn: UserTurn, code: str, message: str) -> None:
        self._sink.send(FAILED, item_id=turn.item_id, content_index=0,
                        error={"type": "transcription_error", "code": code, "message": message, "param": None})
