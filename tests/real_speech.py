"""Real human recordings for tests: where they are, what they say, and degraded variants.

The recordings come from Debian packages (``pocketsphinx-testdata`` and
``alsa-utils``; ``.ci/run`` installs both), so nothing recorded is committed.
Variants that real users send -- phone-quality 8 kHz, background noise, a DC
offset, another sample rate -- are made here with PyAV and numpy, deterministic
for a given seed, so a test can say "the clip as a noisy phone call".

    clip = CARDS[0]                       # "ten of clubs", 16 kHz
    pcm = clip.load(rate=48_000)          # mono int16 at 48 kHz
    phone = degrade(clip.load(), clip.rate, rate=8_000, phone=True, snr_db=15, dc=0.1)
    word_overlap("ten of clubs", clip.words)  # -> 1.0
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from audio.speech.conditioning import filter_mono
from audio.speech import normalize_english, word_errors as speech_word_errors

POCKETSPHINX_DATA = Path("/usr/share/pocketsphinx/test/data")
ALSA_SOUNDS = Path("/usr/share/sounds/alsa")
MISSING_HINT = "real recordings missing: install the Debian packages pocketsphinx-testdata and alsa-utils"


@dataclass(frozen=True)
class Clip:
    """One real recording and what the speaker says in it (lower case, no punctuation)."""

    path: Path
    words: str
    rate: int
    seconds: float

    @property
    def name(self) -> str:
        return self.path.stem

    def load(self, rate: int | None = None) -> np.ndarray:
        """The recording as mono int16 at ``rate`` (its own rate by default)."""
        return decode(self.path, rate)


def _transcripts(path: Path) -> dict[str, str]:
    """Sphinx transcription lines ``<s> words </s> (id)`` as ``{id: words}``."""
    entries: dict[str, str] = {}
    for line in path.read_text().splitlines():
        match = re.match(r"\s*(?:<s>)?(.*?)(?:</s>)?\s*\((\S+)\)\s*$", line)
        if match:
            entries[match.group(2)] = " ".join(match.group(1).split())
    return entries


def _clips(folder: Path, transcription: str, durations: dict[str, float]) -> tuple[Clip, ...]:
    if not (folder / transcription).exists():
        return ()
    words = _transcripts(folder / transcription)
    return tuple(Clip(folder / f"{key}.wav", words[key], 16_000, durations[key]) for key in sorted(words))


_LIBRIVOX_SECONDS = {
    "sense_and_sensibility_01_austen_64kb-0870": 7.1, "sense_and_sensibility_01_austen_64kb-0880": 2.99,
    "sense_and_sensibility_01_austen_64kb-0890": 5.3, "sense_and_sensibility_01_austen_64kb-0920": 6.05,
    "sense_and_sensibility_01_austen_64kb-0930": 3.29,
}
_CARDS_SECONDS = {"001": 1.10, "002": 1.96, "003": 1.54, "004": 1.55, "005": 3.50}

LIBRIVOX: tuple[Clip, ...] = _clips(POCKETSPHINX_DATA / "librivox", "transcription", _LIBRIVOX_SECONDS)
"""Read sentences from a LibriVox audiobook (Sense and Sensibility), 16 kHz, 3-7 s each."""

CARDS: tuple[Clip, ...] = _clips(POCKETSPHINX_DATA / "cards", "cards.transcription", _CARDS_SECONDS)
"""Spoken playing-card names ("ten of clubs"), 16 kHz, 1-3.5 s each, recorded close to the microphone."""

ALSA: tuple[Clip, ...] = tuple(
    Clip(ALSA_SOUNDS / f"{name}.wav", name.replace("_", " ").lower(), 48_000, seconds)
    for name, seconds in (("Front_Center", 1.43), ("Front_Left", 1.48), ("Front_Right", 1.53),
                          ("Rear_Center", 1.35), ("Rear_Left", 1.31), ("Rear_Right", 1.53),
                          ("Side_Left", 1.40), ("Side_Right", 1.35))
    if (ALSA_SOUNDS / f"{name}.wav").exists()
)
"""alsa-utils' speaker-test phrases ("front left"), 48 kHz, about 1.4 s each."""

ALL: tuple[Clip, ...] = LIBRIVOX + CARDS + ALSA


def shortest(clips: tuple[Clip, ...]) -> Clip:
    """The shortest clip of a set (keeps real-time tests quick)."""
    require(clips)
    return min(clips, key=lambda clip: clip.seconds)


def require(clips: tuple[Clip, ...] = ALL) -> None:
    """Fail (not skip) with a clear message when the recordings are not installed."""
    if not clips:
        raise RuntimeError(MISSING_HINT)


