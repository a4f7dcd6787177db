"""Seeded disturbances: the same seed gives the same caller audio bit for bit, another seed another; levels hold."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from flow.scenarios.disturbances import add_noise, backchannel_moment, rng, speech_rms, through_line
from flow.scenarios.loader import load_scenarios
from flow.scenarios.script import render_script, run_seed
from flow.scenarios.voice import CallerVoice

ROOT = Path(__file__).resolve().parents[2]
RATE = 24_000
SPEECH = ROOT / "tests" / "data" / "speech_weather_today.wav"


def voice_like(seconds: float = 2.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = (np.sin(2 * np.pi * 3 * t) > 0).astype(float)  # syllables and pauses
    return (np.sin(2 * np.pi * 180 * t) * 9000 * envelope).astype(np.int16)


def test_noise_sits_at_the_asked_snr_below_the_speech() -> None:
    speech = voice_like()
    for snr in (0.0, 10.0, 20.0):
        noisy = add_noise(speech, RATE, snr, rng(3, "noise"))
        noise = noisy.astype(np.float64) - speech
        measured = 20 * np.log10(speech_rms(speech, RATE) / (np.sqrt(np.mean((noise / 32768) ** 2))))
        assert measured == pytest.approx(snr, abs=0.5)


def test_a_recording_as_noise_is_looped_from_a_seeded_offset() -> None:
    recording = (np.random.default_rng(0).standard_normal(RATE // 2) * 3000).astype(np.int16)
    speech = voice_like(2.0)
    one = add_noise(speech, RATE, 10, rng(1, "n"), recording)
    assert np.array_equal(one, add_noise(speech, RATE, 10, rng(1, "n"), recording))
    assert not np.array_equal(one, add_noise(speech, RATE, 10, rng(2, "n"), recording))
    noise = one.astype(np.int32) - speech
    period = len(recording)
    assert np.array_equal(noise[1000:1000 + period], noise[1000 + period:1000 + 2 * period])  # looped


def test_a_bad_line_loses_about_its_share_of_packets_reproducibly() -> None:
    speech = voice_like(4.0)
    played = through_line(speech, RATE, loss=0.2, jitter=0.0, seed=9)
    assert np.array_equal(played, through_line(speech, RATE, loss=0.2, jitter=0.0, seed=9))
    assert not np.array_equal(played, through_line(speech, RATE, loss=0.2, jitter=0.0, seed=10))
    frames = speech[: len(speech) // 480 * 480].reshape(-1, 480)
    loud = np.abs(frames).max(axis=1) > 0
    out = played[: len(frames) * 480].reshape(-1, 480)
    lost = [i for i in range(len(frames)) if loud[i] and not np.abs(out[i]).max()]
    assert 0.12 < len(lost) / loud.sum() < 0.28
    assert np.array_equal(through_line(speech, RATE, 0.0, 0.0, 1), speech)  # a clean line is no line


def test_jitter_alone_keeps_the_words_and_may_delay_them() -> None:
    speech = voice_like(3.0)
    played = through_line(speech, RATE, loss=0.0, jitter=0.03, seed=4)
    assert abs(len(played) - len(speech)) < RATE * 0.3
    assert speech_rms(played, RATE) == pytest.approx(speech_rms(speech, RATE), rel=0.1)


def test_backchannel_moments_are_seeded_within_the_window() -> None:
    moments = {backchannel_moment(seed, 1) for seed in range(20)}
    assert len(moments) == 20 and all(0.3 <= m <= 0.9 for m in moments)
    assert backchannel_moment(5, 2) == backchannel_moment(5, 2)


async def test_a_scenario_renders_to_the_same_audio_for_the_same_seed(tmp_path: Path) -> None:
    (tmp_path / "speech.wav").write_bytes(SPEECH.read_bytes())
    path = tmp_path / "s.yaml"
    path.write_text(f"""version: 1
flow: {ROOT / 'flows' / 'demo.yaml'}
scenarios:
  - name: messy
    noise: {{snr: 25}}
    line: {{loss: 0.05, jitter: 10ms}}
    turns:
      - say: Hello there, is anybody home?
        noise: {{snr: 15, file: speech.wav}}
        backchannel: true
      - say_file: speech.wav
""")
    file = load_scenarios(path)
    scenario = file.spec.scenarios[0]
    voice = CallerVoice(file.espeak_voice)
    seeds = [run_seed(file.spec.seed, scenario, run) for run in (1, 1, 2)]
    assert seeds[0] == seeds[1] != seeds[2]
    first, again, other = [await render_script(file, scenario, seed, voice) for seed in seeds]
    for a, b in zip(first.turns, again.turns, strict=True):
        assert np.array_equal(a.audio, b.audio) and a.backchannel_after == b.backchannel_after
        assert (a.backchannel is None) == (b.backchannel is None)
    assert np.array_equal(first.background().take(RATE), again.background().take(RATE))  # type: ignore[union-attr]
    assert not np.array_equal(first.turns[0].audio, other.turns[0].audio)
    assert first.turns[0].backchannel_after != other.turns[0].backchannel_after
    assert first.turns[0].text == "Hello there, is anybody home?" and first.turns[1].text is None


async def test_a_barge_in_is_timed_from_the_reply_it_cuts(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(f"""version: 1
flow: {ROOT / 'flows' / 'demo.yaml'}
scenarios:
  - name: barge
    turns: [{{say: tell me a story}}, {{say: stop, interrupt_after: 1.5s}}, {{say: thanks}}]
""")
    file = load_scenarios(path)
    script = await render_script(file, file.spec.scenarios[0], 1, CallerVoice(file.espeak_voice))
    assert [turn.interrupt_after for turn in script.turns] == [1.5, None, None]  # turn 2 cuts turn 1's reply
