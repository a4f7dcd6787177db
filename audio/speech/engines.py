"""Offline speech for the local Realtime server, with a graceful fallback.

Recognition is Whisper (tiny.en, bundled by the ``local`` extra; or any
CTranslate2 Whisper folder) or pocketsphinx, run by a bounded pool of worker
processes (``recognizer_pool.py``: why processes, how calls share them).
Synthesis drives eSpeak NG from the ``espeakng-loader`` wheel through ctypes,
in a worker thread under a lock (eSpeak keeps global state; ctypes releases
the GIL while it speaks). Both are the optional extra ``voxflow[local]``:
when a package is missing the server still works, describing speech as
``(speech, 1.4 s)`` and answering with a tone whose pitch depends on the
voice. A Whisper model that is present but damaged is *refused*
(:class:`~audio.speech.whisper_model.ModelError`), never silently replaced.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import importlib.util
import logging
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from audio.dsp.formats import Resampler
from audio.speech.conditioning import remove_dc, resample_mono
from audio.speech.recognizer_pool import (
    Piece, Recognition, RecognitionFailed, RecognizerPool, WorkerCommand, WorkerStartError,
)
from audio.speech.settings import RecognizerSettings
from audio.speech.whisper_model import BUNDLED_PACKAGE, ModelError, ModelFolder

logger = logging.getLogger("voxflow.realtime.server")

RECOGNITION_RATE = 16_000
"""Whisper and pocketsphinx's default model both want 16 kHz mono int16."""

SPEECH_EXTRA_HINT = "install the 'local' extra (pip install 'voxflow[local]') for offline speech"


@dataclass(frozen=True)
class VoiceStyle:
    """How one Realtime voice sounds locally: an eSpeak voice, a pitch, and a tone for the fallback."""

    espeak_voice: str
    pitch: int
    tone_hz: float


VOICE_STYLES: dict[str, VoiceStyle] = {
    "alloy": VoiceStyle("en-us", 50, 220.0),
    "ash": VoiceStyle("en-us+m3", 40, 165.0),
    "ballad": VoiceStyle("en-gb-x-rp", 45, 196.0),
    "coral": VoiceStyle("en-us+f3", 60, 262.0),
    "echo": VoiceStyle("en+m1", 35, 147.0),
    "sage": VoiceStyle("en-us+f2", 55, 294.0),
    "shimmer": VoiceStyle("en-us+f4", 70, 330.0),
    "verse": VoiceStyle("en+m7", 50, 185.0),
    "marin": VoiceStyle("en-us+f5", 55, 247.0),
    "cedar": VoiceStyle("en-us+m2", 40, 175.0),
    # voices of /v1/audio/speech only (the Realtime API has none of these)
    "fable": VoiceStyle("en-gb-x-rp+m3", 50, 208.0),
    "nova": VoiceStyle("en-us+f1", 65, 277.0),
    "onyx": VoiceStyle("en-us+m4", 30, 131.0),
}
DEFAULT_VOICE = "marin"


def voice_style(voice: str) -> VoiceStyle:
    return VOICE_STYLES.get(voice, VOICE_STYLES[DEFAULT_VOICE])


def describe_speech(samples: int, sample_rate: int) -> str:
    """The fallback transcript of audio nobody could recognise: ``(speech, 1.4 s)``."""
    return f"(speech, {samples / sample_rate:.1f} s)"


def _installed(package: str) -> bool:
    """Is ``package`` importable (without importing it: CTranslate2 is heavy for the server's process)?"""
    if package in sys.modules:
        return sys.modules[package] is not None
    try:
        return importlib.util.find_spec(package) is not None
    except (ImportError, ValueError):
        return False


