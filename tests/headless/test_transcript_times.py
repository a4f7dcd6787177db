"""A transcript says when the person spoke, not when the words were recognised.

A headless run (a real subprocess, the local server with its real VAD and
recogniser) plays a real recording: two LibriVox sentences with a pause
between. Where each sentence's voice begins and ends on the session clock is
read off the ``--record`` file (the user's side is what was sent, on the
transcript's clock: found by cross-correlating it with the sentence, then its
voiced stretch measured there, since a loaded machine can send a sentence
slower than it was recorded). Each sentence's user turn must start and end
within 0.3 s of that, and its transcription arrived after it ended.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from audio.dsp.wavfile import WavWriter
from tests.headless.test_run_headless import mic_flow, read_wav, voxflow
from tests.real_speech import LIBRIVOX, require, resample, silence

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

RATE = 16_000
TOLERANCE = 0.3


def speech_span(pcm: np.ndarray) -> tuple[float, float]:
    """First and last 20 ms window within 20 dB of the loudest one (the recordings hiss 25 dB down): the voice, in seconds."""
    window = RATE // 50
    frames = pcm[: len(pcm) // window * window].astype(np.float64).reshape(-1, window)
    level = 10 * np.log10(np.mean(frames**2, axis=1) + 1e-9)
    voiced = np.flatnonzero(level > level.max() - 20)
    return voiced[0] / 50, (voiced[-1] + 1) / 50


def where_in(recorded: np.ndarray, sent: np.ndarray) -> float:
    """Seconds into ``recorded`` at which ``sent`` begins (both 16 kHz mono), by cross-correlation."""
    size = 1 << int(np.ceil(np.log2(len(recorded) + len(sent))))
    spectrum = np.fft.rfft(recorded.astype(np.float64), size) * np.conj(np.fft.rfft(sent.astype(np.float64), size))
    correlation = np.fft.irfft(spectrum, size)[: len(recorded)]
    return int(np.argmax(correlation)) / RATE


def test_user_turns_span_the_speech_on_the_recordings_clock(tmp_path: Path) -> None:
    require(LIBRIVOX)
    first, second = sorted(LIBRIVOX, key=lambda clip: clip.seconds)[1:3]  # 3.3 s and 5.3 s sentences
    sentences = [first.load(RATE), second.load(RATE)]
    writer = WavWriter(tmp_path / "talk.wav", RATE, 1)
    for part in (silence(1.0, RATE), sentences[0], silence(2.5, RATE), sentences[1], silence(1.5, RATE)):
        writer.write(part.reshape(-1, 1))
    writer.close()

    run = voxflow(str(mic_flow(tmp_path)), "--headless", "--input", "talk.wav", "--output", "reply.wav",
                  "--record", "both.wav", "--transcript", "talk.jsonl", cwd=tmp_path, timeout=170)
    assert run.returncode == 0, run.stderr

    both, rate, _ = read_wav(tmp_path / "both.wav")
    sent = resample(both[:, 0], rate, RATE)  # the user's side: what was sent, on the session clock
    turns = [json.loads(line) for line in (tmp_path / "talk.jsonl").read_text().splitlines()]
    users = [turn for turn in turns if turn["role"] == "user"]
    assert users and all(turn["final"] and "transcribed_at" in turn for turn in users), turns
    placed = [where_in(sent, sentence) for sentence in sentences]
    for k, at in enumerate(placed):
        until = placed[k + 1] if k + 1 < len(placed) else len(sent) / RATE
        onset, end = (at + t for t in speech_span(sent[round(at * RATE):round(until * RATE)]))
        mine = [turn for turn in users if turn["start"] < end and turn["end"] > onset]  # a pause may split one
        assert mine, f"no user turn for the speech from {onset:.2f} to {end:.2f} s: {users}"
        spans = [(turn["start"], turn["end"]) for turn in users]
        assert abs(mine[0]["start"] - onset) <= TOLERANCE, f"speech {onset:.2f}-{end:.2f} s, user turns {spans}"
        assert abs(mine[-1]["end"] - end) <= TOLERANCE, f"speech {onset:.2f}-{end:.2f} s, user turns {spans}"
        assert all(turn["transcribed_at"] >= turn["end"] for turn in mine), mine
