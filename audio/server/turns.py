"""The user's turns: what each committed item said, recognised in the background and announced in order.

A committed audio item is recognised at once (``SpeechEngines.transcribe``
runs the recogniser in a subprocess), but its transcription events wait until
a response started or a grace period passed, as the service's do. With the
``fail_transcription`` fault the recogniser's words still reach the reply, but
the client gets ``conversation.item.input_audio_transcription.failed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audio.server.outbox import EventSink
from audio.speech.engines import RECOGNITION_RATE, SpeechEngines, describe_speech

logger = logging.getLogger("voxflow.realtime.server")

TRANSCRIPTION_GRACE_S = 1.5  # a commit with no response gets its transcription after this


@dataclass
class UserTurn:
    """A committed user audio item: its words arrive later (``heard``) and its events wait for ``release``."""

    item_id: str
    samples: int
    heard: asyncio.Future[str]
    release: asyncio.Event = field(default_factory=asyncio.Event)


class UserTurns:
    def __init__(self, sink: EventSink, speech: SpeechEngines, *, transcribing: Callable[[], bool],
                 spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]], fail: bool = False,
                 on_recognized: Callable[[float, float], None] | None = None) -> None:
        self._sink = sink
        self._speech = speech
        self._transcribing = transcribing
        self._spawn = spawn
        self._fail = fail
        self._on_recognized = on_recognized  # (seconds the recogniser took, seconds of audio): the server's metrics
        self._pending: list[UserTurn] = []
        self.latest: asyncio.Future[str] | None = None  # the words of the latest user item

    def said(self, text: str) -> None:
        """A user text item: its words are known at once."""
        self.latest = asyncio.get_running_loop().create_future()
        self.latest.set_result(text)

    def committed(self, item_id: str, audio: np.ndarray) -> None:
        heard: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        turn = UserTurn(item_id, len(audio), heard)
        self._pending.append(turn)
        self.latest = heard
        self._spawn(self._transcribe(turn, audio))

    def release(self) -> float:
        """A response started: let pending transcriptions out; the seconds of user audio it answers."""
        for turn in self._pending:
            turn.release.set()
        return sum(turn.samples for turn in self._pending if not turn.heard.cancelled()) / RECOGNITION_RATE

    def abandon(self) -> None:
        for turn in self._pending:
            if not turn.heard.done():
                turn.heard.cancel()

    async def _transcribe(self, turn: UserTurn, audio: np.ndarray) -> None:
        started = time.perf_counter()
        try:
            words = await self._speech.transcribe(audio)
        except Exception:
            logger.exception("recognition failed")
            words = describe_speech(turn.samples, RECOGNITION_RATE)
        if self._on_recognized is not None:
            self._on_recognized(time.perf_counter() - started, turn.samples / RECOGNITION_RATE)
        if turn.heard.done():  # the call closed meanwhile
            return
        turn.heard.set_result(words)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(turn.release.wait(), TRANSCRIPTION_GRACE_S)
        if self._transcribing():
            if self._fail:
                self._sink.send("conversation.item.input_audio_transcription.failed", item_id=turn.item_id,
                                content_index=0, error={"type": "transcription_error", "code": "audio_unintelligible",
                                                        "message": "Injected fault: the audio could not be transcribed.",
                                                        "param": None})
            else:
                self._sink.send("conversation.item.input_audio_transcription.delta", item_id=turn.item_id,
                                content_index=0, delta=words)
                self._sink.send("conversation.item.input_audio_transcription.completed", item_id=turn.item_id,
                                content_index=0, transcript=words,
                                usage={"type": "duration", "seconds": round(turn.samples / RECOGNITION_RATE, 2)})
        if turn in self._pending:
            self._pending.remove(turn)
