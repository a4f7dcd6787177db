"""AudioPipe: a bounded hand-over between a writer and a reader on one event loop.

The realtime session's receive pump writes the assistant's audio into a pipe
(it is an :class:`~audio.dsp.frames.AudioSink`); the pipe is registered in the
AudioRegistry and a downstream ``audio-output`` node reads it (it is an
:class:`~audio.dsp.frames.AudioSource`). Writes of any length are re-cut into
20 ms frames. The queue is bounded: when the reader falls behind the oldest
audio is dropped and counted. ``flush()`` (barge-in) drops what is queued and
tells listeners, so a speaker fed from the pipe can cut its own buffer at once;
``hold()``/``release()`` (local barge-in) tell hold listeners to silence playback
and resume it, keeping the audio: the pipe itself queues on as before.
``playback_taps`` are for whoever needs to hear exactly what a speaker plays
from this pipe (the echo canceller): the speaker that plays it attaches them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

import numpy as np

from audio.dsp.formats import FrameChunker, as_frame
from audio.dsp.frames import FRAME_MS, frame_samples

log = logging.getLogger(__name__)


class AudioPipe:
    """Sink on one side, source on the other; ``close()`` ends it after draining, ``stop()`` at once."""

    def __init__(self, sample_rate: int, channels: int, max_ms: int = 2000) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        self.max_frames = max(1, max_ms // FRAME_MS)
        self.frames_written = 0
        self.frames_read = 0
        self.dropped_frames = 0
        self.flushes = 0
        self._frames: deque[np.ndarray] = deque()
        self._chunker = FrameChunker(frame_samples(sample_rate), channels)
        self._closed = False
        self._stopped = False
        self._waiter: asyncio.Future[None] | None = None
        self._ended_event = asyncio.Event()
        self._flush_listeners: list[Callable[[], None]] = []
        self._hold_listeners: list[Callable[[bool], None]] = []
        self.held = False
        self.downstream_ms: Callable[[], float] | None = None  # set by a reader that buffers further (a speaker)
        self.playback_taps: list[Callable[[np.ndarray, int], None]] = []
        """``tap(block, rate)`` for each block a speaker playing this pipe hands its device."""
        self.on_speaker: list[Callable[[], None]] = []
        """Called when a speaker attaches the taps (the echo reference is live)."""

    # -- sink side ---------------------------------------------------------
    def write(self, frame: np.ndarray) -> None:
        if self._closed:
            return
        for piece in self._chunker.push(as_frame(frame, self.channels)):
            self._queue(piece)

    def _queue(self, frame: np.ndarray) -> None:
        if len(self._frames) >= self.max_frames:
            self._frames.popleft()
            self.dropped_frames += 1
        self._frames.append(frame)
        self.frames_written += 1
        self._wake()

    def flush(self) -> None:
        """Drop everything queued and notify flush listeners (barge-in)."""
        self._frames.clear()
        self._chunker.clear()
        self.flushes += 1
        self.held = False  # a speaker's flush ends its hold too
        for listener in list(self._flush_listeners):
            try:
                listener()
            except Exception:  # one broken listener must not keep the others from flushing
                log.exception("audio pipe flush listener failed")

    def hold(self) -> None:
        """Silence playback at once, keeping the audio (local barge-in); :meth:`release` or :meth:`flush` ends it."""
        self._set_held(True)

    def release(self) -> None:
        """Resume playback where :meth:`hold` stopped it."""
        self._set_held(False)

    def _set_held(self, held: bool) -> None:
        if held == self.held:
            return
        self.held = held
        for listener in list(self._hold_listeners):
            try:
                listener(held)
            except Exception:
                log.exception("audio pipe hold listener failed")

    def add_hold_listener(self, callback: Callable[[bool], None]) -> Callable[[], None]:
        """Call ``callback(held)`` on every :meth:`hold` and :meth:`release`; returns a function that removes it."""
        self._hold_listeners.append(callback)

        def remove() -> None:
            if callback in self._hold_listeners:
                self._hold_listeners.remove(callback)

        return remove

    def add_flush_listener(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on every ``flush()``; returns a function that removes it."""
        self._flush_listeners.append(callback)

        def remove() -> None:
            if callback in self._flush_listeners:
                self._flush_listeners.remove(callback)

        return remove

    def close(self) -> None:
        """The writer is done: readers get what is queued (last frame padded), then None."""
        if self._closed:
            return
        last = self._chunker.drain(pad=True)
        if last is not None:
            self._queue(last)
        self._closed = True
        self._wake()

    # -- source side -------------------------------------------------------
    @property
    def queued_frames(self) -> int:
        return len(self._frames)

    @property
    def playout_ms(self) -> float:
        """Audio still to be heard: queued here plus what the reader reports holding."""
        own = len(self._frames) * FRAME_MS
        return own + (self.downstream_ms() if self.downstream_ms is not None else 0.0)

    @property
    def ended(self) -> bool:
        return self._stopped or (self._closed and not self._frames)

    async def wait_ended(self) -> None:
        """Until the pipe was stopped, or closed and read to the end."""
        await self._ended_event.wait()

    async def read(self) -> np.ndarray | None:
        while True:
            if self._stopped:
                return None
            if self._frames:
                self.frames_read += 1
                return self._frames.popleft()
            if self._closed:
                self._ended_event.set()
                return None
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def stop(self) -> None:
        """End at once: queued audio is dropped and pending reads return None."""
        self._stopped = True
        self._closed = True
        self._frames.clear()
        self._chunker.clear()
        self._ended_event.set()
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
