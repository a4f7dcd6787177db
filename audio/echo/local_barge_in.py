"""Local barge-in: silence the speaker as soon as the cleaned microphone hears the person, before the service does.

With echo cancellation the service's VAD hears the person over the assistant,
but its ``speech_started`` comes back only after AEC3's first ~60 ms, Opus,
the service's jitter buffer and its own detector (measured 0.14-0.58 s, once
1.1 s). Here Silero (``audio.speech.speech_probability``, the local server's scorer
too; ~0.1 ms per 32 ms window) runs on the canceller's output on the event
loop, right where the microphone hands it over. While the assistant is audible, :data:`WINDOWS` windows in a row at
or over the session's VAD threshold *hold* the playback pipe (the speaker
fades out and plays silence, keeping its audio). The service's barge-in
(``speech_started`` flushes the pipe) confirms the hold; without it within
:data:`HOLD_SECONDS` the hold is released and the reply resumes where it
stopped, so a false detection costs a pause, never reply audio. While the
person is still talking the hold waits on (up to :data:`MAX_HOLD_SECONDS`):
the speaker plays nothing then, so what is heard is not its echo, and a slow
service (a loaded machine, a long network path) should not let the reply
resume over them for a moment before it is flushed.
"""

from __future__ import annotations

import asyncio
import logging
import time as _time
from collections.abc import Callable
from typing import Protocol

import numpy as np

from audio.speech.speech_probability import MODELS, SileroScorer, SpeechScorer

log = logging.getLogger(__name__)

WINDOWS = 2
"""Speech windows in a row (32 ms each) before holding: one alone is too often a leak of the echo."""
HOLD_SECONDS = 1.0
"""How long a hold waits for the service's ``speech_started`` before playback resumes, once nobody talks."""
QUIET_SECONDS = 0.5
"""No speech this long ends "still talking": longer than the pauses between a person's words."""
MAX_HOLD_SECONDS = 3.0
"""The longest a hold waits, even while speech goes on: past it the service is taken not to have heard a person."""
AUDIBLE_SECONDS = 0.3
"""The assistant counts as audible this long after the speaker last played an audible block (pauses between words)."""
AUDIBLE_POWER = (10 ** (-50 / 20) * 32768) ** 2
"""Mean square of a -50 dBFS int16 block: anything quieter played is not the assistant talking."""


class PlaybackPipe(Protocol):
    """What is held: the assistant's playback pipe (:class:`~audio.dsp.pipe.AudioPipe`)."""

    def hold(self) -> None: ...

    def release(self) -> None: ...

    def add_flush_listener(self, callback: Callable[[], None]) -> Callable[[], None]: ...


class LocalBargeIn:
    """Holds ``pipe`` on sustained speech in the cleaned microphone while the assistant is audible.

    :meth:`played` is a playback tap (the speaker's audio thread: it only stores
    a time); :meth:`heard` takes each cleaned microphone block on the event loop.
    ``scorer`` builds the speech scorer for a sample rate; ``now`` is the clock.
    """

    def __init__(
        self,
        pipe: PlaybackPipe,
        threshold: float = 0.5,
        *,
        scorer: Callable[[int], SpeechScorer] = SileroScorer,
        now: Callable[[], float] = _time.monotonic,
        hold_seconds: float = HOLD_SECONDS,
        max_hold_seconds: float = MAX_HOLD_SECONDS,
    ) -> None:
        self._pipe = pipe
        self.threshold = threshold
        self._make_scorer = scorer
        self._now = now
        self.hold_seconds = hold_seconds
        self.max_hold_seconds = max_hold_seconds
        self._scorer: SpeechScorer | None = None
        self._rate: int | None = None
        self._audible_at = float("-inf")
        self._run = 0
        self._armed = True  # a new hold needs a quiet window after the last one
        self.held_at: float | None = None
        self._speech_at = float("-inf")  # the last window at or over the threshold
        self.holds = 0
        self.confirmed = 0
        self.released = 0
        self._unlisten = pipe.add_flush_listener(self._flushed)

    def warm_up(self) -> None:
        """Load Silero's model off the event loop ahead of the first block (~100 ms), when a loop runs."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        loop.run_in_executor(None, MODELS.warm_up, 16_000)

    @property
    def held(self) -> bool:
        return self.held_at is not None

    @property
    def audible(self) -> bool:
        """The speaker played the assistant within :data:`AUDIBLE_SECONDS`."""
        return self._now() - self._audible_at <= AUDIBLE_SECONDS

    def played(self, block: np.ndarray, rate: int) -> None:
        """A playback tap: every block the speaker hands its device (any thread)."""
        if block.size and float(np.mean(np.square(block, dtype=np.float64))) > AUDIBLE_POWER:
            self._audible_at = self._now()

    def heard(self, block: np.ndarray, rate: int) -> None:
        """A cleaned microphone block (mono int16, any length) on the event loop."""
        if self._scorer is None or self._rate != rate:
            self._scorer, self._rate = self._make_scorer(rate), rate
        for score in self._scorer.feed(block):
            self._window(score)
        if self.held_at is not None and self._unconfirmed():
            held_at, self.held_at = self.held_at, None
            self.released += 1
            self._armed = False
            log.info("local barge-in released: the service heard no speech in %.1f s", self._now() - held_at)
            self._pipe.release()

    def _unconfirmed(self) -> bool:
        """The hold has waited long enough: :data:`HOLD_SECONDS` and a :data:`QUIET_SECONDS` pause, or the maximum."""
        assert self.held_at is not None
        now = self._now()
        quiet = now - self._speech_at >= QUIET_SECONDS
        return (now - self.held_at >= self.hold_seconds and quiet) or now - self.held_at >= self.max_hold_seconds

    def _window(self, score: float) -> None:
        if score < self.threshold:
            self._run = 0
            self._armed = True
            return
        self._speech_at = self._now()
        self._run += 1
        if self._run >= WINDOWS and self._armed and self.held_at is None and self.audible:
            self.held_at = self._now()
            self.holds += 1
            self._armed = False
            self._pipe.hold()

    def _flushed(self) -> None:
        """The pipe was flushed (the service's ``speech_started``, or a typed barge-in): playback is over."""
        self._audible_at = float("-inf")
        self._armed = False  # whoever is talking has been heard: the next hold waits for a pause
        if self.held_at is not None:
            self.held_at = None
            self.confirmed += 1

    def close(self) -> None:
        self._unlisten()
        if self.held_at is not None:
            self.held_at = None
            self._pipe.release()
