"""The room, the echo canceller and the local server's turn detector, without a session (for the benchmark).

:class:`Scene` plays what the assistant says into the simulated room 20 ms at a
time, as ``SimulatedDevices`` does, mixes in a person, cleans the microphone
with an :class:`~audio.echo.echo_cancel.EchoCanceller` and feeds the result to the
same turn detector (Silero, ``server_vad`` defaults) the local server runs.
Faster than real time and without the network, Opus or the server's queue, so
its barge-in delays are the canceller's and the detector's share only.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from audio.echo.echo_cancel import EchoCanceller
from audio.server.vad import TurnDetector, VadSettings
from tests.echo.room import Room, assistant_voice, librivox

RATE = 48_000
BLOCK = RATE // 50
REPLIES = ["Sure, here it is.", "The sun is out today.", "I can help with that."]
LONG_REPLY = "Here is a longer answer, with several sentences. It keeps the speaker busy for a while. Interrupt me."
CLIPS = ("0870", "0880", "0890", "0920", "0930")


def person_at_echo_level(clip: str, delay_ms: float, gain_db: float = 0.0) -> tuple[np.ndarray, int]:
    """A LibriVox reader at the level of the long reply's echo (plus ``gain_db``), and where their first word starts."""
    echo = Room(RATE, delay_ms=delay_ms).echo(assistant_voice(LONG_REPLY, RATE))
    echo_rms = np.sqrt(np.mean(echo[np.abs(echo) > 0.01 * np.abs(echo).max()] ** 2))
    reader = librivox(clip, RATE).astype(np.float64)
    voice = reader * echo_rms * 10 ** (gain_db / 20) / np.sqrt(np.mean(reader**2))
    levels = 10 * np.log10(np.mean(voice[: voice.shape[0] // BLOCK * BLOCK].reshape(-1, BLOCK) ** 2, axis=1) + 1)
    return voice, int(np.argmax(levels > levels.max() - 15)) * BLOCK


class Scene:
    def __init__(
        self,
        canceller: Callable[[], EchoCanceller] | None,
        delay_ms: float,
        speak: Callable[[str, int], np.ndarray] = assistant_voice,
    ) -> None:
        """``speak``: the assistant's voice (eSpeak renders differ slightly each time; the default is cached)."""
        self.speak = speak
        self.room = Room(RATE, delay_ms=delay_ms)
        self.canceller = canceller() if canceller is not None else None
        if self.canceller is not None:
            self.canceller.attach_speaker()
        self.detector = TurnDetector(VadSettings(), RATE)
        self.position = 0
        self.starts: list[int] = []
        self.cleaned: list[np.ndarray] = []
        self._queue = np.zeros(0, dtype=np.int16)
        self._voices: list[tuple[int, np.ndarray]] = []

    def play(self, pcm: np.ndarray) -> None:
        self._queue = np.concatenate([self._queue, pcm])

    def flush(self) -> None:
        self._queue = np.zeros(0, dtype=np.int16)

    def say(self, voice: np.ndarray, at: int) -> None:
        self._voices.append((at, voice))

    def step(self) -> None:
        played, self._queue = self._queue[:BLOCK], self._queue[BLOCK:]
        played = np.concatenate([played, np.zeros(BLOCK - played.shape[0], dtype=np.int16)])
        near = np.zeros(BLOCK)
        for at, voice in self._voices:
            lo, hi = max(at, self.position), min(at + voice.shape[0], self.position + BLOCK)
            if lo < hi:
                near[lo - self.position : hi - self.position] += voice[lo - at : hi - at]
        mic = self.room.microphone(played, near)
        out = mic
        if self.canceller is not None:
            self.canceller.note_played(played.reshape(-1, 1), RATE)
            out = self.canceller.process(mic.reshape(-1, 1), RATE).reshape(-1)
            out = np.concatenate([out, np.zeros(max(0, BLOCK - out.shape[0]), dtype=np.int16)])[:BLOCK]
        self.cleaned.append(out)
        boundary = self.detector.feed(out)
        self.position += BLOCK
        if boundary is not None and boundary.started:
            self.starts.append(self.position)

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds * 50)):
            self.step()

    def replies(self, count: int, gap: float = 0.6) -> None:
        """``count`` short replies, each played out and followed by ``gap`` seconds of quiet."""
        for i in range(count):
            self.play(self.speak(REPLIES[i % len(REPLIES)], RATE))
            while self._queue.shape[0]:
                self.step()
            self.run(gap)


def false_starts(canceller: Callable[[], EchoCanceller] | None, delay_ms: float, replies: int = 10) -> int:
    """How often the turn detector starts speech over ``replies`` short replies with nobody talking."""
    scene = Scene(canceller, delay_ms)
    scene.run(0.5)
    scene.replies(replies)
    return len(scene.starts)


def barge_in_delay(
    canceller: Callable[[], EchoCanceller],
    delay_ms: float,
    clip: str,
    *,
    warm: int,
    gain_db: float = 0.0,
    round_trip: float = 0.1,
) -> float | None:
    """After ``warm`` short replies, a person talks over the long reply 0.5 s in, at its echo's level (+ ``gain_db``):
    seconds from their first word until the detector starts speech (None: never; negative: before it)."""
    scene = Scene(canceller, delay_ms)
    scene.run(0.3)
    scene.replies(warm)
    scene.starts.clear()
    scene.play(assistant_voice(LONG_REPLY, RATE))
    scene.run(0.5)
    voice, onset = person_at_echo_level(clip, delay_ms, gain_db)
    scene.say(voice, scene.position)
    first_word = scene.position + onset
    for _ in range(250):
        scene.step()
        if scene.starts:
            scene.run(round_trip)  # the reply keeps playing until the service's interruption reaches the speaker
            scene.flush()
            return (scene.starts[0] - first_word) / RATE
    return None
