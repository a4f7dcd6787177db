"""Spoken questions for the end-to-end tests: eSpeak speech written as a WAV with silence around it."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from audio.speech.engines import SpeechEngines

RATE = 16_000


async def spoken_wav(path: Path, *texts: str, lead: float = 0.5, gap: float = 2.0, tail: float = 2.5) -> Path:
    """``texts`` spoken by eSpeak (the marin voice), ``gap`` seconds apart, with ``lead``/``tail`` seconds of
    silence, as 16 kHz mono."""
    engines = await SpeechEngines.get(True)
    assert engines.synthesizer is not None, "eSpeak is not available (pip install 'voxflow[local]')"
    silence = lambda seconds: np.zeros(int(RATE * seconds), dtype=np.int16)  # noqa: E731
    parts = [silence(lead)]
    for index, text in enumerate(texts):
        if index:
            parts.append(silence(gap))
        parts.append((await engines.speak(text, "marin", RATE)).astype(np.int16))
    samples = np.concatenate([*parts, silence(tail)])
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes(samples.tobytes())
    return path