class Recognizer:
    """The recogniser pool of one :class:`RecognizerSettings`, and what it is (for logs and settings checks).

    ``None`` from :meth:`load` when the engine's package is missing (the fallback
    then describes speech); :class:`ModelError` when a Whisper model is there but
    cannot be used.
    """

    def __init__(self, pool: RecognizerPool, settings: RecognizerSettings, name: str) -> None:
        self.pool = pool
        self.settings = settings
        self.name = name
        atexit.register(self.close)

    @property
    def multilingual(self) -> bool:
        return self.pool.multilingual

    @classmethod
    def load(cls, settings: RecognizerSettings | None = None) -> Recognizer | None:
        settings = settings or RecognizerSettings()
        if settings.engine == "pocketsphinx":
            return cls._load_pocketsphinx(settings)
        if not _installed("faster_whisper") or (settings.model_dir is None and not _installed(BUNDLED_PACKAGE)):
            logger.warning("speech recognition unavailable (faster-whisper or its bundled model is not installed):"
                           " %s", SPEECH_EXTRA_HINT)
            return None
        folder = ModelFolder.at(settings.model_dir) if settings.model_dir is not None else ModelFolder.bundled()
        path = folder.verify()
        command = WorkerCommand("whisper", path, settings.thread_count(), settings.slot_count())
        try:
            pool = RecognizerPool.start(command, settings.worker_count())
        except (WorkerStartError, OSError) as error:
            raise ModelError(f"The Whisper model in {path} cannot be loaded ({error}): {folder.fix}.") from None
        logger.info("speech recognition: %s, %d worker(s) x %d slot(s) x %d thread(s)", folder.name, pool.size,
                    pool.slots, command.threads)
        return cls(pool, settings, folder.name)

    @classmethod
    def _load_pocketsphinx(cls, settings: RecognizerSettings) -> Recognizer | None:
        try:
            if not _installed("pocketsphinx"):
                raise ImportError("pocketsphinx")
            pool = RecognizerPool.start(WorkerCommand("pocketsphinx"), settings.worker_count())
        except (ImportError, WorkerStartError, OSError) as error:
            logger.warning("speech recognition unavailable (%s): %s", type(error).__name__, SPEECH_EXTRA_HINT)
            return None
        return cls(pool, settings, "pocketsphinx en-us")

    def recognize(self, pcm16k: np.ndarray) -> str:
        """Words heard in 16 kHz mono int16 audio ('' when none); blocks (tools and tests without a loop)."""
        return self.pool.recognize_blocking(pcm16k)

    async def recognize_async(self, pcm16k: np.ndarray, **options: object) -> Recognition:
        return await self.pool.recognize(pcm16k, **options)  # type: ignore[arg-type]

    def close(self) -> None:
        self.pool.close()


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_RATE = 1
_ESPEAK_PITCH = 3


class Synthesizer:
    """eSpeak NG through ctypes, synchronous mode: the callback collects samples into a list.

    eSpeak seeds its noise generator from the clock and carries state from one
    utterance to the next, so two renders of a text differ slightly (lengths by
    up to 1 %). Seeding it at load makes a process's renders reproducible: the
    same calls in the same order give the same samples, run after run.
    """

    SEED = 0

    def __init__(self, library: ctypes.CDLL, sample_rate: int) -> None:
        self._lib = library
        self.sample_rate = sample_rate
        self._lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._callback = _SYNTH_CALLBACK(self._collect)  # keep a reference: ctypes would free it
        library.espeak_SetSynthCallback(self._callback)
        library.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
        library.espeak_ng_SetRandSeed(self.SEED)
        library.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        library.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        library.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
            ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]

    @classmethod
    def load(cls) -> Synthesizer | None:
        try:
            import espeakng_loader  # type: ignore[import-untyped]

            library = ctypes.CDLL(espeakng_loader.get_library_path())
            library.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
            data_path = espeakng_loader.get_data_path().encode()
            sample_rate = library.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_path, 0)
            if sample_rate <= 0:
                raise OSError("espeak_Initialize failed")
            return cls(library, sample_rate)
        except Exception as error:
            logger.warning("speech synthesis unavailable (%s): %s", type(error).__name__, SPEECH_EXTRA_HINT)
            return None

    def _collect(self, wav: ctypes._Pointer, count: int, _events: int) -> int:  # type: ignore[type-arg]
        if count > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        return 0

    def synthesize(self, text: str, voice: str, output_rate: int) -> np.ndarray:
        """``text`` spoken in ``voice`` (a Realtime voice name) as mono int16 at ``output_rate``."""
        style = voice_style(voice)
        return self.speak_as(text, style.espeak_voice, output_rate, pitch=style.pitch)

    def has_voice(self, espeak_voice: str) -> bool:
        """Whether eSpeak knows ``espeak_voice`` (``en-us``, ``en-gb-x-rp``, ``de``, ``en-us+f3``...)."""
        with self._lock:
            return bool(self._lib.espeak_SetVoiceByName(espeak_voice.encode()) == 0)

    def speak_as(self, text: str, espeak_voice: str, output_rate: int, *, pitch: int = 50) -> np.ndarray:
        """``text`` spoken by the eSpeak voice ``espeak_voice`` (English if unknown), mono int16 at ``output_rate``.

        A scenario's caller names eSpeak voices directly. The samples depend a
        little on what this process rendered before (see the class docstring).
        """
        encoded = text.encode("utf-8") + b"\0"
        with self._lock:
            self._chunks = []
            if self._lib.espeak_SetVoiceByName(espeak_voice.encode()) != 0:
                self._lib.espeak_SetVoiceByName(b"en")
            self._lib.espeak_SetParameter(_ESPEAK_RATE, 165, 0)
            self._lib.espeak_SetParameter(_ESPEAK_PITCH, pitch, 0)
            self._lib.espeak_Synth(encoded, len(encoded), 0, _POS_CHARACTER, 0, _ESPEAK_CHARS_UTF8, None, None)
            self._lib.espeak_Synchronize()
            chunks, self._chunks = self._chunks, []
        if not chunks:
            return np.zeros(0, dtype=np.int16)
        resampler = Resampler(output_rate, 1)
        samples = np.concatenate(chunks).reshape(-1, 1)
        return np.concatenate([resampler.process(samples, self.sample_rate), resampler.flush()]).reshape(-1)


