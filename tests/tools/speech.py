"""Spoken questions for the end-to-end tests: eSpeak speech written as a WAV with silence around it."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from audio.realtime.server.speech import SpeechEngines

RATE = 16_000


async def spoken_wav(path: Path, text: str, *, lead: float = 0.5, tail: float = 2.5) -> Path:
    """``text`` spoken by eSpeak (the marin voice), with ``lead``/``tail`` seconds of silence, as 16 kHz mono."""
    engines = await SpeechEngines.get(True)
    assert engines.synthesizer is not None, "eSpeak is not available (pip install 'voxflow[local]')"
    speech = await engines.speak(text, "marin", RATE)
    silence = lambda seconds: np.zeros(int(RATE * seconds), dtype=np.int16)  # noqa: E731
    samples = np.concatenate([silence(lead), speech.astype(np.int16), silence(tail)])
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes(samples.tobytes())
    return path
