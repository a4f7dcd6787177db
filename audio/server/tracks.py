"""The reply's outgoing audio: an aiortc track paced to the wall clock.

aiortc calls ``recv()`` back to back, so the track sleeps until each 20 ms
frame is due (``pts`` = running sample count). Audio is queued as *segments*
tagged with a response id; the track reports when a segment's first sample
goes out (``output_audio_buffer.started``) and when its last one did
(``stopped``); ``clear()`` drops everything queued at once. The queue holds at
most ``max_seconds`` of audio; ``live`` segments (echo-audio) keep at most
``live_backlog_ms`` so mirrored audio never lags behind.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any

import av
import numpy as np
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from audio.dsp.formats import av_frame_from_pcm, to_channels
from audio.dsp.frames import frame_samples

SegmentCallback = Callable[[str], None]


class _Segment:
    __slots__ = ("tag", "chunks", "started", "closed", "live")

    def __init__(self, tag: str, live: bool) -> None:
        self.tag = tag
        self.chunks: collections.deque[np.ndarray] = collections.deque()
        self.started = False
        self.closed = False  # no more audio will be added
        self.live = live

    def queued(self) -> int:
        return sum(len(chunk) for chunk in self.chunks)


class ReplyAudioTrack(MediaStreamTrack):
    """Mono int16 audio at ``sample_rate``, silence between segments."""

    kind = "audio"
    paced = True  # the responder keeps the queue short: a barge-in cuts the reply here

    def __init__(
        self, sample_rate: int = 48_000, *, on_started: SegmentCallback | None = None,
        on_stopped: SegmentCallback | None = None, max_seconds: float = 120.0, live_backlog_ms: int = 60,
    ) -> None:
        super().__init__()
        self.sample_rate = sample_rate
        self._frame = frame_samples(sample_rate)
        self._segments: collections.deque[_Segment] = collections.deque()
        self._on_started = on_started
        self._on_stopped = on_stopped
        self._max_samples = int(max_seconds * sample_rate)
        self._live_backlog = live_backlog_ms * sample_rate // 1000
        self._start: float | None = None
        self._pts = 0
        self.frames_sent = 0

    # -- producer side (event loop) -------------------------------------------------
    def begin(self, tag: str, *, live: bool = False, ids: dict[str, Any] | None = None) -> None:
        """Open a segment (``ids`` is for event-carried audio; the track needs only the tag)."""
        self._segments.append(_Segment(tag, live))

    def push(self, tag: str, samples: np.ndarray) -> None:
        segment = self._find(tag)
        if segment is None or segment.closed or len(samples) == 0:
            return
        segment.chunks.append(np.ascontiguousarray(samples, dtype=np.int16).reshape(-1))
        if segment.live:
            while segment.queued() > self._live_backlog and len(segment.chunks) > 1:
                segment.chunks.popleft()
        else:
            while self.queued_samples() > self._max_samples and len(segment.chunks) > 1:
                segment.chunks.pop()

    def end(self, tag: str) -> None:
        """No more audio for ``tag``: ``on_stopped`` fires once what is queued has played."""
        segment = self._find(tag)
        if segment is not None:
            segment.closed = True

    def clear(self) -> list[str]:
        """Drop every queued sample; the tags of segments that were playing or pending."""
        dropped = [segment.tag for segment in self._segments if not segment.live]
        self._segments = collections.deque(segment for segment in self._segments if segment.live)
        for segment in self._segments:
            segment.chunks.clear()
        return dropped

    def queued_samples(self, tag: str | None = None) -> int:
        return sum(s.queued() for s in self._segments if tag is None or s.tag == tag)

    def playing(self, tag: str) -> bool:
        return self._find(tag) is not None

    def _find(self, tag: str) -> _Segment | None:
        for segment in self._segments:
            if segment.tag == tag:
                return segment
        return None

    # -- consumer side (aiortc's sender) --------------------------------------------
    def _take(self) -> np.ndarray:
        out = np.zeros(self._frame, dtype=np.int16)
        filled = 0
        while filled < self._frame and self._segments:
            segment = self._segments[0]
            if not segment.chunks:
                if segment.closed:
                    self._segments.popleft()
                    if segment.started and self._on_stopped is not None:
                        self._on_stopped(segment.tag)
                    continue
                break  # waiting for more audio from the producer: pad with silence
            if not segment.started:
                segment.started = True
                if self._on_started is not None:
                    self._on_started(segment.tag)
            chunk = segment.chunks[0]
            n = min(len(chunk), self._frame - filled)
            out[filled:filled + n] = chunk[:n]
            filled += n
            if n == len(chunk):
                segment.chunks.popleft()
            else:
                segment.chunks[0] = chunk[n:]
        return out

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        now = time.monotonic()
        if self._start is None:
            self._start = now
        else:
            due = self._start + self._pts / self.sample_rate
            if due - now > 0:
                await asyncio.sleep(due - now)
            elif now - due > 0.2:  # the loop stalled: restart the timeline instead of bursting
                self._start = now - self._pts / self.sample_rate
        samples = self._take()
        # stereo (the channel copied): aiortc's Opus encoder upmixes mono with FFmpeg's -3 dB pan law
        frame = av_frame_from_pcm(to_channels(samples, 2), self.sample_rate)
        frame.pts = self._pts
        frame.time_base = Fraction(1, self.sample_rate)
        self._pts += self._frame
        self.frames_sent += 1
        return frame