def tone_for(text: str, voice: str, output_rate: int) -> np.ndarray:
    """The fallback voice: a soft tone, ~70 ms per character (0.4..6 s), pitched by voice."""
    seconds = min(6.0, max(0.4, 0.07 * len(text)))
    t = np.arange(int(seconds * output_rate)) / output_rate
    envelope = np.minimum(1.0, np.minimum(t, seconds - t) / 0.02)
    wave = 0.3 * np.sin(2 * np.pi * voice_style(voice).tone_hz * t) * envelope
    return (wave * 32767).astype(np.int16)


class SpeechEngines:
    """Recognition and synthesis shared by every call of every server in the process.

    Loading a recogniser takes a moment (Whisper: ~1 s per worker), so each
    :class:`RecognizerSettings` loads once, lazily, in a worker thread and is
    shared; ``enabled=False`` (or a missing extra) selects the fallback.
    """

    _recognizers: dict[RecognizerSettings, Recognizer | None] = {}
    _synthesizer: Synthesizer | None = None
    _synthesizer_loaded = False
    _shared_lock = threading.Lock()

    def __init__(self, recognizer: Recognizer | None, synthesizer: Synthesizer | None) -> None:
        self.recognizer = recognizer
        self.synthesizer = synthesizer

    @classmethod
    def shared(cls, settings: RecognizerSettings | None = None) -> SpeechEngines:
        """The process's engines for ``settings`` (ModelError when the Whisper model is damaged)."""
        settings = settings or RecognizerSettings()
        with cls._shared_lock:
            if settings not in cls._recognizers:
                cls._recognizers[settings] = Recognizer.load(settings)
            if not cls._synthesizer_loaded:
                cls._synthesizer, cls._synthesizer_loaded = Synthesizer.load(), True
            return cls(cls._recognizers[settings], cls._synthesizer)

    @classmethod
    def shared_synthesizer(cls) -> Synthesizer | None:
        """The process's eSpeak (None when it is not installed), without loading a recogniser."""
        with cls._shared_lock:
            if not cls._synthesizer_loaded:
                cls._synthesizer, cls._synthesizer_loaded = Synthesizer.load(), True
            return cls._synthesizer

    @classmethod
    async def get(cls, enabled: bool, settings: RecognizerSettings | None = None) -> SpeechEngines:
        if not enabled:
            return cls(None, None)
        return await asyncio.to_thread(cls.shared, settings)

    async def transcribe(self, pcm: np.ndarray, rate: int = RECOGNITION_RATE) -> str:
        """What was said in mono int16 ``pcm``, or ``(speech, N s)`` when recognition is off or heard nothing."""
        try:
            heard = await self.recognize(pcm, rate)
        except RecognitionFailed:
            logger.exception("speech recognition failed; describing the audio instead")
            heard = None
        return heard.text if heard is not None and heard.text else describe_speech(
            len(pcm) * RECOGNITION_RATE // max(1, rate), RECOGNITION_RATE)

    async def recognize(self, pcm: np.ndarray, rate: int = RECOGNITION_RATE, *, owner: object = None,
                        language: str | None = None, prompt: str | None = None, logprobs: bool = False,
                        on_piece: Callable[[Piece], None] | None = None) -> Recognition | None:
        """A turn recognised window by window (None when recognition is off); RecognitionFailed if it fails.

        Audio at another rate is resampled to the recogniser's 16 kHz with PyAV;
        a high-pass filter removes any DC offset (see ``conditioning``).
        """
        if self.recognizer is None:
            return None
        pcm16k = resample_mono(pcm, rate, RECOGNITION_RATE)
        if not len(pcm16k):
            return Recognition("", [] if logprobs else None, 0.0, 0.0, 0.0, 0)
        return await self.recognizer.pool.recognize(remove_dc(pcm16k, RECOGNITION_RATE), owner=owner,
                                                    language=language, prompt=prompt, logprobs=logprobs,
                                                    on_piece=on_piece)

    def forget(self, owner: object) -> None:
        """A call ended: drop its queued recognition."""
        if self.recognizer is not None:
            self.recognizer.pool.forget(owner)

    async def speak(self, text: str, voice: str, output_rate: int) -> np.ndarray:
        """``text`` as mono int16 audio; a tone when synthesis is off or failed."""
        if self.synthesizer is not None and text.strip():
            try:
                audio = await asyncio.to_thread(self.synthesizer.synthesize, text, voice, output_rate)
            except Exception:
                logger.exception("speech synthesis failed; answering with a tone instead")
                audio = np.zeros(0, dtype=np.int16)
            if len(audio):
                return audio
        return tone_for(text, voice, output_rate)
