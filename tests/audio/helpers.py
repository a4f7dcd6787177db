"""Signal measurements shared by the audio tests."""

from __future__ import annotations

import numpy as np

from audio.dsp.frames import AudioSource


def dominant_frequency(mono: np.ndarray, rate: int) -> float:
    """Frequency (Hz) of the strongest FFT bin, refined by parabolic interpolation."""
    x = np.asarray(mono, dtype=np.float64).reshape(-1)
    x = x - x.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    k = int(np.argmax(spectrum[1:]) + 1)
    if 1 <= k < len(spectrum) - 1:
        a, b, c = np.log(spectrum[k - 1 : k + 2] + 1e-12)
        k = k + 0.5 * (a - c) / (a - 2 * b + c)
    return k * rate / len(x)


def speaking_pitch(mono: np.ndarray, rate: int) -> float:
    """Median fundamental (Hz) over the louder-than-average 40 ms frames, by autocorrelation (60-400 Hz)."""
    x = np.asarray(mono, dtype=np.float64).reshape(-1)
    frame, loud = int(0.04 * rate), np.sqrt(np.mean(x * x))
    pitches = []
    for start in range(0, len(x) - frame, frame // 2):
        window = x[start:start + frame]
        if np.sqrt(np.mean(window * window)) < loud:
            continue
        window = window - window.mean()
        correlation = np.correlate(window, window, "full")[frame - 1:]
        low, high = rate // 400, rate // 60
        pitches.append(rate / (low + int(np.argmax(correlation[low:high]))))
    return float(np.median(pitches)) if pitches else 0.0


def spoken_by(audio: np.ndarray, text: str, voice: str, rate: int = 24_000) -> bool:
    """``audio`` is eSpeak saying ``text`` in the Realtime ``voice``'s local style: about its length and its pitch.

    eSpeak varies a little from call to call (lengths by up to 1 %, pitch by up to 7 %), while the
    voices told apart in tests differ by far more (marin about 205 Hz, onyx 75, cedar 86, coral 216).
    """
    from audio.speech import SpeechEngines

    synthesizer = SpeechEngines.shared_synthesizer()
    assert synthesizer is not None, "eSpeak (the local extra) is needed"
    local = synthesizer.synthesize(text, voice, rate)
    return (abs(len(audio) - len(local)) < 0.03 * len(local)
            and abs(speaking_pitch(audio, rate) / speaking_pitch(local, rate) - 1) < 0.15)


def rms_db(mono: np.ndarray) -> float:
    x = np.asarray(mono, dtype=np.float64).reshape(-1) / 32768.0
    return 20 * np.log10(np.sqrt(np.mean(x * x)) + 1e-12)


async def read_all(source: AudioSource, limit: int = 100_000) -> list[np.ndarray]:
    frames = []
    for _ in range(limit):
        frame = await source.read()
        if frame is None:
            break
        frames.append(frame)
    return frames
