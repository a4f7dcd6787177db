"""``voxflow echo-test``'s measurement: play a phrase on the speaker, record the microphone, compare.

The speaker's tap keeps exactly what went to the device and the microphone's
capture hook keeps exactly what came back (raw, nothing cancelled); both are
put on one timeline by the monotonic time of their first block, and the pair
goes through :func:`~audio.echo.echo_pair.cancel_pair`: the echo heard without
cancellation is the microphone's level while the phrase played, the echo left
with it is the cleaned microphone's.

Both taps start with the first write, not with the streams: a device that is
not paced by a clock (ALSA's ``null``, some virtual sinks) plays seconds of
silence in the milliseconds before it, which would push the phrase out of the
recorded window. Such a device cannot be measured at all, so the recording
carries its pace (samples per wall-clock second over the nominal rate) and the
command says so instead of reporting an echo figure.
"""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass

import numpy as np

from audio.echo.echo_pair import EchoReport, cancel_pair
from audio.dsp.formats import Resampler, to_mono
from audio.dsp.frames import frame_samples

RATE = 48_000
PHRASE = "Testing the echo. One, two, three. The quick brown fox jumps over the lazy dog."
TAIL_SECONDS = 0.6
PACE_TOLERANCE = 1.5
"""A device this many times faster (or slower) than real time is not a clock: nothing it records is a room."""


@dataclass
class ProbeRecording:
    far: np.ndarray
    mic: np.ndarray
    rate: int = RATE
    pace: float = 1.0
    """The faster stream's samples per wall-clock second, over its nominal rate (1.0 on a real device)."""

    @property
    def real_time(self) -> bool:
        return 1 / PACE_TOLERANCE <= self.pace <= PACE_TOLERANCE


def phrase_audio(rate: int = RATE, repeats: int = 2) -> np.ndarray:
    """The test phrase (eSpeak when installed, else the local server's fallback tone), said ``repeats`` times.

    The local server's shared engines: eSpeak is one global state per process,
    and a second instance next to a running server's crashes it.
    """
    from audio.speech.engines import SpeechEngines, tone_for

    synthesizer = SpeechEngines.shared().synthesizer
    voice = synthesizer.synthesize(PHRASE, "marin", rate) if synthesizer is not None else np.zeros(0, np.int16)
    if not voice.shape[0]:
        voice = tone_for(PHRASE, "marin", rate)
    gap = np.zeros(rate // 4, dtype=np.int16)
    return np.concatenate([np.concatenate([voice, gap]) for _ in range(repeats)])


class _Taps:
    """Collects both ends from their threads with the monotonic time of the first block."""

    def __init__(self, max_samples: int) -> None:
        self.max_samples = max_samples  # a device faster than real time (ALSA's null) must not record forever
        self.mic_samples = 0
        self.armed_at: float | None = None
        self.far_seen = 0  # every sample after arming, kept or not: the streams' pace
        self.mic_seen = 0
        self.lock = threading.Lock()
        self.far: list[np.ndarray] = []
        self.far_rate = RATE
        self.far_start: float | None = None
        self.mic: list[np.ndarray] = []
        self.mic_start: float | None = None

    def arm(self) -> None:
        """Start keeping blocks (called just before the first write)."""
        self.armed_at = time.monotonic()

    def pace(self) -> float:
        if self.armed_at is None:
            return 1.0
        elapsed = max(time.monotonic() - self.armed_at, 1e-3)
        return max(self.far_seen / self.far_rate, self.mic_seen / RATE) / elapsed

    def played(self, block: np.ndarray, rate: int) -> None:
        if self.armed_at is None:
            return
        with self.lock:
            self.far_seen += block.shape[0]
            if self.far_start is None:
                self.far_start = time.monotonic() - block.shape[0] / rate
            self.far_rate = rate
            self.far.append(to_mono(block).reshape(-1).copy())

    def heard(self, block: np.ndarray, rate: int) -> np.ndarray:
        if self.armed_at is None:
            return block
        self.mic_seen += block.shape[0]
        if self.mic_start is None:
            self.mic_start = time.monotonic() - block.shape[0] / rate
        if self.mic_samples < self.max_samples:
            self.mic.append(block.reshape(-1).copy())
            self.mic_samples += block.shape[0]
        return block


async def record_probe(input_device: str | int | None, output_device: str | int | None, audio: np.ndarray) -> ProbeRecording:
    """Play ``audio`` (mono int16 at 48 kHz) and record the microphone meanwhile (raises VoxflowError without devices)."""
    from audio.io.microphone import MicrophoneSource
    from audio.io.speaker import SpeakerSink

    taps = _Taps(audio.shape[0] + int((TAIL_SECONDS + 2.0) * RATE))
    microphone = MicrophoneSource(input_device, sample_rate=RATE, channels=1)
    speaker = SpeakerSink(output_device, sample_rate=RATE, channels=1)
    microphone.capture_processor = taps.heard
    speaker.add_tap(taps.played)
    reader: asyncio.Task[None] | None = None
    try:
        microphone.start()
        speaker.start()

        async def drain_microphone() -> None:
            while await microphone.read() is not None:
                pass

        reader = asyncio.create_task(drain_microphone())
        step = frame_samples(RATE)
        taps.arm()
        for start in range(0, audio.shape[0], step):
            speaker.write(audio[start : start + step].reshape(-1, 1))
            await speaker.wait_ready()
        await speaker.drain(timeout=audio.shape[0] / RATE + 5)
        await asyncio.sleep(TAIL_SECONDS)  # the room's tail and the devices' latency
    finally:
        speaker.stop()
        microphone.stop()
        if reader is not None:
            await reader
    pace = taps.pace()
    recording = _align(taps)
    recording.pace = pace
    return recording


def _align(taps: _Taps) -> ProbeRecording:
    mic = np.concatenate(taps.mic) if taps.mic else np.zeros(0, dtype=np.int16)
    with taps.lock:
        far = np.concatenate(taps.far) if taps.far else np.zeros(0, dtype=np.int16)
        far_rate, far_start = taps.far_rate, taps.far_start
    if far_rate != RATE and far.shape[0]:
        resampler = Resampler(RATE, 1, in_rate=far_rate)
        far = np.concatenate([resampler.process(far.reshape(-1, 1), far_rate), resampler.flush()]).reshape(-1)
    if far_start is not None and taps.mic_start is not None:
        offset = round((far_start - taps.mic_start) * RATE)
        far = np.concatenate([np.zeros(offset, np.int16), far]) if offset >= 0 else far[-offset:]
    far = np.concatenate([far, np.zeros(max(0, mic.shape[0] - far.shape[0]), np.int16)])[: mic.shape[0]]
    return ProbeRecording(far.astype(np.int16), mic.astype(np.int16))


def measure(recording: ProbeRecording) -> EchoReport:
    """Cancellation on the recorded pair: the report's echo level is 'off', its residual 'on'."""
    _, report = cancel_pair(recording.far, recording.mic, recording.rate)
    return report