def decode(path: Path | str, rate: int | None = None) -> np.ndarray:
    """Any file FFmpeg reads, downmixed to mono int16 and resampled with PyAV to ``rate`` (default: its own)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        target = rate or stream.rate
        resampler = av.AudioResampler(format="s16", layout="mono", rate=target)
        parts: list[np.ndarray] = []
        for frame in container.decode(stream):
            parts.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(frame))
        parts.extend(out.to_ndarray().reshape(-1) for out in resampler.resample(None))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)


def resample(pcm: np.ndarray, rate: int, to_rate: int) -> np.ndarray:
    """Mono int16 from ``rate`` to ``to_rate`` with PyAV's resampler."""
    if rate == to_rate:
        return np.asarray(pcm, dtype=np.int16)
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1),
                                       format="s16", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="s16", layout="mono", rate=to_rate)
    out = [f.to_ndarray().reshape(-1) for f in [*resampler.resample(frame), *resampler.resample(None)]]
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int16)


def _mulaw_round_trip(pcm: np.ndarray, rate: int) -> np.ndarray:
    """Encode to G.711 mu-law and back with FFmpeg's codecs, as a telephone line does."""
    encoder = av.CodecContext.create("pcm_mulaw", "w")
    encoder.sample_rate, encoder.format, encoder.layout = rate, "s16", "mono"  # type: ignore[union-attr]
    decoder = av.CodecContext.create("pcm_mulaw", "r")
    decoder.sample_rate, decoder.layout = rate, "mono"  # type: ignore[union-attr]
    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(pcm, dtype=np.int16).reshape(1, -1),
                                       format="s16", layout="mono")
    frame.sample_rate = rate
    out: list[np.ndarray] = []
    for packet in [*encoder.encode(frame), *encoder.encode(None)]:  # type: ignore[attr-defined]
        out.extend(f.to_ndarray().reshape(-1) for f in decoder.decode(packet))
    return np.concatenate(out).astype(np.int16)


def degrade(pcm: np.ndarray, rate: int, *, to_rate: int | None = None, phone: bool = False,
            snr_db: float | None = None, dc: float = 0.0, seed: int = 0) -> np.ndarray:
    """A worse copy of mono int16 speech, as real callers send it.

    ``phone``: band-limited to 300-3400 Hz, 8 kHz (unless ``to_rate`` says otherwise)
    and through G.711 mu-law. ``snr_db``: seeded white noise that many dB below the
    speech's RMS (measured over the loud half of the clip, so pauses don't count).
    ``dc``: a constant offset as a fraction of full scale (0.1 = 3277). Returns int16
    at ``to_rate`` (or ``rate``), clipped, never wrapped.
    """
    target = to_rate or (8_000 if phone else rate)
    audio = np.asarray(pcm, dtype=np.int16)
    if phone:
        audio = filter_mono(audio, rate, "highpass=f=300,lowpass=f=3400")
    audio = resample(audio, rate, target)
    if phone:
        audio = _mulaw_round_trip(audio, target)
    signal = audio.astype(np.float64)
    if snr_db is not None:
        frame = max(1, target // 50)
        usable = signal[: len(signal) // frame * frame].reshape(-1, frame)
        energies = np.sort(np.mean(np.square(usable), axis=1))
        speech_rms = float(np.sqrt(np.mean(energies[len(energies) // 2:]))) if len(energies) else 0.0
        noise = np.random.default_rng(seed).standard_normal(len(signal))
        signal = signal + noise * speech_rms / (10 ** (snr_db / 20))
    signal = signal + dc * 32768.0
    return np.clip(np.rint(signal), -32768, 32767).astype(np.int16)


def silence(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.int16)


def normalize_words(text: str) -> list[str]:
    """Words as transcripts are compared: lower case, no punctuation, "Mr." = "mister", numbers as digits.

    Both sides go through ``audio/speech/english_normalizer.py`` (a small version of
    Whisper's English normaliser), so "10 of clubs." matches "ten of clubs".
    """
    return normalize_english(text)


def word_errors(hypothesis: str, reference: str) -> tuple[int, int]:
    """(edit distance in words, reference length): WER = errors / length."""
    return speech_word_errors(hypothesis, reference)


def word_error_rate(hypothesis: str, reference: str) -> float:
    errors, length = word_errors(hypothesis, reference)
    return errors / max(1, length)


def word_overlap(hypothesis: str, reference: str) -> float:
    """Share of the reference's distinct words that the hypothesis contains (0..1)."""
    ref = set(normalize_words(reference))
    return len(ref & set(normalize_words(hypothesis))) / max(1, len(ref))
