"""Text to speech over HTTP: OpenAI's ``POST /v1/audio/speech``, cached on disk.

The scripted caller of ``voxflow test`` can sound like one of OpenAI's voices
(``caller: {voice: openai:marin}``). The endpoint takes ``{model, voice, input,
response_format: "pcm"}`` with a Bearer key and answers raw 24 kHz 16-bit
little-endian mono PCM; the local Realtime server answers the same route with
eSpeak, so the same client runs offline. Every answer is kept in a
:class:`~audio.speech.speech_cache.SpeechCache`: a sentence heard once is
never fetched again.

Failures are one-line :class:`VoxflowError`\\ s naming the host (never a path,
never the key): a refused key (401), a refused voice or model (4xx, with the
service's own words), a failing service (5xx), an unreachable one.
"""

from __future__ import annotations

import logging
import time

import httpx
import numpy as np

from audio.base.errors import VoxflowError
from audio.base.redaction import redact
from audio.speech.speech_cache import SpeechCache

log = logging.getLogger(__name__)

SPEECH_RATE = 24_000
"""The endpoint's ``pcm`` format: 24 kHz, 16-bit little-endian, mono."""
DEFAULT_SPEECH_MODEL = "gpt-4o-mini-tts"
TIMEOUT = httpx.Timeout(60.0, connect=10.0)
NO_SERVICE_HINT = "Check the network and OPENAI_BASE_URL, or give the caller an espeak: voice (offline)."


class SpeechClient:
    """Speaks text with one model at ``base_url`` (``https://api.openai.com`` or a local server), caching answers.

    ``cache=None`` fetches every time; ``transport`` is httpx's (tests count requests with it).
    """

    def __init__(self, base_url: str, api_key: str, *, model: str = DEFAULT_SPEECH_MODEL,
                 cache: SpeechCache | None = None, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/").removesuffix("/v1")
        self.model = model
        self.cache = cache
        self._api_key = api_key
        self._transport = transport

    @property
    def host(self) -> str:
        return httpx.URL(self.base_url).host or "the speech service"

    async def speak(self, text: str, voice: str) -> np.ndarray:
        """``text`` in ``voice`` as mono int16 at :data:`SPEECH_RATE` (from the cache when it was heard before)."""
        pcm = self.cache.get(self.base_url, self.model, voice, text, "pcm") if self.cache is not None else None
        if pcm is None:
            started = time.monotonic()
            pcm = await self._fetch(text, voice)
            log.info("speech: %d characters in voice %s from %s in %.2f s", len(text), voice, self.host,
                     time.monotonic() - started)
            if self.cache is not None:
                self.cache.put(self.base_url, self.model, voice, text, "pcm", pcm)
        return np.frombuffer(pcm, dtype="<i2").astype(np.int16)

    async def _fetch(self, text: str, voice: str) -> bytes:
        url = f"{self.base_url}/v1/audio/speech"
        body = {"model": self.model, "voice": voice, "input": text, "response_format": "pcm"}
        try:
            async with httpx.AsyncClient(timeout=TIMEOUT, transport=self._transport) as client:
                response = await client.post(url, json=body, headers={"Authorization": f"Bearer {self._api_key}"})
        except httpx.HTTPError as error:
            raise VoxflowError(f"could not reach the speech service at {self.host} ({type(error).__name__})",
                               hint=NO_SERVICE_HINT) from None
        if response.status_code == 401:
            raise VoxflowError(f"the speech service at {self.host} refused the API key (401: {self._said(response)})",
                               hint="Check OPENAI_API_KEY, or give the caller an espeak: voice (offline).")
        if 400 <= response.status_code < 500:
            raise VoxflowError(f"the speech service at {self.host} refused voice '{voice}' with model '{self.model}'"
                               f" ({response.status_code}: {self._said(response)})",
                               hint="Use a voice and model the service has, or give the caller an espeak: voice (offline).")
        if response.status_code != 200:
            raise VoxflowError(f"the speech service at {self.host} failed ({response.status_code}: {self._said(response)})",
                               hint="Try again later, or give the caller an espeak: voice (offline).")
        pcm = response.content
        if not pcm or len(pcm) % 2:
            raise VoxflowError(f"the speech service at {self.host} answered {len(pcm)} bytes, not 16-bit PCM speech",
                               hint=NO_SERVICE_HINT)
        return pcm

    def _said(self, response: httpx.Response) -> str:
        """The service's message (``{"error": {"message": ...}}`` or ``{"error": "..."}``), secrets removed."""
        message: object = None
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            error = body.get("error")
            message = error.get("message") if isinstance(error, dict) else error
        text = message if isinstance(message, str) and message else (response.reason_phrase or "no details")
        return redact(" ".join(text.split())[:300], self._api_key)
