"""The microphone across connections: while the link is down, what the person says is kept, not lost.

Every connection of a session reads the microphone through one
:class:`OutageBuffer`. Normally it passes frames through and remembers the
last ``seconds`` of them, stamped with the clock. When a drop is detected
(:meth:`OutageBuffer.hold`), connections get no more frames and a reader task
keeps listening into the same bounded buffer; past the bound the oldest audio
goes, and is counted. When the next connection is live,
:meth:`OutageBuffer.release` hands back everything heard since ``since`` (the
point the old session had surely heard: :class:`HeardUntil`) and lets the
microphone through again, in one step, so live audio resumes at once and
nothing is sent twice or skipped at the seam. The recent frames stay in the
buffer: if the next connection drops before it made sense of them, the next
release hands them over again.

Frames the person did not mean to send (muted, push-to-talk released, the
assistant's own voice while the echo guard would have silenced it) are kept
as silence (``keep``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from audio.base.clock import Clock
from audio.dsp.formats import as_frame, to_channels
from audio.dsp.frames import AudioSource
from audio.session.events import SessionEvent, SpeechStopped, TranscriptUpdated
from audio.speech.speech_probability import SpeechScorer

log = logging.getLogger(__name__)

MARGIN_SECONDS = 0.2
"""Held audio starts this much before the point the old session surely heard (its speech_stopped arrives late)."""
SETTLE_SECONDS = 1.0
"""At the release, scoring gets at most this long to catch up; frames still unscored then count as speech."""
QUIET_DBFS = -55.0
"""A frame this quiet holds no speech: it is not even scored (cheap, and most of an outage is quiet)."""
_QUIET_RMS = 32768.0 * 10 ** (QUIET_DBFS / 20)


def quiet(pcm: np.ndarray) -> bool:
    """Whether ``pcm`` stays below :data:`QUIET_DBFS` (RMS)."""
    samples = np.asarray(pcm, dtype=np.float64)
    return samples.size == 0 or float(np.sqrt(np.mean(samples * samples))) < _QUIET_RMS


@dataclass(eq=False)
class _Frame:
    at: float  # clock time it was heard
    pcm: np.ndarray  # mono int16
    speech: float | None = None  # Silero's speech probability, once scored (during an outage)


@dataclass(frozen=True)
class HeldAudio:
    """What the microphone heard while the link was down (mono int16 at ``rate``)."""

    pcm: np.ndarray
    rate: int
    dropped_seconds: float  # the oldest audio of the outage, past the bound
    until: float  # clock time of its last frame
    frame_ends: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # sample end of each frame
    frame_speech: np.ndarray = field(default_factory=lambda: np.zeros(0))  # its speech probability (nan: unscored)

    @property
    def seconds(self) -> float:
        return self.pcm.shape[0] / self.rate


@dataclass(frozen=True)
class OutageReport:
    """What an outage held and what of it went to the next session (the transcript divider says so)."""

    heard_seconds: float  # audio held from the point the old session surely heard
    sent_seconds: float  # the speech in it, handed to the new session
    dropped_seconds: float  # the oldest audio, past the bound

    def text(self) -> str:
        """``6.2 s said during the outage sent`` (empty when nothing was said), and what was dropped."""
        parts = []
        if self.sent_seconds > 0:
            parts.append(f"{self.sent_seconds:.1f} s said during the outage sent")
        if self.dropped_seconds > 0:
            parts.append(f"the oldest {self.dropped_seconds:.1f} s of it dropped (the outage buffer was full)")
        return "; ".join(parts)


class OutageBuffer:
    """An :class:`~audio.dsp.frames.AudioSource` over the microphone that keeps listening through an outage."""

    def __init__(self, source: AudioSource, clock: Clock, *, seconds: float, keep: Callable[[], bool] = lambda: True,
                 scorer: Callable[[int], SpeechScorer] | None = None) -> None:
        self.source = source
        self.sample_rate = source.sample_rate
        self.channels = source.channels
        self.seconds = seconds
        self._clock = clock
        self._keep = keep
        self._frames: collections.deque[_Frame] = collections.deque()
        self._scorer = scorer  # scores what an outage holds as it comes in, so the release need not wait for it
        self._scoring: asyncio.Task[None] | None = None
        self._scored = asyncio.Event()  # a batch was scored (or a frame arrived to score)
        self._samples = 0
        self._since: float | None = None  # holding: the outage is heard from this clock time
        self._dropped = 0  # samples of the outage past the bound
        self._lock = asyncio.Lock()  # one reader of the source at a time (a connection's track, or ours)
        self._open = asyncio.Event()
        self._open.set()
        self._reader: asyncio.Task[None] | None = None
        self._ended = False

    @property
    def holding(self) -> bool:
        return self._since is not None

    # ---------------------------------------------------------------- the live path
    async def read(self) -> np.ndarray | None:
        """The next frame for the live connection; waits while an outage is being held."""
        while True:
            await self._open.wait()
            async with self._lock:
                if not self._open.is_set():
                    continue  # an outage began while we waited for the source
                if self._ended:
                    return None
                frame = await self.source.read()
                if frame is None:
                    self._ended = True
                    return None
                self._remember(frame)
                return frame

    def stop(self) -> None:
        """Stop listening (the source belongs to whoever created it); pending reads end."""
        self.drop()
        self._ended = True
        self._open.set()

    # ---------------------------------------------------------------- an outage
    def hold(self, since: float) -> None:
        """The link is down: keep listening into the buffer; the outage counts from ``since`` (clock time)."""
        if self._since is not None:
            return
        self._since = min(since, self._clock.monotonic())
        self._dropped = 0
        for frame in self._frames:
            if frame.at >= self._since and quiet(frame.pcm):
                frame.speech = 0.0
        self._open.clear()
        loop = asyncio.get_running_loop()
        self._reader = loop.create_task(self._listen(), name="voxflow-realtime-outage")
        if self._scorer is not None:
            self._scoring = loop.create_task(self._score(self._scorer), name="voxflow-realtime-outage-scoring")

    async def settled(self, timeout: float = SETTLE_SECONDS) -> None:
        """Until every frame held so far is scored (at most ``timeout``: the live audio is waiting)."""
        deadline = self._clock.monotonic() + timeout
        while self._scoring is not None and not self._scoring.done() and self._unscored():
            self._scored.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._scored.wait(), max(0.0, deadline - self._clock.monotonic()))
            if self._clock.monotonic() >= deadline:
                return

    def _unscored(self) -> list[_Frame]:
        since = self._since
        return [] if since is None else [frame for frame in self._frames if frame.at >= since and frame.speech is None]

    async def _score(self, make: Callable[[int], SpeechScorer]) -> None:
        """Score held frames in order, in batches, in a thread (Silero: tens of microseconds per 20 ms frame)."""
        try:
            model: SpeechScorer | None = None
            last = 0.0
            while self._since is not None:
                todo = self._unscored()
                if not todo:
                    self._scored.clear()
                    await self._scored.wait()
                    continue
                if model is None:  # loading Silero takes ~100 ms: only when something is loud enough to score
                    model = await asyncio.to_thread(make, self.sample_rate)
                last = await asyncio.to_thread(_score_frames, model, todo, last)
                self._scored.set()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("scoring the outage's audio failed: all of it counts as speech")

    def held(self, after: float | None = None) -> HeldAudio:
        """What was heard since ``since`` (or after ``after``) so far; the buffer goes on holding."""
        now = self._clock.monotonic()
        since = self._since if self._since is not None else now
        frames = [frame for frame in self._frames if frame.at >= since and (after is None or frame.at > after)]
        pcm = np.concatenate([frame.pcm for frame in frames]) if frames else np.zeros(0, dtype=np.int16)
        until = frames[-1].at if frames else (after if after is not None else since)
        ends = np.cumsum([frame.pcm.shape[0] for frame in frames], dtype=np.int64)
        speech = np.array([np.nan if frame.speech is None else frame.speech for frame in frames], dtype=np.float64)
        return HeldAudio(pcm, self.sample_rate, self._dropped / self.sample_rate, until, ends, speech)

    def release(self, after: float | None = None) -> HeldAudio:
        """The next connection is live: what was heard since ``since`` (or after ``after``); the microphone goes to it."""
        held = self.held(after)
        self.drop()
        return held

    def drop(self) -> None:
        """Stop holding; no connection will take what was held (the session ends)."""
        self._since = None
        reader, self._reader = self._reader, None
        if reader is not None and not reader.done():
            reader.cancel()  # a source read it cuts short gives no frame: nothing is lost
        scoring, self._scoring = self._scoring, None
        if scoring is not None and not scoring.done():
            scoring.cancel()
        for frame in self._frames:
            frame.speech = None  # scores belong to one outage (its scorer's state ran through it)
        self._open.set()

    async def aclose(self) -> None:
        """:meth:`stop` and wait for its tasks."""
        tasks = [task for task in (self._reader, self._scoring) if task is not None]
        self.stop()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _listen(self) -> None:
        while self._since is not None and not self._ended:
            async with self._lock:
                if self._since is None:
                    return
                frame = await self.source.read()
            if frame is None:
                self._ended = True
                return
            self._remember(frame)

    def _remember(self, frame: np.ndarray) -> None:
        block = as_frame(frame)
        mono = to_channels(block, 1).reshape(-1) if block.shape[1] != 1 else block.reshape(-1).copy()
        if not self._keep():
            mono = np.zeros_like(mono)
        heard = _Frame(self._clock.monotonic(), mono)
        if self._since is not None and quiet(mono):
            heard.speech = 0.0
        self._frames.append(heard)
        self._samples += mono.shape[0]
        bound = int(self.seconds * self.sample_rate)
        while self._frames and self._samples - self._frames[0].pcm.shape[0] >= bound:
            old = self._frames.popleft()
            self._samples -= old.pcm.shape[0]
            if self._since is not None and old.at >= self._since:
                self._dropped += old.pcm.shape[0]
        if self._since is not None:
            self._scored.set()  # wake the scorer


def _score_frames(model: SpeechScorer, frames: list[_Frame], last: float) -> float:
    """Give each frame the highest probability of the windows it completes (the last one's when it completes none)."""
    for frame in frames:
        scores = model.feed(frame.pcm)
        if scores:
            last = max(scores)
        frame.speech = last
    return last


class HeardUntil:
    """The clock time up to which the live session surely heard the person (follows the session's events).

    A user turn is heard once its transcript is final: its ``speech_stopped``
    arrived then, so the audio before it is in the conversation the next
    session is given (as text). What came after may not be. Audio handed over
    after an outage counts as heard once its turn is final too
    (:meth:`delivered`).
    """

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self.at = float("-inf")
        self._stopped: dict[str, float] = {}
        self._delivered: dict[str, float] = {}

    def __call__(self, event: SessionEvent) -> None:
        if isinstance(event, SpeechStopped) and event.item_id is not None:
            self._stopped[event.item_id] = self._clock.monotonic()
            while len(self._stopped) > 64:
                self._stopped.pop(next(iter(self._stopped)))
        elif isinstance(event, TranscriptUpdated):
            entry = event.entry
            if entry.role == "user" and entry.final and not entry.pending:
                heard = self._delivered.pop(entry.item_id, self._stopped.get(entry.item_id))
                if heard is not None:
                    self.at = max(self.at, heard)

    def delivered(self, item_id: str, until: float) -> None:
        """``item_id`` carries the audio held until ``until``: once it is transcribed, that audio was heard."""
        self._delivered[item_id] = until

    def since(self) -> float:
        """Where held audio should start."""
        return self.at - MARGIN_SECONDS
