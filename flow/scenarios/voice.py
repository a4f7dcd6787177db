"""The caller's voice: text spoken by eSpeak, recordings decoded, both as mono int16 at one rate.

Text turns are synthesised locally with the same eSpeak NG the local server
speaks with (``audio.speech``), by the voice the scenario file names
(``espeak:en-us``); recordings are decoded by :mod:`audio.io` (any format
voxflow reads, mixed down to mono). Both are cached for the process: twenty
runs of one scenario synthesise each sentence once, and the same text always
gives the same samples.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np

from audio.base.errors import VoxflowError

CALLER_RATE = 24_000
"""The caller's sample rate: the recording's, so the caller's side is written as it was sent."""

_SPOKEN: dict[tuple[str, str], np.ndarray] = {}
_DECODED: dict[Path, np.ndarray] = {}


class CallerVoice:
    """Speaks and decodes for one scenario file's caller (``espeak_voice``: an eSpeak voice name)."""

    def __init__(self, espeak_voice: str, rate: int = CALLER_RATE) -> None:
        self.espeak_voice = espeak_voice
        self.rate = rate

    async def say(self, text: str) -> np.ndarray:
        key = (self.espeak_voice, text)
        cached = _SPOKEN.get(key)
        if cached is None:
            cached = await asyncio.to_thread(self._synthesize, text)
            _SPOKEN[key] = cached
        return cached

    def _synthesize(self, text: str) -> np.ndarray:
        from audio.speech import SpeechEngines

        synthesizer = SpeechEngines.shared_synthesizer()
        if synthesizer is None:
            raise VoxflowError("eSpeak is not installed, so the caller cannot speak text turns",
                               hint="Install the 'local' extra: pip install 'voxflow[local]'.")
        audio = synthesizer.speak_as(text, self.espeak_voice, self.rate)
        audio.setflags(write=False)
        return audio

    async def recording(self, path: Path) -> np.ndarray:
        cached = _DECODED.get(path)
        if cached is None:
            cached = await decode(path, self.rate)
            cached.setflags(write=False)
            _DECODED[path] = cached
        return cached


async def decode(path: Path, rate: int = CALLER_RATE) -> np.ndarray:
    """The whole file as mono int16 at ``rate`` (decoded as fast as it reads, not in real time)."""
    from audio.io import FileSource

    source = FileSource(path, sample_rate=rate, channels=1, realtime=False)
    frames: list[np.ndarray] = []
    try:
        while (frame := await source.read()) is not None:
            frames.append(frame.reshape(-1))
    finally:
        source.stop()
    return np.concatenate(frames) if frames else np.zeros(0, dtype=np.int16)
