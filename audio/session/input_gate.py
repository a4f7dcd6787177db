"""The microphone path between the input source and the sending track.

Every input frame passes here before the track queues it: it is metered (the
raw level, so a muted microphone still shows it hears you) and checked by the
echo guard, which turns probable echo into silence. Mute and push-to-talk are
the track's own gate, applied at send time. When the upstream source ends (a
file), this keeps feeding silence so the service's VAD sees the turn end, and
sets :attr:`ended`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

from audio.dsp.frames import AudioSource, frame_samples
from audio.echo.echo_guard import EchoGuard


class InputGate:
    """An :class:`~audio.dsp.frames.AudioSource` wrapping another one with metering and the echo guard."""

    def __init__(
        self,
        source: AudioSource,
        *,
        echo_guard: EchoGuard | None = None,
        on_frame: Callable[[np.ndarray], None] | None = None,
    ) -> None:
        self._source = source
        self.sample_rate = source.sample_rate
        self.channels = source.channels
        self._echo_guard = echo_guard
        self._on_frame = on_frame
        self.ended = asyncio.Event()
        self._stopped = False
        self._silence = np.zeros((frame_samples(self.sample_rate), self.channels), dtype=np.int16)

    async def read(self) -> np.ndarray | None:
        if self._stopped:
            return None
        if self.ended.is_set():
            return self._silence
        frame = await self._source.read()
        if self._stopped:
            return None
        if frame is None:
            self.ended.set()
            return self._silence
        if self._on_frame is not None:
            self._on_frame(frame)
        return frame if self._echo_guard is None else self._echo_guard.process(frame)

    def stop(self) -> None:
        """Stop reading (the upstream source belongs to whoever created it and is not stopped)."""
        self._stopped = True
