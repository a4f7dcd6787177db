"""Bridges between voxflow audio and aiortc: a paced sending track and a receive pump.

aiortc pulls a sending track with ``recv()`` back to back, so
:class:`SourceTrack` paces itself on the clock: one 20 ms frame per 20 ms,
``pts`` counting samples, ``time_base = 1/rate``. A small reader task keeps a
bounded queue filled from the source; when the queue is empty (the source has
nothing yet) or the gate is closed (push-to-talk, mute) the track sends
silence so the call stays up. :class:`TrackPump` drains a received track
(aiortc decodes Opus to 48 kHz stereo and queues without bound, so it must be
drained), resampling every frame into a sink's format.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from fractions import Fraction

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from audio.base.clock import Clock, SystemClock
from audio.dsp.formats import FrameChunker, Resampler, as_frame, av_frame_from_pcm, to_channels
from audio.dsp.frames import AudioSink, AudioSource, frame_samples
from audio.dsp.pacing import interrupt, interruptible_sleep

log = logging.getLogger(__name__)

FrameHook = Callable[[np.ndarray, bool], None]
"""``on_frame(frame_pcm, gated)``: each source frame the track consumed, and whether it was muted."""

_RESYNC_SECONDS = 0.5
_GRACE_SECONDS = 0.005


class SourceTrack(MediaStreamTrack):
    """An aiortc audio track fed by an :class:`~audio.dsp.frames.AudioSource`, paced to the clock."""

    kind = "audio"

    def __init__(
        self,
        source: AudioSource,
        *,
        clock: Clock | None = None,
        on_frame: FrameHook | None = None,
        end_with_source: bool = False,
        gate_open: bool = True,
        max_queue_frames: int = 5,
    ) -> None:
        super().__init__()
        self.source = source
        self.clock: Clock = clock or SystemClock()
        self.on_frame = on_frame
        self.end_with_source = end_with_source
        self.sample_rate = source.sample_rate
        self.channels = min(source.channels, 2)
        self.samples_per_frame = frame_samples(self.sample_rate)
        self.time_base = Fraction(1, self.sample_rate)
        self.frames_sent = 0
        self.silent_frames_sent = 0
        self.gated_frames = 0
        self._gate_open = gate_open
        self._queue: asyncio.Queue[np.ndarray] = asyncio.Queue(max(1, max_queue_frames))
        self._reader: asyncio.Task[None] | None = None
        self._source_done = False
        self._ended_event = asyncio.Event()
        self._start: float | None = None
        self._pts = 0
        self.due = 0.0
        """Clock time the frame being sent was due: its place in the paced stream (``on_frame`` may read it)."""
        self._pacing_wait: asyncio.Task[object] | None = None  # not pyee's own _waiting set
        self._interrupted = False
        self._silence = np.zeros((self.samples_per_frame, self.channels), dtype=np.int16)

    # -- gate ----------------------------------------------------------------
    @property
    def gate_open(self) -> bool:
        return self._gate_open

    def set_gate(self, open: bool) -> None:  # noqa: A002 - the natural name for a gate
        """Open (send the source) or close (send silence, keep consuming the source) the gate."""
        self._gate_open = open

    # -- end of source -------------------------------------------------------
    @property
    def source_ended(self) -> bool:
        """True once the source has ended and every frame it gave has been sent."""
        return self._ended_event.is_set()

    async def wait_source_ended(self) -> None:
        await self._ended_event.wait()

    # -- aiortc --------------------------------------------------------------
    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read_source(), name="SourceTrack reader")
        await self._pace()
        if self.readyState != "live":
            raise MediaStreamError
        if self._queue.empty() and not self._source_done:
            await self._grace()
            if self.readyState != "live":
                raise MediaStreamError
        pcm = self._take()
        if pcm is None:
            if self._source_done and self._queue.empty():
                self._ended_event.set()
                if self.end_with_source:
                    self.stop()
                    raise MediaStreamError
            pcm = self._silence
            self.silent_frames_sent += 1
        # stereo: aiortc's Opus encoder upmixes a mono frame with FFmpeg's -3 dB pan law
        frame = av_frame_from_pcm(to_channels(pcm, 2), self.sample_rate)
        frame.pts = self._pts
        frame.time_base = self.time_base
        self.frames_sent += 1
        return frame

    async def _grace(self) -> None:
        """Give a source paced on the same clock a moment to hand over a frame that is just due.

        Its deadline can land a hair after ours (float rounding, timer order), so
        wait up to ``_GRACE_SECONDS`` before sending silence. The schedule stays
        anchored to ``start + pts / rate``, so the grace never accumulates.
        """
        await asyncio.sleep(0)
        if self._queue.empty() and not self._source_done and self.readyState == "live":
            await interruptible_sleep(self, _GRACE_SECONDS)

    def _take(self) -> np.ndarray | None:
        """The next source frame to send, or None for silence (nothing queued, or gated)."""
        try:
            pcm = self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None
        gated = not self._gate_open
        if self.on_frame is not None:
            try:
                self.on_frame(pcm, gated)
            except Exception:
                log.exception("SourceTrack on_frame hook failed")
        if gated:
            self.gated_frames += 1
            return None
        return pcm

    async def _pace(self) -> None:
        """Sleep until the next frame is due: frame n leaves at start + n * 20 ms."""
        now = self.clock.monotonic()
        if self._start is None:
            self._start = self.due = now
            await asyncio.sleep(0)  # let the reader hand over its first frame
            return
        self._pts += self.samples_per_frame
        self.due = self._start + self._pts / self.sample_rate
        wait = self.due - now
        if wait < -_RESYNC_SECONDS:  # the sender stalled: restart the schedule, no burst
            self._start = now - self._pts / self.sample_rate
            self.due = now
            return
        if wait <= 0:
            return
        await interruptible_sleep(self, wait)  # a stop() wakes it; recv() then raises

    async def _read_source(self) -> None:
        chunker = FrameChunker(self.samples_per_frame, self.channels)
        try:
            while True:
                frame = await self.source.read()
                if frame is None:
                    break
                block = as_frame(frame)
                if block.shape[1] != self.channels:
                    block = to_channels(block, self.channels)
                if block.shape[0] == self.samples_per_frame and chunker.held_samples == 0:
                    await self._queue.put(block)
                    continue
                for piece in chunker.push(block):
                    await self._queue.put(piece)
            last = chunker.drain(pad=True)
            if last is not None:
                await self._queue.put(last)
        finally:
            self._source_done = True

    def stop(self) -> None:
        """End the track (aiortc stops sending); the source itself belongs to its owner."""
        super().stop()
        interrupt(self)
        if self._reader is not None and not self._reader.done():
            self._reader.cancel()

    async def aclose(self) -> None:
        """``stop()`` and wait until the reader task has finished."""
        self.stop()
        if self._reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader


class TrackPump:
    """Drains a received aiortc audio track into a sink, resampled to the sink's rate and channels."""

    def __init__(
        self,
        track: MediaStreamTrack,
        sink: AudioSink,
        *,
        sample_rate: int | None = None,
        channels: int | None = None,
        on_frame: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        self.track = track
        self.sink = sink
        self.sample_rate = sample_rate or sink.sample_rate
        self.channels = channels or sink.channels
        self.on_frame = on_frame
        self.frames_received = 0
        self.samples_written = 0
        self._resampler = Resampler(self.sample_rate, self.channels)
        self._task: asyncio.Task[None] | None = None
        self._done = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def ended(self) -> bool:
        return self._done.is_set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._pump(), name="TrackPump")

    async def wait(self) -> None:
        """Until the track has ended (or the pump was stopped)."""
        await self._done.wait()

    async def _pump(self) -> None:
        try:
            while True:
                try:
                    frame = await self.track.recv()
                except MediaStreamError:
                    break
                self.frames_received += 1
                assert isinstance(frame, av.AudioFrame)  # an audio track yields audio frames
                self._deliver(self._resampler.process_av(frame))
            self._deliver(self._resampler.flush())
        finally:
            self._done.set()

    def _deliver(self, pcm: np.ndarray) -> None:
        if not pcm.shape[0]:
            return
        self.sink.write(pcm)
        self.samples_written += pcm.shape[0]
        if self.on_frame is not None:
            try:
                self.on_frame(pcm)
            except Exception:
                log.exception("TrackPump on_frame hook failed")

    async def stop(self) -> None:
        """Stop draining and wait for the pump task to finish (the sink stays open)."""
        task = self._task
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._done.set()
