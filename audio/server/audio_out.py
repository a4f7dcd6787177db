"""Where reply audio goes: the WebRTC track, or ``response.output_audio.delta`` events on a WebSocket.

:class:`AudioOut` is what the responder uses of either. Over WebRTC it is the
paced :class:`~audio.server.tracks.ReplyAudioTrack`; over a WebSocket
it is :class:`DeltaAudioOut`, which sends base64 PCM16 chunks as events and
keeps a virtual playhead so "queued" audio (sent but not yet due) drains in
real time: the responder paces both transports the same way, and a cancel or
barge-in lands mid-reply just as it does over WebRTC. The service itself sends
a WebSocket reply faster than real time; ``ServerConfig.websocket_burst`` sends
each reply whole, at once, the worst case a client has to buffer and truncate. The service sends no
``output_audio_buffer.*`` events on a WebSocket (they are marked WebRTC/SIP only
in ``openai.types.realtime.realtime_server_event``), so neither does this.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from audio.server.outbox import EventSink
from audio.server.wire_audio import WireCodec, rate_of


class AudioOut(Protocol):
    paced: bool
    """The responder keeps at most ``LEAD_MS`` queued ahead of playback (False: it sends the reply whole)."""

    @property
    def sample_rate(self) -> int:
        """The rate of the samples ``push`` takes."""
        ...

    def begin(self, tag: str, *, live: bool = False, ids: dict[str, Any] | None = None) -> None:
        """Open a segment of reply audio tagged with its response id (``ids``: the event ids of its part)."""
        ...

    def push(self, tag: str, samples: np.ndarray) -> None: ...

    def end(self, tag: str) -> None: ...

    def clear(self) -> list[str]:
        """Drop what is queued; the tags that were pending."""
        ...

    def queued_samples(self, tag: str | None = None) -> int:
        """Samples handed over but not yet played (what pacing keeps small)."""
        ...


class DeltaAudioOut:
    """Reply audio as ``response.output_audio.delta`` events, base64 in the session's output format
    (PCM16 at 24 kHz, or G.711 at 8 kHz: ``output_format`` is asked at each ``begin``)."""

    def __init__(self, sink: EventSink, output_format: Callable[[], dict[str, Any] | None] = lambda: None,
                 clock: Callable[[], float] = time.monotonic, *, burst: bool = False) -> None:
        self.paced = not burst
        self._sink = sink
        self._output_format = output_format
        self._codec = WireCodec()
        self._formats: dict[str, dict[str, Any] | None] = {}
        self._clock = clock
        self._ids: dict[str, dict[str, Any]] = {}
        self._sent: dict[str, int] = {}
        self._started: dict[str, float] = {}

    @property
    def sample_rate(self) -> int:
        """The rate the next reply must be made at (the session's output format decides)."""
        return rate_of(self._output_format())

    def begin(self, tag: str, *, live: bool = False, ids: dict[str, Any] | None = None) -> None:
        for done in [t for t in self._sent if t not in self._ids and self.queued_samples(t) == 0]:
            del self._sent[done], self._started[done], self._formats[done]  # segments that finished playing
        self._ids[tag] = ids or {}
        self._formats[tag] = self._output_format()
        self._sent[tag] = 0
        self._started[tag] = self._clock()

    def push(self, tag: str, samples: np.ndarray) -> None:
        if tag not in self._ids or len(samples) == 0:
            return
        payload = self._codec.encode(samples, self._formats[tag])
        self._sent[tag] += len(samples)
        self._sink.send("response.output_audio.delta", delta=base64.b64encode(payload).decode("ascii"),
                        **self._ids[tag])

    def end(self, tag: str) -> None:
        self._ids.pop(tag, None)

    def clear(self) -> list[str]:
        dropped = [tag for tag in self._sent if tag in self._ids or self.queued_samples(tag) > 0]
        self._ids.clear()
        self._sent.clear()
        self._started.clear()
        self._formats.clear()
        return dropped

    def playing(self) -> str | None:
        """The latest response whose audio was sent and, at real-time speed, is still playing."""
        for tag in reversed(list(self._sent)):
            if self.queued_samples(tag) > 0:
                return tag
        return None

    def queued_samples(self, tag: str | None = None) -> int:
        now = self._clock()
        tags = [tag] if tag is not None else list(self._sent)
        return sum(max(0, self._sent.get(t, 0) - round((now - self._started.get(t, now)) * rate_of(self._formats.get(t))))
                   for t in tags)
