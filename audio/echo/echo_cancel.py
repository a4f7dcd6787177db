"""Acoustic echo cancellation: remove what the speaker played from what the microphone hears.

On open speakers the microphone picks up the assistant's own voice; the
service's VAD takes it for the user and the assistant interrupts itself. The
echo guard (``audio/echo/echo_guard.py``) avoids that by muting the
microphone, which also stops the user from interrupting. This module cancels
the echo instead, with WebRTC's audio processing (AEC3, high-pass, optional
noise suppression) from ``livekit``'s ``rtc.AudioProcessingModule``, measured
here at ~36 dB of echo removed for 8 ms CPU per audio second (speexdsp managed
14-20 dB and lost track after a delay change).

* :class:`EchoProcessor` is the small protocol the canceller drives: 10 ms
  int16 mono frames, far end (what was played) and near end (what was heard).
  :class:`ApmProcessor` is the real one; tests and ``voxflow echo-cancel`` use
  the same class.
* :class:`EchoCanceller` joins a speaker and a microphone: the speaker calls
  :meth:`~EchoCanceller.note_played` from its audio thread with exactly the
  block it hands the device (after resampling and the playout buffer); the
  microphone calls :meth:`~EchoCanceller.process` with each captured block.
  The far end is queued under a lock and fed to the processor on the caller's
  thread just before the near end, so the processor is only ever used from
  one thread and always sees a frame before its echo.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from audio.base.errors import VoxflowError
from audio.dsp.formats import Resampler, as_frame, to_mono

APM_RATES = (16_000, 32_000, 48_000)
PROCESS_RATE = 48_000
"""The canceller's rate: the microphone's usual one (other rates are converted down and back up).
Measured in the simulated room, 16 kHz let a person talking over the assistant through AEC3's
suppressor sooner offline but not in the live loop, and costs two more resamplers: 48 kHz it is."""
INSTALL_HINT = "pip install livekit"
MISSING_NOTICE = f"echo cancellation needs the livekit package ({INSTALL_HINT}); using the echo guard"
FAR_QUEUE_SECONDS = 2.0
"""At most this much played audio waits for the microphone; older audio is dropped (the mic stalled)."""
AUDIBLE_POWER = (10 ** (-55 / 20) * 32768) ** 2
"""Mean square of a -55 dBFS int16 signal: quieter far-end audio leaves the echo estimate alone."""
CONVERGE_SECONDS = 3.0
"""WebRTC's AEC3 stays in a cautious initial state for its first 2.5 s of echo and leaks some of it
meanwhile (measured: when it first locks onto the echo delay, ~1 s into the first reply, up to
-23 dBFS leaks for ~0.3 s, which starts the service's VAD); until this much audible far end has been
processed, :attr:`EchoCanceller.converged` is False and the :class:`ConvergenceGate` covers it."""


class EchoProcessor(Protocol):
    """A 10 ms frame echo canceller (``sample_rate`` one of 16/32/48 kHz, int16 mono)."""

    sample_rate: int

    def process_far(self, frame: np.ndarray) -> None:
        """A frame that was played (the reference)."""

    def process_near(self, frame: np.ndarray) -> np.ndarray:
        """A captured frame, returned with the echo removed."""


def apm_available() -> bool:
    """Whether livekit's audio processing can be imported (without importing it twice)."""
    import importlib.util

    try:
        return importlib.util.find_spec("livekit.rtc") is not None
    except ModuleNotFoundError:
        return False


class ApmProcessor:
    """WebRTC's audio processing module via ``livekit.rtc`` (imported here: a large native module)."""

    def __init__(self, sample_rate: int = 48_000, *, noise_suppression: bool = False, stream_delay_ms: int = 0) -> None:
        if sample_rate not in APM_RATES:
            raise VoxflowError(
                f"echo cancellation works at 16, 32 or 48 kHz, not {sample_rate} Hz",
                hint="Set the microphone's sample_rate to 48000.",
            )
        try:
            from livekit import rtc
        except ImportError:
            raise VoxflowError("echo cancellation needs the livekit package", hint=f"Install it: {INSTALL_HINT}") from None
        self._rtc = rtc
        self.sample_rate = sample_rate
        self.samples = sample_rate // 100
        self.noise_suppression = noise_suppression
        # automatic gain control stays off: it turns the residual echo up (27 dB removed instead of 36)
        self._apm = rtc.AudioProcessingModule(
            echo_cancellation=True, high_pass_filter=True, noise_suppression=noise_suppression
        )
        self._apm.set_stream_delay_ms(stream_delay_ms)

    def _frame(self, frame: np.ndarray) -> Any:
        data = np.ascontiguousarray(frame, dtype=np.int16).reshape(-1)
        if data.shape[0] != self.samples:
            raise ValueError(f"APM frames are 10 ms ({self.samples} samples), got {data.shape[0]}")
        return self._rtc.AudioFrame(bytearray(data.tobytes()), self.sample_rate, 1, self.samples)

    def process_far(self, frame: np.ndarray) -> None:
        self._apm.process_reverse_stream(self._frame(frame))

    def process_near(self, frame: np.ndarray) -> np.ndarray:
        audio = self._frame(frame)
        self._apm.process_stream(audio)
        return np.frombuffer(audio.data, dtype=np.int16).reshape(-1, 1).copy()


class _TenMs:
    """Re-cuts mono int16 blocks of any length into 10 ms frames."""

    def __init__(self, samples: int) -> None:
        self.samples = samples
        self._held = np.zeros(0, dtype=np.int16)

    def push(self, mono: np.ndarray) -> list[np.ndarray]:
        data = np.concatenate([self._held, mono.reshape(-1)]) if self._held.size else mono.reshape(-1)
        count = data.shape[0] // self.samples
        self._held = data[count * self.samples :].copy()
        return [data[i * self.samples : (i + 1) * self.samples] for i in range(count)]


def _power(frame: np.ndarray) -> float:
    """Mean square of an int16 frame (a dot product: the meter runs 200 times a second)."""
    samples = frame.reshape(-1).astype(np.float32)
    return float(samples @ samples) / max(1, samples.shape[0])


class ErleMeter:
    """Echo return loss enhancement: how much quieter the microphone got, while the far end was playing.

    Powers are averaged with a ~1 s exponential window over frames whose far end
    (the last ``hold`` frames) was audible; during double talk the user's voice
    counts as residual, so it reads low then (an estimate, as in WebRTC's stats).
    """

    def __init__(self, *, smoothing: float = 0.01, hold: int = 30) -> None:
        self.smoothing = smoothing
        self.hold = hold
        self._since_far = hold + 1
        self._near = 0.0
        self._out = 0.0
        self.frames = 0
        self.far_frames = 0
        """10 ms far-end frames that were audible."""

    def far(self, frame: np.ndarray) -> None:
        power = _power(frame)
        audible = power > AUDIBLE_POWER
        self._since_far = 0 if audible else self._since_far + 1
        self.far_frames += audible

    def near(self, before: np.ndarray, after: np.ndarray) -> None:
        if self._since_far > self.hold:
            return
        a = self.smoothing if self.frames else 1.0
        self._near += a * (_power(before) - self._near)
        self._out += a * (_power(after) - self._out)
        self.frames += 1

    @property
    def erle_db(self) -> float | None:
        if self.frames < 10 or self._near <= 0:
            return None
        return float(10 * np.log10(self._near / max(self._out, 1.0)))


def _level_db(frame: np.ndarray) -> float:
    """dBFS of an int16 frame (-100 for digital silence)."""
    return float(10 * np.log10(_power(frame) / 32768.0**2 + 1e-10))


class ConvergenceGate:
    """While AEC3 converges, lets through only what is louder than the echo could be: a double-talk gate.

    The far end is known before its echo arrives, so the echo's level in each
    10 ms microphone frame can be predicted from it: the loudest far-end frame
    around the echo delay, plus the speaker-to-microphone coupling. Both are
    learned from the raw microphone (the level envelopes' best-correlated lag,
    and the 90th percentile of microphone minus far end at that lag); until they
    are, the prediction is the loudest far end of the last ``max_lag`` frames at
    ``default_coupling_db``. A cleaned frame passes when it is louder than the
    prediction plus ``margin_db`` (a person talking over the reply), then for
    ``hangover`` frames (the quieter ends of their words); otherwise it becomes
    silence. While the far end is quiet everything passes.

    The margin, measured in the simulated room (30-130 ms delays, fresh eSpeak
    renders): AEC3's leak sometimes passes the whole echo for ~0.3 s, up to
    4 dB under the prediction; with -6 dB and a 0.2 s hangover the local
    server's VAD still started on it in 5 of 48 rooms, with -3 dB and 0.1 s in
    none of 148. A person at the echo's level still gets through in most
    frames (barge-in over the first reply: median ~0.5 s). Not thread-safe:
    the canceller's thread only.
    """

    def __init__(
        self,
        *,
        margin_db: float = -3.0,
        hangover: int = 10,
        max_lag: int = 50,
        spread: int = 10,
        default_coupling_db: float = 0.0,
        history: int = 300,
        audible_db: float = -60.0,
    ) -> None:
        self.margin_db = margin_db
        self.hangover = hangover
        self.max_lag = max_lag
        self.spread = spread
        self.default_coupling_db = default_coupling_db
        self.audible_db = audible_db
        self.lag: int | None = None
        """Frames from a far-end frame to its echo in the microphone (None until learned)."""
        self.coupling_db: float | None = None
        self._far: deque[float] = deque(maxlen=history)
        self._far_count = 0
        self._raw: deque[float] = deque(maxlen=history)
        self._near_count = 0
        self._open = 0
        self.frames_muted = 0
        self.frames_passed = 0

    def far(self, frame: np.ndarray) -> None:
        self._far.append(_level_db(frame))
        self._far_count += 1

    def _far_at(self, index: int) -> float | None:
        offset = index - (self._far_count - len(self._far))
        return self._far[offset] if 0 <= offset < len(self._far) else None

    def predicted_db(self) -> float | None:
        """The loudest echo expected in the current microphone frame (None: the far end is quiet)."""
        now = self._near_count
        if self.lag is None or self.coupling_db is None:
            lo, hi, coupling = now - self.max_lag, now, self.default_coupling_db
        else:
            lo, hi, coupling = now - self.lag - self.spread, now - self.lag + 1, self.coupling_db
        levels = [level for i in range(lo, hi + 1) if (level := self._far_at(i)) is not None]
        loudest = max(levels, default=-100.0)
        return None if loudest <= self.audible_db else loudest + coupling

    def _learn(self) -> None:
        """The lag whose far-end levels best correlate with the raw microphone's (all lags at once), and the coupling."""
        raw = np.array(self._raw)
        count = raw.shape[0]
        first = self._near_count - count  # the far end's index of the oldest raw frame, at lag 0
        start = first - self.max_lag
        kept = self._far_count - len(self._far)
        far_all = np.full(self.max_lag + count, -100.0)
        lo, hi = max(start, kept), min(first + count, self._far_count)
        if lo < hi:
            far_all[lo - start : hi - start] = np.array(self._far)[lo - kept : hi - kept]
        # row ``lag``: the far-end level ``lag`` frames before each raw frame
        rows = np.lib.stride_tricks.sliding_window_view(far_all, count)[::-1]
        weights = (rows > self.audible_db).astype(np.float64)
        n = weights.sum(axis=1)
        usable = n >= 50
        if not usable.any():
            return
        n = np.maximum(n, 1.0)
        mean_far = (weights * rows).sum(axis=1) / n
        mean_raw = (weights * raw).sum(axis=1) / n
        d_far = rows - mean_far[:, None]
        d_raw = raw[None, :] - mean_raw[:, None]
        cov = (weights * d_far * d_raw).sum(axis=1)
        spread = np.sqrt((weights * d_far**2).sum(axis=1) * (weights * d_raw**2).sum(axis=1))
        score = np.where(usable & (spread > 0), cov / np.maximum(spread, 1e-12), -1.0)
        lag = int(np.argmax(score))
        if score[lag] >= 0.5:
            self.lag = lag
            audible = weights[lag] > 0
            self.coupling_db = float(np.percentile(raw[audible] - rows[lag][audible], 90))

    def near(self, raw: np.ndarray, cleaned: np.ndarray) -> bool:
        """Whether ``cleaned`` (the canceller's output for the microphone frame ``raw``) is sent."""
        self._raw.append(_level_db(raw))
        self._near_count += 1
        if self._near_count % 25 == 0:
            self._learn()
        predicted = self.predicted_db()
        if predicted is None:  # the far end is quiet: nothing to leak (and no hangover: the next word may leak)
            self.frames_passed += 1
            return True
        if _level_db(cleaned) > predicted + self.margin_db:
            self._open = self.hangover
        if self._open > 0:
            self._open -= 1
            self.frames_passed += 1
            return True
        self.frames_muted += 1
        return False


class EchoCanceller:
    """Joins a speaker (far end, any thread) and a microphone (near end, one thread); see the module docstring.

    Until it has :attr:`converged`, its output goes through a :class:`ConvergenceGate`
    (``gate=False``: not), so the person can talk over the assistant from its first
    word while what the converging AEC3 leaks is muted.

    ``processor`` is built lazily from ``factory`` at ``rate`` (default
    :data:`PROCESS_RATE`) on the first near-end block, so construction never
    imports livekit. Both ends are converted to that rate with the project's
    resampler; the cleaned microphone goes back to its own rate.
    """

    def __init__(
        self,
        factory: Callable[[int], EchoProcessor] | None = None,
        *,
        noise_suppression: bool = False,
        rate: int = PROCESS_RATE,
        gate: bool = True,
    ) -> None:
        self._factory = factory or (lambda rate: ApmProcessor(rate, noise_suppression=noise_suppression))
        self.rate = rate
        self.gate: ConvergenceGate | None = ConvergenceGate() if gate else None
        """Mutes what leaks through while the canceller converges (None: everything passes)."""
        self._near_rate: int | None = None
        self._down: Resampler | None = None
        self._up: Resampler | None = None
        self.processor: EchoProcessor | None = None
        self.meter = ErleMeter()
        self.speakers = 0
        """How many speakers feed a reference (0: nothing is cancelled)."""
        self.on_reference: Callable[[], None] | None = None
        """Called once, on the event loop, when the first speaker attaches."""
        self.on_converged: Callable[[], None] | None = None
        """Called once, on the microphone's thread, when :attr:`converged` becomes True."""
        self._converged = False
        self.frames_processed = 0
        self.far_dropped = 0
        self._lock = threading.Lock()
        self._far: deque[tuple[np.ndarray, int]] = deque()
        self._far_samples = 0.0  # in seconds
        self._far_resampler: Resampler | None = None
        self._far_cut: _TenMs | None = None
        self._near_cut: _TenMs | None = None

    @property
    def active(self) -> bool:
        """A speaker feeds the reference, so the microphone is being cleaned."""
        return self.speakers > 0

    @property
    def converged(self) -> bool:
        """Past the canceller's initial state (:data:`CONVERGE_SECONDS` of audible far end processed)."""
        return self._converged

    @property
    def erle_db(self) -> float | None:
        """The live estimate of the echo removed, in dB (None until the far end has played)."""
        return self.meter.erle_db

    def attach_speaker(self) -> None:
        """A speaker will call :meth:`note_played` from now on."""
        self.speakers += 1
        if self.speakers == 1 and self.on_reference is not None:
            self.on_reference()

    # -- far end (speaker's audio thread) -------------------------------------
    def note_played(self, block: np.ndarray, rate: int) -> None:
        """Exactly what the speaker hands the device (int16, ``(samples, channels)``), silence included."""
        copy = np.array(as_frame(block), copy=True)
        with self._lock:
            self._far.append((copy, rate))
            self._far_samples += copy.shape[0] / rate
            while self._far_samples > FAR_QUEUE_SECONDS and len(self._far) > 1:
                old, old_rate = self._far.popleft()
                self._far_samples -= old.shape[0] / old_rate
                self.far_dropped += 1

    def _feed_far(self, processor: EchoProcessor) -> None:
        with self._lock:
            pending = list(self._far)
            self._far.clear()
            self._far_samples = 0.0
        assert self._far_cut is not None
        for block, rate in pending:
            mono = to_mono(block)
            if rate != processor.sample_rate:
                if self._far_resampler is None:
                    self._far_resampler = Resampler(processor.sample_rate, 1, in_rate=rate)
                mono = self._far_resampler.process(mono, rate)
            for frame in self._far_cut.push(mono):
                processor.process_far(frame)
                self.meter.far(frame)
                if self.gate is not None and not self._converged:
                    self.gate.far(frame)

    # -- near end (the microphone's thread) ------------------------------------
    def process(self, block: np.ndarray, rate: int) -> np.ndarray:
        """The captured block (mono int16 at ``rate``) with the echo removed.

        Up to 10 ms (plus the resamplers' few samples) is held back until the
        next block completes a frame, so the output length can differ a little
        from the input's; callers re-cut it into their own frames.
        """
        if not self.active:
            return block
        processor = self.processor
        if processor is None:
            processor = self.processor = self._factory(self.rate)
            self._far_cut = _TenMs(processor.sample_rate // 100)
            self._near_cut = _TenMs(processor.sample_rate // 100)
        self._feed_far(processor)
        assert self._near_cut is not None
        mono = to_mono(as_frame(block))
        if rate != processor.sample_rate:
            if self._near_rate != rate:
                self._near_rate = rate
                self._down = Resampler(processor.sample_rate, 1, in_rate=rate)
                self._up = Resampler(rate, 1, in_rate=processor.sample_rate)
            assert self._down is not None
            mono = self._down.process(mono, rate)
        out = []
        for frame in self._near_cut.push(mono):
            cleaned = processor.process_near(frame)
            self.meter.near(frame, cleaned)
            if self.gate is not None and not self._converged and not self.gate.near(frame, cleaned):
                cleaned = np.zeros_like(cleaned)
            out.append(cleaned.reshape(-1, 1))
            self.frames_processed += 1
        cleaned_block = np.concatenate(out) if out else np.zeros((0, 1), dtype=np.int16)
        if rate != processor.sample_rate and self._up is not None:
            cleaned_block = self._up.process(cleaned_block, processor.sample_rate)
        if not self._converged and self.meter.far_frames >= CONVERGE_SECONDS * 100:
            self._converged = True
            if self.on_converged is not None:
                self.on_converged()
        return cleaned_block
