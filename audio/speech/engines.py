"""Offline speech for the local Realtime server, with a graceful fallback.

Recognition uses pocketsphinx (its wheel ships an English model) and synthesis
drives eSpeak NG from the ``espeakng-loader`` wheel through ctypes. Both are the
optional extra ``voxflow[local]``: when either import or load fails the server
still works, describing speech as ``(speech, 1.4 s)`` and answering with a tone
whose pitch depends on the voice. Synthesis runs in a worker thread under a
lock (eSpeak keeps global state; ctypes releases the GIL while it speaks).
Recognition runs in a worker *process*: pocketsphinx's search holds the GIL
for the whole utterance (about half a second), which from a thread would stall
the event loop and every audio stream paced on it, the client's included when
the server runs in-process.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import logging
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.dsp.formats import Resampler
from audio.speech.conditioning import remove_dc, resample_mono

logger = logging.getLogger("voxflow.realtime.server")

RECOGNITION_RATE = 16_000
"""pocketsphinx's default model wants 16 kHz mono int16."""

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
}
DEFAULT_VOICE = "marin"


def voice_style(voice: str) -> VoiceStyle:
    return VOICE_STYLES.get(voice, VOICE_STYLES[DEFAULT_VOICE])


def describe_speech(samples: int, sample_rate: int) -> str:
    """The fallback transcript of audio nobody could recognise: ``(speech, 1.4 s)``."""
    return f"(speech, {samples / sample_rate:.1f} s)"


WORKER_SCRIPT = Path(__file__).with_name("recognizer_worker.py")


class Recognizer:
    """pocketsphinx in a worker process (see ``recognizer_worker.py`` for why and the wire format).

    ``None`` from :meth:`load` when the extra is missing or the worker cannot start.
    """

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        self._lock = threading.Lock()
        atexit.register(self.close)

    @classmethod
    def load(cls) -> Recognizer | None:
        try:
            import pocketsphinx  # type: ignore[import-untyped]  # noqa: F401  (is the extra installed?)

            process = subprocess.Popen(
                [sys.executable, str(WORKER_SCRIPT)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
            )
            recognizer = cls(process)
            try:
                recognizer.recognize(np.zeros(RECOGNITION_RATE // 10, dtype=np.int16))  # wait for the model; fail now
            except BaseException:
                recognizer.close()
                raise
            return recognizer
        except Exception as error:  # ImportError, a broken model, or no way to start a process
            logger.warning("speech recognition unavailable (%s): %s", type(error).__name__, SPEECH_EXTRA_HINT)
            return None

    def recognize(self, pcm16k: np.ndarray) -> str:
        """Words heard in 16 kHz mono int16 audio ('' when none); blocks until the worker answers."""
        data = np.ascontiguousarray(pcm16k, dtype=np.int16).tobytes()
        with self._lock:
            stdin, stdout = self._process.stdin, self._process.stdout
            assert stdin is not None and stdout is not None
            try:
                stdin.write(len(data).to_bytes(4, "big") + data)
                stdin.flush()
                header = stdout.read(4)
                answer = stdout.read(int.from_bytes(header, "big")) if len(header) == 4 else b""
            except (BrokenPipeError, ValueError) as error:
                raise RuntimeError("the speech recognition worker has stopped") from error
            if len(header) < 4:
                raise RuntimeError("the speech recognition worker has stopped")
        return answer.decode("utf-8", "replace")

    async def recognize_async(self, pcm16k: np.ndarray) -> str:
        return await asyncio.to_thread(self.recognize, pcm16k)

    def close(self) -> None:
        """End the worker (closing its input ends it; a stuck one is killed)."""
        process = self._process
        if process.poll() is not None:
            return
        with contextlib.suppress(OSError, ValueError):
            assert process.stdin is not None
            process.stdin.close()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


_SYNTH_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_POS_CHARACTER = 1
_ESPEAK_CHARS_UTF8 = 1
_ESPEAK_RATE = 1
_ESPEAK_PITCH = 3


class Synthesizer:
    """eSpeak NG through ctypes, synchronous mode: the callback collects samples into a list."""

    def __init__(self, library: ctypes.CDLL, sample_rate: int) -> None:
        self._lib = library
        self.sample_rate = sample_rate
        self._lock = threading.Lock()
        self._chunks: list[np.ndarray] = []
        self._callback = _SYNTH_CALLBACK(self._collect)  # keep a reference: ctypes would free it
        library.espeak_SetSynthCallback(self._callback)
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
        """``text`` spoken in ``voice`` as mono int16 at ``output_rate``."""
        style = voice_style(voice)
        encoded = text.encode("utf-8") + b"\0"
        with self._lock:
            self._chunks = []
            if self._lib.espeak_SetVoiceByName(style.espeak_voice.encode()) != 0:
                self._lib.espeak_SetVoiceByName(b"en")
            self._lib.espeak_SetParameter(_ESPEAK_RATE, 165, 0)
            self._lib.espeak_SetParameter(_ESPEAK_PITCH, style.pitch, 0)
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

    Loading the pocketsphinx model takes a moment, so engines load once, lazily,
    in a worker thread; ``enabled=False`` (or a missing extra) selects the fallback.
    """

    _shared: SpeechEngines | None = None
    _shared_lock = threading.Lock()

    def __init__(self, recognizer: Recognizer | None, synthesizer: Synthesizer | None) -> None:
        self.recognizer = recognizer
        self.synthesizer = synthesizer

    @classmethod
    def shared(cls) -> SpeechEngines:
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls(Recognizer.load(), Synthesizer.load())
            return cls._shared

    @classmethod
    async def get(cls, enabled: bool) -> SpeechEngines:
        if not enabled:
            return cls(None, None)
        return await asyncio.to_thread(cls.shared)

    async def transcribe(self, pcm: np.ndarray, rate: int = RECOGNITION_RATE) -> str:
        """What was said in mono int16 ``pcm``, or ``(speech, N s)`` when recognition is off or heard nothing.

        Audio at another rate is resampled to the recogniser's 16 kHz with PyAV;
        a high-pass filter removes any DC offset (see ``conditioning``).
        """
        pcm16k = resample_mono(pcm, rate, RECOGNITION_RATE)
        if self.recognizer is not None and len(pcm16k):
            try:
                words = await self.recognizer.recognize_async(remove_dc(pcm16k, RECOGNITION_RATE))
            except Exception:
                logger.exception("speech recognition failed; describing the audio instead")
                words = ""
            if words:
                return words
        return describe_speech(len(pcm16k), RECOGNITION_RATE)

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
