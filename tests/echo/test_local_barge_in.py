"""The local barge-in's state machine, on a fake clock and a scripted scorer (the live figures: test_barge_in.py)."""

from __future__ import annotations

import numpy as np
import pytest

from audio.base.clock import FakeClock
from audio.dsp.pipe import AudioPipe
from audio.echo.echo_guard import EchoGuard
from audio.echo.echo_setup import plan_echo
from audio.echo.local_barge_in import HOLD_SECONDS, MAX_HOLD_SECONDS, QUIET_SECONDS, LocalBargeIn
from tests.echo.devices import SimulatedDevices
from tests.echo.room import Room

LOUD = np.full((960, 1), 3000, dtype=np.int16)
QUIET = np.zeros((960, 1), dtype=np.int16)


class ScriptedScorer:
    """A :class:`~audio.speech.speech_probability.SpeechScorer` whose next scores the test sets."""

    window_ms = 32.0

    def __init__(self) -> None:
        self.next: list[float] = []
        self.fed = 0

    def feed(self, pcm: np.ndarray) -> list[float]:
        self.fed += 1
        scores, self.next = self.next, []
        return scores


class FakeTime:
    """A monotonic clock the test moves by hand (the detector reads it; nothing sleeps on it)."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Rig:
    def __init__(self) -> None:
        self.clock = FakeTime()
        self.pipe = AudioPipe(24_000, 1)
        self.seen: list[bool] = []
        self.pipe.add_hold_listener(self.seen.append)
        self.scorer = ScriptedScorer()
        self.barge_in = LocalBargeIn(self.pipe, 0.5, scorer=lambda rate: self.scorer, now=self.clock.monotonic)

    def hear(self, *scores: float, seconds: float = 0.02) -> None:
        """The assistant plays a loud block, then the microphone hands over a block scored ``scores``."""
        self.barge_in.played(LOUD, 48_000)
        self.scorer.next = list(scores)
        self.barge_in.heard(QUIET, 48_000)
        self.clock.advance(seconds)


@pytest.mark.timeout(60)
def test_sustained_speech_holds_one_window_does_not() -> None:
    rig = Rig()
    rig.hear(0.9)
    rig.hear(0.2, 0.9)
    rig.hear(0.4)
    assert not rig.pipe.held and rig.barge_in.holds == 0  # lone windows over the threshold
    rig.hear(0.5)
    rig.hear(0.6)
    assert rig.pipe.held and rig.seen == [True] and rig.barge_in.holds == 1


@pytest.mark.timeout(60)
def test_no_confirmation_releases_after_the_timeout() -> None:
    rig = Rig()
    rig.hear(0.9, 0.9)
    held_at = rig.clock.monotonic() - 0.02
    rig.hear(0.1)
    while rig.clock.monotonic() < held_at + HOLD_SECONDS - 0.03:
        rig.hear(0.1)
        assert rig.pipe.held
    rig.hear(0.1, seconds=0.05)
    rig.hear(0.1)
    assert not rig.pipe.held and rig.seen == [True, False]
    assert (rig.barge_in.holds, rig.barge_in.confirmed, rig.barge_in.released) == (1, 0, 1)
    rig.hear(0.9, 0.9)
    assert not rig.pipe.held  # speech right after the release does not hold again
    rig.hear(0.1)
    rig.hear(0.9, 0.9)
    assert rig.pipe.held and rig.barge_in.holds == 2  # after a pause it does


@pytest.mark.timeout(60)
def test_while_they_talk_the_hold_waits_for_the_service_up_to_its_maximum() -> None:
    """A slow service (a loaded machine) must not let the reply resume over a person still talking."""
    rig = Rig()
    rig.hear(0.9, 0.9)
    held_at = rig.clock.monotonic() - 0.02
    while rig.clock.monotonic() < held_at + HOLD_SECONDS + 0.5:
        rig.hear(0.9)
    assert rig.pipe.held and rig.barge_in.released == 0  # past HOLD_SECONDS, but they are still talking
    paused_at = rig.clock.monotonic()
    while rig.clock.monotonic() < paused_at + QUIET_SECONDS - 0.05:
        rig.hear(0.1)
        assert rig.pipe.held  # a pause between words is not the end of their talking
    rig.hear(0.1, seconds=0.05)
    rig.hear(0.1)
    assert not rig.pipe.held and rig.barge_in.released == 1  # a real pause after the timeout: released
    rig.hear(0.1)
    rig.hear(0.9, 0.9)
    held_at = rig.clock.monotonic() - 0.02
    while rig.clock.monotonic() < held_at + MAX_HOLD_SECONDS - 0.03:
        rig.hear(0.9)
        assert rig.pipe.held
    rig.hear(0.9, seconds=0.05)
    rig.hear(0.9)
    assert not rig.pipe.held and rig.barge_in.released == 2  # speech without the service's word: the maximum
    rig.hear(0.9, 0.9)
    assert not rig.pipe.held  # the same stretch of speech does not hold again


@pytest.mark.timeout(60)
def test_the_services_barge_in_confirms_the_hold() -> None:
    rig = Rig()
    rig.hear(0.9, 0.9)
    assert rig.pipe.held
    rig.pipe.flush()  # speech_started: the session flushes the pipe
    assert not rig.pipe.held and (rig.barge_in.holds, rig.barge_in.confirmed) == (1, 1)
    rig.clock.advance(2 * HOLD_SECONDS)
    rig.hear(0.9, 0.9)
    assert rig.barge_in.released == 0 and rig.seen == [True]  # nothing to release, and no hold while they talk on


@pytest.mark.timeout(60)
def test_no_hold_when_the_service_heard_them_first() -> None:
    rig = Rig()
    rig.hear(0.9)
    rig.pipe.flush()  # speech_started before the detector made up its mind
    rig.hear(0.9, 0.9)
    rig.hear(0.9)
    assert not rig.pipe.held and rig.barge_in.holds == 0  # the reply is already gone: nothing to hold


@pytest.mark.timeout(60)
def test_inactive_when_nothing_is_playing() -> None:
    rig = Rig()
    for _ in range(10):
        rig.scorer.next = [0.9, 0.9]
        rig.barge_in.played(QUIET, 48_000)  # the speaker plays silence
        rig.barge_in.heard(QUIET, 48_000)
        rig.clock.advance(0.02)
    assert not rig.pipe.held
    rig.barge_in.played(LOUD, 48_000)  # the assistant's last word...
    rig.clock.advance(0.31)  # ...is over
    rig.scorer.next = [0.9, 0.9]
    rig.barge_in.heard(QUIET, 48_000)
    assert not rig.pipe.held and rig.barge_in.holds == 0
    rig.hear(0.9, 0.9)
    assert rig.pipe.held  # the bite: the same speech over the assistant holds


@pytest.mark.timeout(60)
def test_attach_runs_the_detector_on_the_cleaned_microphone() -> None:
    devices = SimulatedDevices(Room(48_000))
    setup = plan_echo("aec", devices)
    pipe = AudioPipe(24_000, 1)
    setup.attach(devices, pipe, EchoGuard(FakeClock(), enabled=False), vad_threshold=0.7)
    barge_in = setup.barge_in
    assert barge_in is not None and barge_in.threshold == 0.7 and barge_in.played in pipe.playback_taps
    scorer = ScriptedScorer()
    barge_in._make_scorer = lambda rate: scorer
    assert devices.capture_processor is not None
    devices.capture_processor(QUIET, 48_000)
    assert scorer.fed == 0  # no speaker yet: nothing is cancelled, nothing to barge in on
    for notify in pipe.on_speaker:
        notify()
    devices.capture_processor(QUIET, 48_000)
    assert scorer.fed == 1
    setup.detach(devices)
    assert devices.capture_processor is None
    push_to_talk = plan_echo("aec", devices)
    push_to_talk.attach(devices, AudioPipe(24_000, 1), EchoGuard(FakeClock(), enabled=False), vad_threshold=None)
    assert push_to_talk.barge_in is None
