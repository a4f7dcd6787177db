"""The echo canceller in a simulated room (RT60 0.3 s, 40-120 ms delay, soft clipping), with real speech.

The assistant's voice is the local server's eSpeak; the person is a LibriVox
reader. Far end only, the canceller removes at least 30 dB of echo from 2 s on,
and again from 2 s after the echo path jumps by 40 ms. In double talk the
person's words survive (pocketsphinx still recognises them).
"""

from __future__ import annotations

import numpy as np
import pytest

from audio.echo_cancel import EchoCanceller
from audio.echo_pair import cancel_pair, estimate_delay_ms
from tests.echo.room import Room, assistant_voice, erle_db, librivox, librivox_words, resample

RATE = 48_000
ASSISTANT = "The weather today is sunny with a light breeze from the west. Tomorrow brings rain in the afternoon and cooler evenings."


def assistant(seconds: float) -> np.ndarray:
    voice = assistant_voice(ASSISTANT, RATE)
    return np.tile(voice, int(seconds * RATE) // voice.shape[0] + 1)[: int(seconds * RATE)]


def run_room(far: np.ndarray, room: Room, jump_at: float | None = None, jump_ms: float = 40.0) -> tuple[np.ndarray, np.ndarray]:
    """Play ``far`` in ``room`` block by block (20 ms, as the devices do); returns (mic, cleaned)."""
    canceller = EchoCanceller()
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


@pytest.mark.parametrize("delay_ms", [40, 120])
def test_far_end_only_30_db_after_2_s_and_after_a_delay_jump(delay_ms: int) -> None:
    far = assistant(12.0)
    mic, cleaned = run_room(far, Room(RATE, delay_ms=delay_ms - 40 if delay_ms == 120 else delay_ms), jump_at=6.0)
    assert erle_db(window(mic, 2, 6), window(cleaned, 2, 6)) >= 30
    assert erle_db(window(mic, 8, 12), window(cleaned, 8, 12)) >= 30  # 2 s after the jump, as at the start
    assert erle_db(window(mic, 0, 0.5), window(mic, 0, 0.5)) == 0  # (the measure itself: nothing removed is 0 dB)


def test_delay_estimate_finds_the_room_delay() -> None:
    far = assistant(4.0)
    mic = Room(RATE, delay_ms=90).microphone(far)
    assert estimate_delay_ms(far, mic, RATE) == pytest.approx(90, abs=2)
    assert estimate_delay_ms(far, np.random.default_rng(1).integers(-300, 300, far.shape[0]).astype(np.int16), RATE) is None


@pytest.fixture(scope="module")
def recognizer():
    from audio.realtime.server.speech import Recognizer

    recognizer = Recognizer.load()
    if recognizer is None:
        pytest.skip("pocketsphinx is not installed")
    yield recognizer
    recognizer.close()


def test_double_talk_keeps_the_persons_words(recognizer) -> None:
    far = assistant(9.0)
    echo = Room(RATE, delay_ms=70).echo(far)
    reader = librivox("0880", RATE).astype(np.float64)  # "he was not an ill disposed young man"
    voice = reader * np.sqrt(np.mean(echo[np.abs(echo) > 0.01 * np.abs(echo).max()] ** 2) / np.mean(reader**2))
    at = 4 * RATE  # after the canceller has converged, over the assistant's voice, as loud as its echo
    near = np.zeros(far.shape[0])
    near[at : at + voice.shape[0]] = voice
    mic = Room(RATE, delay_ms=70).microphone(far, near)
    cleaned, _ = cancel_pair(far, mic, RATE)
    span = slice(at - RATE // 4, at + voice.shape[0] + RATE // 4)
    words = set(librivox_words("0880"))
    heard = set(recognizer.recognize(resample(cleaned[span], RATE, 16_000)).split())
    assert len(words & heard) >= 5, heard
    echo_only = Room(RATE, delay_ms=70).microphone(far)  # the control: the echo alone says none of them
    assert len(words & set(recognizer.recognize(resample(echo_only[span], RATE, 16_000)).split())) <= 2
