"""The caller's microphone: what it was told to say, else silence (and background noise), in 20 ms frames.

It replaces the flow's microphone (``RunOptions.input_source``) and is paced
in real time like one, so the conversation hears a person who speaks, falls
silent and speaks again. The caller (:mod:`flow.scenarios.caller`) queues
utterances with :meth:`CallerSource.say` and waits on them; each utterance
learns the clock time of its first and last sample as they are handed out.
"""

from __future__ import annotations

import asyncio
import collections
from dataclasses import dataclass, field

import numpy as np

from audio.base.clock import Clock
from audio.io import PacedSource
from flow.scenarios.disturbances import NoiseBed, to_int16


@dataclass
class Utterance:
    """One thing said; ``start_at``/``end_at``: clock times of its first and last sample as they are handed out.

    ``start``/``end``: (frame index, samples into that frame) of the same two
    moments, so the times they were *sent* can be found later
    (:meth:`~flow.scenarios.caller.Caller.sent_frame`).
    """

    audio: np.ndarray
    label: str = ""
    start_at: float | None = None
    end_at: float | None = None
    start: tuple[int, int] | None = None
    end: tuple[int, int] | None = None
    offset: int = 0  # samples of it handed out so far
    started: asyncio.Event = field(default_factory=asyncio.Event)
    finished: asyncio.Event = field(default_factory=asyncio.Event)


HANDED_KEPT = 500  # hand-out times remembered (10 s of frames): how far behind the sending may run


class CallerSource(PacedSource):
    """Mono int16 frames at ``sample_rate``; ``keep=True`` also keeps everything it sent (:meth:`sent`)."""

    def __init__(self, sample_rate: int, *, clock: Clock, noise: NoiseBed | None = None, realtime: bool = True,
                 keep: bool = False) -> None:
        super().__init__(sample_rate, 1, realtime=realtime, clock=clock)
        self._noise = noise
        self._queue: collections.deque[Utterance] = collections.deque()
        self._hung_up = False
        self._keep = keep
        self._sent: list[np.ndarray] = []
        self.position = 0  # samples handed out
        self.frames_out = 0  # frames handed out
        self.handed: collections.deque[tuple[int, float]] = collections.deque(maxlen=HANDED_KEPT)  # (frame, clock time)

    def say(self, audio: np.ndarray, label: str = "") -> Utterance:
        """Queue ``audio`` to be said after whatever is queued already."""
        utterance = Utterance(np.asarray(audio, dtype=np.int16).reshape(-1), label)
        if not len(utterance.audio):
            utterance.started.set()
            utterance.finished.set()
        else:
            self._queue.append(utterance)
        return utterance

    def handed_at(self, frame: int) -> float | None:
        """The clock time frame number ``frame`` was handed out (None: not yet, or too long ago)."""
        if self.handed and self.handed[0][0] <= frame <= self.handed[-1][0]:
            return self.handed[frame - self.handed[0][0]][1]
        return None

    @property
    def speaking(self) -> bool:
        return bool(self._queue)

    def hang_up(self) -> None:
        """End the caller's audio: the next read returns None (the conversation's input has ended)."""
        self._hung_up = True

    def sent(self) -> np.ndarray:
        """Everything handed out so far (``keep=True`` only)."""
        return np.concatenate(self._sent) if self._sent else np.zeros(0, dtype=np.int16)

    def stop(self) -> None:
        super().stop()
        for utterance in self._queue:
            utterance.started.set()
            utterance.finished.set()

    def _next_frame(self) -> np.ndarray | None:
        if self._hung_up:
            return None
        size = self.frame_samples
        frame = np.zeros(size, dtype=np.float64)
        filled = 0
        now = self.clock.monotonic()
        while filled < size and self._queue:
            utterance = self._queue[0]
            if utterance.offset == 0:
                utterance.start_at = now + filled / self.sample_rate
                utterance.start = (self.frames_out, filled)
                utterance.started.set()
            piece = utterance.audio[utterance.offset:utterance.offset + size - filled]
            frame[filled:filled + len(piece)] = piece
            filled += len(piece)
            utterance.offset += len(piece)
            if utterance.offset >= len(utterance.audio):
                utterance.end_at = now + filled / self.sample_rate
                utterance.end = (self.frames_out, filled)
                utterance.finished.set()
                self._queue.popleft()
        if self._noise is not None:
            frame += self._noise.take(size)
        out = to_int16(frame)
        self.handed.append((self.frames_out, now))
        self.frames_out += 1
        self.position += size
        if self._keep:
            self._sent.append(out)
        return out.reshape(-1, 1)
