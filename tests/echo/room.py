"""A simulated room for echo-cancellation tests: speaker -> impulse response -> microphone.

The assistant's voice (eSpeak from the local server) is played by a
"speaker" that distorts it mildly (soft clipping), convolved with a
synthetic room impulse response (exponentially decaying noise, RT60 ~0.3 s,
plus a direct path), delayed by the speaker-to-microphone latency, and mixed
with a real human recording (LibriVox) and a little microphone noise.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from audio.dsp.formats import Resampler
from audio.dsp.wavfile import WavReader

LIBRIVOX = Path("/usr/share/pocketsphinx/test/data/librivox")
TRANSCRIPTION = LIBRIVOX / "transcription"


def room_impulse_response(rate: int, *, rt60: float = 0.3, drr_db: float = 8.0, seed: int = 7) -> np.ndarray:
    """A direct path plus an exponentially decaying diffuse tail (-60 dB after ``rt60``).

    ``drr_db`` is the direct-to-reverberant energy ratio: +8 dB is a speaker
    ~20 cm from the microphone in a small room (critical distance ~0.5 m).
    """
    rng = np.random.default_rng(seed)
    length = int(rate * rt60 * 1.2)
    t = np.arange(length) / rate
    tail = rng.standard_normal(length) * np.exp(-6.9 * t / rt60)
    tail[: int(0.003 * rate)] = 0.0  # first reflections arrive a few ms after the direct sound
    tail *= np.sqrt(10 ** (-drr_db / 10) / np.sum(tail**2))
    tail[0] = 1.0
    return tail / np.sqrt(np.sum(tail**2)) * 0.5


def speaker_distortion(signal: np.ndarray) -> np.ndarray:
    """A small loudspeaker's mild soft clipping (float in -1..1): unity gain when quiet, -2 dB at -4 dBFS peaks."""
    return np.tanh(1.5 * signal) / 1.5


def resample(pcm: np.ndarray, rate: int, to: int) -> np.ndarray:
    if rate == to:
        return pcm.reshape(-1).astype(np.int16)
    resampler = Resampler(to, 1, in_rate=rate)
    return np.concatenate([resampler.process(pcm.reshape(-1, 1), rate), resampler.flush()]).reshape(-1)


@cache
def librivox(name: str, rate: int) -> np.ndarray:
    """A LibriVox clip (``0880`` ...) as mono int16 at ``rate``."""
    with WavReader(LIBRIVOX / f"sense_and_sensibility_01_austen_64kb-{name}.wav") as reader:
        pcm, file_rate = reader.read_all(), reader.sample_rate
    return resample(pcm[:, 0], file_rate, rate)


def librivox_words(name: str) -> list[str]:
    for line in TRANSCRIPTION.read_text().splitlines():
        if line.endswith(f"-{name})"):
            return line.split("<s>")[1].split("</s>")[0].split()
    raise KeyError(name)


_RENDER_IN_A_FRESH_PROCESS = """
import sys
from audio.speech.engines import Synthesizer
synthesizer = Synthesizer.load()
assert synthesizer is not None, "espeakng-loader is needed for the assistant's voice"
sys.stdout.buffer.write(synthesizer.synthesize(sys.argv[1], "marin", int(sys.argv[2])).tobytes())
"""


@cache
def assistant_voice(text: str, rate: int) -> np.ndarray:
    """``text`` spoken by the local server's synthesiser (eSpeak NG, "marin"), mono int16 at ``rate``.

    The same samples on every run: rendered as the first utterance of a fresh
    process, whose eSpeak is seeded at load. In this process the render would
    depend on what the tests before it synthesised, and AEC3's first
    convergence differs from render to render by several dB (BENCHMARKS.md,
    "Echo cancellation").
    """
    done = subprocess.run(
        [sys.executable, "-c", _RENDER_IN_A_FRESH_PROCESS, text, str(rate)],
        capture_output=True, check=True, timeout=60, cwd=Path(__file__).resolve().parents[2],
    )
    return np.frombuffer(done.stdout, dtype=np.int16).copy()


def assistant_voice_rerendered(text: str, rate: int) -> np.ndarray:
    """``text`` rendered again by this process's eSpeak (the local server's): slightly different each time.

    The server's shared instance: eSpeak is one global state per process, so a
    second instance next to a running server's would crash it.
    """
    from audio.speech.engines import SpeechEngines

    synthesizer = SpeechEngines.shared_synthesizer()
    assert synthesizer is not None, "espeakng-loader is needed for the assistant's voice"
    return synthesizer.synthesize(text, "marin", rate)


@dataclass
class Room:
    """Turns what the speaker plays into what the microphone hears (sample-exact, stateful)."""

    rate: int
    delay_ms: float = 60.0
    rt60: float = 0.3
    noise_dbfs: float = -70.0
    seed: int = 3

    def __post_init__(self) -> None:
        self.rir = room_impulse_response(self.rate, rt60=self.rt60)
        self._rng = np.random.default_rng(self.seed)
        self._history = np.zeros(len(self.rir) + int(self.rate * 0.5))  # speaker output still ringing/in flight

    def echo(self, played: np.ndarray) -> np.ndarray:
        """The echo (float, int16 scale) the microphone picks up of ``played`` (int16), block by block."""
        delay = int(self.rate * self.delay_ms / 1000)
        x = speaker_distortion(played.reshape(-1).astype(np.float64) / 32768.0) * 32768.0
        n = x.shape[0]
        history = np.concatenate([self._history, x])
        self._history = history[-(len(self.rir) + int(self.rate * 0.5)) :]
        start = len(history) - n - delay
        segment = history[start - len(self.rir) + 1 : start + n]
        size = 1 << int(np.ceil(np.log2(len(segment) + len(self.rir))))
        full = np.fft.irfft(np.fft.rfft(segment, size) * np.fft.rfft(self.rir, size), size)
        return full[len(self.rir) - 1 : len(self.rir) - 1 + n]

    def microphone(self, played: np.ndarray, near: np.ndarray | None = None) -> np.ndarray:
        """Echo + the person's voice + a little noise, as int16."""
        mic = self.echo(played)
        if near is not None:
            mic = mic + near.reshape(-1).astype(np.float64)
        mic = mic + self._rng.standard_normal(mic.shape[0]) * 32768 * 10 ** (self.noise_dbfs / 20)
        return np.clip(np.round(mic), -32768, 32767).astype(np.int16)


def erle_db(before: np.ndarray, after: np.ndarray) -> float:
    """Echo return loss enhancement of a far-end-only stretch."""
    p_in = float(np.mean(before.astype(np.float64) ** 2))
    p_out = float(np.mean(after.astype(np.float64) ** 2))
    return 10 * np.log10(p_in / max(p_out, 1e-9))
