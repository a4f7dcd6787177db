"""Seeded disturbances of the caller's audio: noise at an SNR, a bad line, a backchannel's moment.

Real callers are messy, and a test that makes them messy must be repeatable:
every random draw here comes from a generator seeded by the run's seed and a
label (``rng(seed, "noise", 2)``), so the same seed gives the same caller
audio, bit for bit, and another seed another. Everything is plain numpy on
int16 mono audio; nothing here waits or talks to a session.

* Noise (white, or a recording looped from a seeded offset) is scaled so the
  speech's level over the noise's is ``snr`` dB. The speech level is measured
  over its loud frames only, so a turn's leading silence does not lower it.
* A bad line sends the audio as 20 ms packets through
  :class:`~audio.transports.Impairment`'s seeded link (loss, jitter) into a
  receiver's :class:`~audio.dsp.AdaptiveJitterBuffer` on simulated time, and
  returns what that receiver plays: lost or late packets become silence,
  pauses shrink when the buffer drains its excess.
"""

from __future__ import annotations

import zlib

import numpy as np

from audio.dsp import AdaptiveJitterBuffer, Conceal, Play
from audio.transports import Impairment

QUIET_DBFS = -50.0  # frames quieter than this are not speech when measuring a level
FULL_SCALE = 32768.0
BACKCHANNEL_WINDOW = (0.3, 0.9)  # seconds into the reply, when a backchannel's moment is left to the seed


def rng(seed: int, *labels: str | int) -> np.random.Generator:
    """A generator for one purpose of one run: the same (seed, labels) always draws the same numbers."""
    words = [seed & 0xFFFFFFFF] + [zlib.crc32(str(label).encode()) for label in labels]
    return np.random.Generator(np.random.PCG64(words))


def speech_rms(pcm: np.ndarray, rate: int) -> float:
    """The RMS (linear, full scale 1.0) of the 20 ms frames louder than ``QUIET_DBFS``; 0 for silence."""
    frame = rate // 50
    usable = pcm[: len(pcm) // frame * frame].astype(np.float64).reshape(-1, frame) / FULL_SCALE
    if not len(usable):
        return 0.0
    levels = np.sqrt(np.mean(usable**2, axis=1))
    loud = levels[20 * np.log10(levels + 1e-12) > QUIET_DBFS]
    return float(np.sqrt(np.mean(loud**2))) if len(loud) else 0.0


def to_int16(signal: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(signal), -32768, 32767).astype(np.int16)


class NoiseBed:
    """An endless noise at a fixed level: white from the seed, or a recording looped from a seeded offset.

    ``take(n)`` hands out the next ``n`` samples (float, in int16 units), so
    the noise runs on continuously however the caller's frames are cut.
    """

    def __init__(self, level_rms: float, generator: np.random.Generator, recording: np.ndarray | None = None) -> None:
        self._generator = generator
        self._level = level_rms * FULL_SCALE
        self._recording: np.ndarray | None = None
        self._position = 0
        if recording is not None and len(recording):
            loop = recording.astype(np.float64)
            own = float(np.sqrt(np.mean((loop / FULL_SCALE) ** 2)))
            self._recording = loop / own / FULL_SCALE if own > 0 else np.zeros_like(loop)
            self._position = int(generator.integers(0, len(loop)))

    def take(self, count: int) -> np.ndarray:
        if self._recording is None:
            return self._generator.standard_normal(count) * self._level
        parts, needed = [], count
        while needed:
            piece = self._recording[self._position:self._position + needed]
            parts.append(piece)
            needed -= len(piece)
            self._position = (self._position + len(piece)) % len(self._recording)
        return np.concatenate(parts) * self._level


def noise_level(speech_level: float, snr_db: float) -> float:
    """The noise RMS that puts ``speech_level`` ``snr_db`` dB above it."""
    return speech_level / (10 ** (snr_db / 20))


def add_noise(pcm: np.ndarray, rate: int, snr_db: float, generator: np.random.Generator,
              recording: np.ndarray | None = None) -> np.ndarray:
    """``pcm`` with noise ``snr_db`` dB below its speech level (white, or ``recording`` looped)."""
    bed = NoiseBed(noise_level(speech_rms(pcm, rate), snr_db), generator, recording)
    return to_int16(pcm.astype(np.float64) + bed.take(len(pcm)))


def through_line(pcm: np.ndarray, rate: int, loss: float, jitter: float, seed: int) -> np.ndarray:
    """What a receiver plays of ``pcm`` sent as 20 ms packets over a lossy, jittery link (seeded)."""
    if loss <= 0 and jitter <= 0:
        return pcm
    frame = rate // 50
    count = -(-len(pcm) // frame)
    padded = np.zeros(count * frame, dtype=np.int16)
    padded[: len(pcm)] = pcm
    frames = padded.reshape(count, frame)
    plan = Impairment(loss=loss, jitter=jitter, seed=seed).plan()
    arrivals = sorted((index * 0.02 + delay, index) for index in range(count)
                      if (delay := plan.delay()) is not None)
    buffer = AdaptiveJitterBuffer(rate, frame)
    played: list[np.ndarray] = []

    def play_until(until: float) -> None:
        while (deadline := buffer.next_deadline()) is not None and deadline < until:
            for item in buffer.pop(deadline):
                if isinstance(item, Play):
                    audio = frames[int.from_bytes(item.packet.payload, "big")]
                    if item.shrink and int(np.abs(audio).max(initial=0)) < 100:
                        buffer.shrunk()  # a pause: the receiver drops it to catch up
                        continue
                    played.append(audio)
                elif isinstance(item, Conceal):
                    played.append(np.zeros(frame, dtype=np.int16))

    for arrival, index in arrivals:
        play_until(arrival)
        buffer.push(index % 65536, (index * frame) % (1 << 32), index.to_bytes(4, "big"), arrival)
    while buffer.buffered:
        deadline = buffer.next_deadline()
        if deadline is None:
            break
        play_until(deadline + 1e-9)
    return np.concatenate(played) if played else np.zeros(0, dtype=np.int16)


def backchannel_moment(seed: int, turn: int) -> float:
    """Seconds into the reply at which a backchannel without ``after`` is said (seeded)."""
    low, high = BACKCHANNEL_WINDOW
    return float(rng(seed, "backchannel", turn).uniform(low, high))
