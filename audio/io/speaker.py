"""SpeakerSink: a sound card output as an :class:`~audio.dsp.frames.AudioSink`.

PortAudio pulls audio from our callback on its own thread, so the playout
buffer sits between the two behind a lock held only for list operations. The
buffer aims low: playback starts once the prebuffer is queued (or a shorter
tail has waited two blocks), an underrun plays silence and re-arms the
prebuffer, and audio beyond ``max_ms`` is dropped oldest-first and counted.
The prebuffer adapts like the receive jitter buffer (:mod:`audio.dsp.jitter`): it
follows the spread of the writes' arrival times, one 20 ms frame on a steady
stream, more when writes come in bursts, and back down afterwards (a queue
that stays two blocks above it loses a block at most every
``SHRINK_EVERY`` callbacks, unless its writer paces itself with
``wait_ready()``). ``prebuffer_ms=N`` fixes it instead.
``wait_ready()`` gives writers faster than real time back-pressure at ``target_ms``.
``flush()`` (barge-in) fades the next few milliseconds out and drops the rest
at the next callback, so the assistant stops talking at once without a click.
``hold()`` (local barge-in, :mod:`audio.echo.local_barge_in`) fades out the
same way but keeps everything queued and plays silence; ``release()`` resumes
from the very sample that was fading (faded back in), ``flush()`` drops it all.
Taps (``add_tap``) see every block exactly as it goes to the device, silence
included: the echo canceller's far-end reference.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time as _time
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

from audio.io.devices import DeviceInfo, open_callback_stream, resolve_device
from audio.dsp.formats import Resampler, as_frame
from audio.dsp.jitter import SpreadEstimator

log = logging.getLogger(__name__)

FLOOR_S = 0.02  # one frame: the least a steady stream needs
IDLE_S = 0.5  # a pause this long starts a new talk spurt: forget the old timing
SHRINK_EVERY = 10


class SpeakerSink:
    """Plays int16 frames on an output device (``device``: index, name part, or None for the default)."""

    def __init__(
        self,
        device: str | int | None = None,
        sample_rate: int = 48000,
        channels: int = 1,
        *,
        target_ms: int = 60,
        prebuffer_ms: int | None = None,
        max_ms: int = 2000,
        fade_ms: float = 5.0,
        now: Callable[[], float] = _time.monotonic,
    ) -> None:
        self.device_spec = device
        self.sample_rate = sample_rate
        self.channels = channels
        self.target_ms = target_ms
        self.underruns = 0
        self.dropped_samples = 0
        self.samples_played = 0
        self.flushes = 0
        self.device: DeviceInfo | None = None
        self.stream_rate: int | None = None
        self.adaptive = prebuffer_ms is None
        self.skipped_samples = 0
        self._now = now
        self._spread = SpreadEstimator(floor=FLOOR_S)
        self._anchor: float | None = None
        self._last_write = 0.0
        self._media = 0.0
        self._over = 0
        self._backpressured = False  # a writer throttles itself with wait_ready(): target_ms bounds the queue
        self._prebuffer = round(sample_rate * (FLOOR_S if prebuffer_ms is None else prebuffer_ms / 1000))
        self._max = round(sample_rate * max_ms / 1000)
        self._fade = max(1, round(sample_rate * fade_ms / 1000))
        self._lock = threading.Lock()
        self._chunks: deque[np.ndarray] = deque()
        self._buffered = 0
        self._priming = True
        self._primed_waits = 0
        self._draining = False
        self._fade_pending = False
        self._held = False
        self._hold_fade = False  # the hold's fade-out is still to be played
        self._fade_in = False  # released: ramp the next block up
        self.holds = 0
        self._stream: Any = None
        self._stopped = False
        self._resampler: Resampler | None = None
        self._stream_channels = channels
        self._taps: list[Callable[[np.ndarray, int], None]] = []

    # -- lifecycle -----------------------------------------------------------
    @property
    def started(self) -> bool:
        return self._stream is not None

    @property
    def device_name(self) -> str | None:
        return self.device.name if self.device else None

    def start(self) -> None:
        """Open and start the output stream (the first ``write()`` does this)."""
        if self._stream is not None or self._stopped:
            return
        self.device = resolve_device(self.device_spec, "output")
        channels = min(self.channels, self.device.max_output_channels)
        stream, rate = open_callback_stream("output", self.device, self.sample_rate, channels, self._callback)
        self.stream_rate = rate
        self._stream_channels = channels
        if rate != self.sample_rate or channels != self.channels:
            self._resampler = Resampler(rate, channels, in_rate=self.sample_rate)
            with self._lock:
                self._prebuffer = round(rate * self._prebuffer / self.sample_rate)
                self._max = round(rate * self._max / self.sample_rate)
                self._fade = max(1, round(rate * self._fade / self.sample_rate))
        self._stream = stream

    def add_tap(self, tap: Callable[[np.ndarray, int], None]) -> None:
        """Call ``tap(block, rate)`` from the audio thread with every block played (it must not block)."""
        self._taps.append(tap)

    def stop(self) -> None:
        """Close the device stream at once (queued audio is dropped)."""
        if self._stopped:
            return
        self._stopped = True
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception:
                log.exception("closing the speaker stream failed")
        with self._lock:
            self._chunks.clear()
            self._buffered = 0

    close = stop

    # -- writer side (event loop) -------------------------------------------
    @property
    def buffered_samples(self) -> int:
        return self._buffered

    @property
    def buffered_ms(self) -> float:
        rate = self.stream_rate or self.sample_rate
        return 1000.0 * self._buffered / rate

    @property
    def device_latency_ms(self) -> float:
        """PortAudio's output latency: audio handed to the device and not heard yet (0 before the stream opens)."""
        latency = getattr(self._stream, "latency", 0.0)
        return 1000.0 * float(latency) if isinstance(latency, (int, float)) else 0.0

    @property
    def unheard_ms(self) -> float:
        """Written but not heard yet: the queue plus the device's output latency (what a cut leaves unheard)."""
        return self.buffered_ms + self.device_latency_ms

    @property
    def prebuffer_ms(self) -> float:
        rate = self.stream_rate or self.sample_rate
        return 1000.0 * self._prebuffer / rate

    def _observe_write(self, seconds: float) -> None:
        """Time this write against a steady stream; the arrival spread sets the prebuffer."""
        now = self._now()
        if self._anchor is None or now - self._last_write > IDLE_S:
            self._anchor, self._media = now, 0.0
            self._spread.clear()
        self._last_write = now
        self._spread.observe(now - self._anchor - self._media)
        self._media += seconds
        if self.adaptive:
            rate = self.stream_rate or self.sample_rate
            with self._lock:
                self._prebuffer = round(rate * self._spread.target)

    def write(self, frame: np.ndarray) -> None:
        if self._stopped:
            return
        if self._stream is None:
            self.start()
        block = as_frame(frame)
        self._observe_write(block.shape[0] / self.sample_rate)
        if self._resampler is not None:
            block = self._resampler.process(block, self.sample_rate)
        elif block.shape[1] != self._stream_channels:
            block = as_frame(block, self._stream_channels)
        if not block.shape[0]:
            return
        with self._lock:
            self._chunks.append(block)
            self._buffered += block.shape[0]
            while self._buffered > self._max and self._chunks:
                dropped = self._chunks.popleft()
                self._buffered -= dropped.shape[0]
                self.dropped_samples += dropped.shape[0]

    async def wait_ready(self, poll: float = 0.01) -> None:
        """Wait while more than ``target_ms`` is queued: back-pressure for writers faster than real time."""
        self._backpressured = True
        while not self._stopped and self.buffered_ms > self.target_ms:
            await asyncio.sleep(poll)

    async def drain(self, timeout: float = 5.0, poll: float = 0.01) -> None:
        """Wait until everything queued has been played (or ``timeout`` seconds)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._draining = True
        try:
            while not self._stopped and self._stream is not None and self._buffered and loop.time() < deadline:
                await asyncio.sleep(poll)
        finally:
            self._draining = False

    def flush(self) -> None:
        """Barge-in: fade out what is playing within a few ms and drop everything queued."""
        self.flushes += 1
        with self._lock:
            if self._stream is None:
                self._chunks.clear()
                self._buffered = 0
                self._held = self._hold_fade = self._fade_in = False
            else:
                self._fade_pending = True

    @property
    def held(self) -> bool:
        return self._held

    def hold(self) -> None:
        """Local barge-in: fade out within a few ms, then play silence, keeping what is queued and what is written."""
        with self._lock:
            if not self._held:
                self._held = self._hold_fade = True
                self.holds += 1

    def release(self) -> None:
        """End a hold: playback resumes at the sample where it faded out."""
        with self._lock:
            if self._held:
                self._fade_in = not self._hold_fade  # a fade not yet played: nothing was cut
                self._held = self._hold_fade = False

    # -- PortAudio thread -----------------------------------------------------
    def _peek(self, count: int) -> np.ndarray:
        """The first ``count`` queued samples, left queued (lock held)."""
        parts: list[np.ndarray] = []
        for chunk in self._chunks:
            if count <= 0:
                break
            parts.append(chunk[:count])
            count -= parts[-1].shape[0]
        if not parts:
            return np.zeros((0, self._stream_channels), dtype=np.int16)
        return np.concatenate(parts)

    @staticmethod
    def _ramp(block: np.ndarray, down: bool) -> np.ndarray:
        ramp = np.linspace(1.0, 0.0, block.shape[0], endpoint=False, dtype=np.float32)
        if not down:
            ramp = ramp[::-1]
        return (block.astype(np.float32) * ramp.reshape(-1, 1)).astype(np.int16)

    def _take(self, count: int) -> np.ndarray:
        """Up to ``count`` queued samples (lock held)."""
        parts: list[np.ndarray] = []
        need = count
        while need and self._chunks:
            head = self._chunks[0]
            if head.shape[0] <= need:
                parts.append(self._chunks.popleft())
                need -= head.shape[0]
            else:
                parts.append(head[:need])
                self._chunks[0] = head[need:]
                need = 0
        taken = count - need
        self._buffered -= taken
        if not parts:
            return np.zeros((0, self._stream_channels), dtype=np.int16)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _shrink(self, frames: int) -> None:
        """After a burst, drop one block's worth once the queue has stayed a block too deep for a while (lock held)."""
        if not self.adaptive or self._backpressured or self._buffered <= self._prebuffer + 2 * frames:
            self._over = 0
            return
        self._over += 1
        if self._over >= SHRINK_EVERY:
            self._over = 0
            dropped = self._take(min(frames, self._buffered - self._prebuffer - frames))
            self.skipped_samples += dropped.shape[0]

    def _callback(self, outdata: np.ndarray, frames: int, time: Any, status: Any) -> None:
        self._fill(outdata, frames)
        for tap in self._taps:
            try:
                tap(outdata, self.stream_rate or self.sample_rate)
            except Exception:  # a tap must never take the audio thread down
                log.exception("a speaker tap failed")

    def _fill(self, outdata: np.ndarray, frames: int) -> None:
        with self._lock:
            if self._fade_pending:
                self._fade_pending = False
                silent = self._held and not self._hold_fade  # a hold has already faded it out
                tail = self._take(0 if silent else min(self._fade, frames))
                self._chunks.clear()
                self._buffered = 0
                self._priming = True
                self._held = self._hold_fade = self._fade_in = False
                outdata[:] = 0
                outdata[: tail.shape[0]] = self._ramp(tail, down=True)
                return
            if self._held:
                outdata[:] = 0
                if self._hold_fade:
                    self._hold_fade = False
                    tail = self._peek(min(self._fade, frames))  # left queued: a release plays it again
                    outdata[: tail.shape[0]] = self._ramp(tail, down=True)
                return
            if self._priming and self._buffered < self._prebuffer and not self._draining:
                # wait for the prebuffer, but never hold a short tail back for more than two blocks
                if self._buffered:
                    self._primed_waits += 1
                if self._primed_waits <= 2:
                    outdata[:] = 0
                    return
            self._priming = False
            self._primed_waits = 0
            self._shrink(frames)
            block = self._take(frames)
            if self._fade_in and block.shape[0]:
                self._fade_in = False
                block = np.concatenate([self._ramp(block[: self._fade], down=False), block[self._fade :]])
        got = block.shape[0]
        outdata[:got] = block
        if got < frames:
            outdata[got:] = 0
            self.underruns += 1
            with self._lock:
                self._priming = True
        self.samples_played += got
