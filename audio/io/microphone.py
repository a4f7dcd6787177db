"""MicrophoneSource: a sound card input as an :class:`~audio.dsp.frames.AudioSource`.

PortAudio calls our callback on its own thread. The callback only copies the
block and hands it to the event loop with ``loop.call_soon_threadsafe`` into
a bounded queue; it never blocks, never raises and touches nothing else. When
the consumer falls behind, blocks are dropped and counted in ``overflows``
(shown by front ends), never raised. If the device refuses the requested rate
or channel count, the stream opens in the device's own format and is
converted on the loop side. A ``capture_processor`` (the echo canceller) sees
each converted block right after capture, before the queue, so its timing
follows the device rather than the reader.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import numpy as np

from audio.io.devices import DeviceInfo, open_callback_stream, resolve_device
from audio.dsp.formats import FrameChunker, Resampler, to_channels
from audio.dsp.frames import FRAME_MS, frame_samples

log = logging.getLogger(__name__)


class MicrophoneSource:
    """Captures 20 ms int16 frames from an input device (``device``: index, name part, or None)."""

    def __init__(
        self,
        device: str | int | None = None,
        sample_rate: int = 48000,
        channels: int = 1,
        *,
        loop: asyncio.AbstractEventLoop | None = None,
        max_queue_ms: int = 200,
    ) -> None:
        self.device_spec = device
        self.sample_rate = sample_rate
        self.channels = channels
        self.overflows = 0
        """Blocks lost because the reader fell behind, plus PortAudio input overflows."""
        self.frames_captured = 0
        self.device: DeviceInfo | None = None
        self.stream_rate: int | None = None
        self.stream_channels: int | None = None
        self._loop = loop
        self._queue: asyncio.Queue[np.ndarray | None] = asyncio.Queue(max(2, max_queue_ms // FRAME_MS))
        self._stream: Any = None
        self._stopped = False
        self._ended_event = asyncio.Event()
        self._resampler: Resampler | None = None
        self._chunker = FrameChunker(frame_samples(sample_rate), channels)
        self.capture_processor: Callable[[np.ndarray, int], np.ndarray] | None = None
        """``(block, rate) -> block`` applied on the loop right after capture (mono microphones)."""

    @property
    def started(self) -> bool:
        return self._stream is not None

    @property
    def device_name(self) -> str | None:
        return self.device.name if self.device else None

    def start(self) -> None:
        """Open and start the input stream (``read()`` does this on first use)."""
        if self._stream is not None or self._stopped:
            return
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        self.device = resolve_device(self.device_spec, "input")
        channels = min(self.channels, self.device.max_input_channels)
        self._stream, rate = open_callback_stream("input", self.device, self.sample_rate, channels, self._callback)
        self.stream_rate = rate
        self.stream_channels = channels
        if rate != self.sample_rate:
            self._resampler = Resampler(self.sample_rate, self.channels, in_rate=rate)

    def _callback(self, indata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        # PortAudio's thread: copy, hand over, nothing else.
        if status and getattr(status, "input_overflow", False):
            self.overflows += 1
        if self._queue.full():  # racy read, but only ever errs toward one more hand-over
            self.overflows += 1
            return
        loop = self._loop
        if loop is None:
            return
        try:
            loop.call_soon_threadsafe(self._offer, indata.copy())
        except RuntimeError:  # the loop has closed under a stream still winding down
            pass

    def _offer(self, block: np.ndarray) -> None:
        if self._stopped:
            return
        if block.shape[1] != self.channels:
            block = to_channels(block, self.channels)
        if self._resampler is not None:
            block = self._resampler.process(block, self.stream_rate)
        if self.capture_processor is not None and self.channels == 1:
            block = self.capture_processor(block, self.sample_rate)
        for frame in self._chunker.push(block):
            try:
                self._queue.put_nowait(frame)
                self.frames_captured += 1
            except asyncio.QueueFull:
                self.overflows += 1

    async def wait_ended(self) -> None:
        """Until the microphone is stopped (a live input never ends by itself)."""
        await self._ended_event.wait()

    async def read(self) -> np.ndarray | None:
        if self._stopped:
            return None
        if self._stream is None:
            self.start()
        frame = await self._queue.get()
        if frame is None or self._stopped:
            return None
        return frame

    def stop(self) -> None:
        """Close the device stream; pending and later reads return None."""
        if self._stopped:
            return
        self._stopped = True
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:
                log.exception("closing the microphone stream failed")
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)
        self._ended_event.set()
