"""The echo canceller in a simulated room (RT60 0.3 s, 40-120 ms delay, soft clipping), with real speech.

The assistant's voice is the local server's eSpeak; the person is a LibriVox
reader. Far end only, the canceller removes at least 30 dB of echo from 2.5 s
on, and again from 2 s after the echo path jumps by 40 ms. When a person talks
over the assistant (and barges in), their words survive: pocketsphinx still
recognises them. While the canceller converges, its gate mutes what AEC3 leaks
(so the local server's VAD hears nothing) and lets a person at the echo's
level through.
"""

from __future__ import annotations

import numpy as np
import pytest

from audio.echo.echo_cancel import EchoCanceller
from audio.echo.echo_pair import cancel_pair, estimate_delay_ms
from audio.speech.speech_probability import SileroScorer
from tests.echo.offline import Scene
from tests.echo.room import Room, assistant_voice, assistant_voice_rerendered, erle_db, librivox, librivox_words, resample
from tests.real_speech import normalize_words

RATE = 48_000
ASSISTANT = "The weather today is sunny with a light breeze from the west. Tomorrow brings rain in the afternoon and cooler evenings."


def assistant(seconds: float) -> np.ndarray:
    voice = assistant_voice(ASSISTANT, RATE)
    return np.tile(voice, int(seconds * RATE) // voice.shape[0] + 1)[: int(seconds * RATE)]


def run_room(far: np.ndarray, room: Room, jump_at: float | None = None, jump_ms: float = 40.0) -> tuple[np.ndarray, np.ndarray]:
    """Play ``far`` in ``room`` block by block (20 ms, as the devices do); returns (mic, cleaned by AEC3 alone)."""
    canceller = EchoCanceller(gate=False)
    canceller.attach_speaker()
    block = RATE // 50
    mics, outs = [], []
    for start in range(0, far.shape[0] - block + 1, block):
        if jump_at is not None and start == int(jump_at * RATE):
            room.delay_ms += jump_ms
        played = far[start : start + block]
        canceller.note_played(played.reshape(-1, 1), RATE)
        mic = room.microphone(played)
        mics.append(mic)
        outs.append(canceller.process(mic.reshape(-1, 1), RATE).reshape(-1))
    return np.concatenate(mics), np.concatenate(outs)


def window(signal: np.ndarray, start: float, end: float) -> np.ndarray:
    return signal[int(start * RATE) : int(end * RATE)]


@pytest.mark.parametrize("delay_ms", [40, 80])  # then 80 and 120 ms after the jump
def test_far_end_only_30_db_after_2_s_and_after_a_delay_jump(delay_ms: int) -> None:
    far = assistant(12.0)
    mic, cleaned = run_room(far, Room(RATE, delay_ms=delay_ms), jump_at=6.0)
    # One fixed render (assistant_voice): 35.6 and 34.5 dB from 2.5 s on. How fast AEC3 first converges
    # depends on the render; over 30 others, some stay under 30 dB until ~4 s (BENCHMARKS.md), which the
    # product's convergence gate covers. After the jump every render is back at 46 dB.
    assert erle_db(window(mic, 2.5, 6), window(cleaned, 2.5, 6)) >= 30
    assert erle_db(window(mic, 8, 12), window(cleaned, 8, 12)) >= 30  # 2 s after the jump, as at the start


def test_delay_estimate_finds_the_room_delay() -> None:
    far = assistant(4.0)
    mic = Room(RATE, delay_ms=90).microphone(far)
    assert estimate_delay_ms(far, mic, RATE) == pytest.approx(90, abs=2)
    assert estimate_delay_ms(far, np.random.default_rng(1).integers(-300, 300, far.shape[0]).astype(np.int16), RATE) is None


@pytest.fixture(scope="module")
def recognizer():
    from audio.speech.engines import Recognizer

    recognizer = Recognizer.load()
    if recognizer is None:
        pytest.skip("offline recognition is not installed (pip install 'voxflow[local]')")
    yield recognizer
    recognizer.close()


@pytest.mark.slow
def test_double_talk_then_barge_in_keeps_the_persons_words(recognizer) -> None:
    """A person talks over the assistant at its echo level; 0.5 s later the barge-in has silenced the speaker.

    Their first second (half of it over the reply) keeps its level within 6 dB,
    and the recogniser hears at least 3/4 of the words in the cleaned microphone
    that it hears in the person's voice alone. (Over a reply that keeps
    playing, WebRTC's suppressor lets through only a few of their words.)
    """
    far = assistant(12.0)
    echo = Room(RATE, delay_ms=70).echo(far)
    echo_rms = np.sqrt(np.mean(echo[np.abs(echo) > 0.01 * np.abs(echo).max()] ** 2))
    heard_alone = heard_cleaned = 0
    for clip in ("0870",):  # 21 words, 7 s
        reader = librivox(clip, RATE).astype(np.float64)
        voice = reader * echo_rms / np.sqrt(np.mean(reader**2))
        at = 4 * RATE  # the canceller has converged
        near = np.zeros(far.shape[0])
        near[at : at + voice.shape[0]] = voice
        played = far.copy()
        played[at + RATE // 2 :] = 0  # the barge-in stops the assistant half a second in
        mic = Room(RATE, delay_ms=70).microphone(played, near)
        cleaned, _ = cancel_pair(played, mic, RATE)
        span = slice(at - RATE // 4, at + voice.shape[0] + RATE // 4)
        words = set(normalize_words(" ".join(librivox_words(clip))))

        def recognised(signal: np.ndarray) -> int:
            pcm = np.clip(signal[span], -32768, 32767).astype(np.int16)
            return len(words & set(normalize_words(recognizer.recognize(resample(pcm, RATE, 16_000)))))

        heard_alone += recognised(near)
        heard_cleaned += recognised(cleaned)
        first_second = slice(at + RATE // 4, at + RATE + RATE // 4)  # their first words, half of it over the reply
        kept_db = 10 * np.log10(np.mean(cleaned[first_second].astype(np.float64) ** 2) / np.mean(near[first_second] ** 2))
        assert kept_db >= -6, kept_db  # not muted while the reply still plays (half duplex would be)
    assert heard_alone >= 12  # the recogniser itself does its job on the clean voice
    assert heard_cleaned >= 0.75 * heard_alone, (heard_cleaned, heard_alone)


REPLIES = ["Sure, here it is.", "The sun is out today.", "I can help with that."]


def run_gated(far: np.ndarray, room: Room, *, gate: bool, near: np.ndarray | None = None) -> tuple[np.ndarray, EchoCanceller]:
    canceller = EchoCanceller(gate=gate)
    canceller.attach_speaker()
    block = RATE // 50
    outs = []
    for start in range(0, far.shape[0] - block + 1, block):
        played = far[start : start + block]
        canceller.note_played(played.reshape(-1, 1), RATE)
        mic = room.microphone(played, None if near is None else near[start : start + block])
        outs.append(canceller.process(mic.reshape(-1, 1), RATE).reshape(-1))
    return np.concatenate(outs), canceller


def loudest_10ms_dbfs(signal: np.ndarray) -> float:
    frames = signal[: signal.shape[0] // 480 * 480].astype(np.float64).reshape(-1, 480)
    return float(10 * np.log10(np.max(np.mean(frames**2, axis=1)) / 32768**2 + 1e-10))


def three_replies(delay_ms: int, *, gate: bool, fresh: bool = False) -> tuple[np.ndarray, Scene]:
    """A fresh canceller over three short replies, the local server's turn detector on its output
    (``fresh``: a new eSpeak render of the replies, which differs slightly each time)."""
    speak = assistant_voice_rerendered if fresh else assistant_voice
    scene = Scene(lambda: EchoCanceller(gate=gate), delay_ms, speak)
    scene.run(0.5)
    scene.replies(3)
    return np.concatenate(scene.cleaned), scene


def test_while_converging_the_gate_mutes_what_aec3_leaks() -> None:
    """AEC3 leaks when it first locks onto the echo delay (~1 s into the first reply): at 70 ms up to -24..-38
    dBFS, depending on the eSpeak render, which the local server's VAD (Silero) mostly takes for speech.
    Through the convergence gate every 10 ms frame stays under -50 dBFS (measured -54..-70) and Silero
    under 0.3 (0.03-0.16)."""
    for delay_ms in (40, 70, 120):
        cleaned, scene = three_replies(delay_ms, gate=True)
        assert loudest_10ms_dbfs(cleaned) < -50, delay_ms
        assert max(SileroScorer(RATE).feed(cleaned)) < 0.3 and not scene.starts, delay_ms
        canceller = scene.canceller
        assert canceller is not None and canceller.converged and canceller.gate is not None
        assert canceller.gate.lag == pytest.approx(delay_ms / 10, abs=1)  # it found the echo delay (10 ms frames)
    leaks = []
    for _ in range(6):  # without it: the leak the gate is there for (it started speech in 4 of 5 renders)
        cleaned, scene = three_replies(70, gate=False, fresh=True)
        leaks.append(loudest_10ms_dbfs(cleaned))
        if scene.starts:
            break
    assert scene.starts and max(leaks) > -45, leaks


@pytest.mark.parametrize("delay_ms", [40, 120])
def test_while_converging_a_person_at_the_echo_level_gets_through(delay_ms: int) -> None:
    """Half a second into the very first reply a person talks at its echo's level: their first second keeps
    its level within 12 dB (measured 3.4-9.2 dB down, 1.5-4.7 without the gate; the echo guard it replaces
    let none of it through)."""
    reply = assistant_voice(REPLIES[1], RATE)
    far = np.concatenate([np.zeros(RATE // 2, dtype=np.int16), reply, np.zeros(3 * RATE, dtype=np.int16)])
    echo = Room(RATE, delay_ms=delay_ms).echo(reply)
    echo_rms = np.sqrt(np.mean(echo[np.abs(echo) > 0.01 * np.abs(echo).max()] ** 2))
    for clip in ("0880", "0920"):
        reader = librivox(clip, RATE).astype(np.float64)
        at = RATE
        near = np.zeros(far.shape[0])
        near[at : at + reader.shape[0]] = (reader * echo_rms / np.sqrt(np.mean(reader**2)))[: far.shape[0] - at]
        cleaned, canceller = run_gated(far, Room(RATE, delay_ms=delay_ms), gate=True, near=near)
        first_second = slice(at, at + RATE)
        kept_db = 10 * np.log10(np.mean(cleaned[first_second].astype(np.float64) ** 2) / np.mean(near[first_second] ** 2))
        assert kept_db >= -12, (clip, kept_db)
        assert canceller.gate is not None and canceller.gate.frames_muted > 0  # the gate did work meanwhile

