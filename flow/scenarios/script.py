"""One run's caller script: every turn's audio rendered up front, disturbances included, from the run's seed.

Rendering before the call means the caller only has to decide *when* to speak
while the conversation runs; *what* it sends is fixed by (scenario, seed), so
two runs with one seed send the same audio bit for bit. A run's seed is the
scenario's ``seed`` plus the run's index, or else derived from the file's
``seed``, the scenario's name and the run's index: every repeat is a
different, reproducible call.
"""

from __future__ import annotations

import hashlib
import statistics
from dataclasses import dataclass

import numpy as np

from flow.scenarios.disturbances import (
    NoiseBed,
    add_noise,
    backchannel_moment,
    noise_level,
    rng,
    speech_rms,
    through_line,
)
from flow.scenarios.loader import ScenarioFile
from flow.scenarios.spec import Expect, ScenarioSpec
from flow.scenarios.voice import CallerVoice


def run_seed(file_seed: int, scenario: ScenarioSpec, run: int) -> int:
    """The seed of ``scenario``'s ``run``-th run (1-based)."""
    if scenario.seed is not None:
        return scenario.seed + run - 1
    digest = hashlib.sha256(f"{file_seed}\0{scenario.name}\0{run}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass(frozen=True)
class CallerTurn:
    index: int  # 1-based
    said: str  # the text, or the recording's path as written
    audio: np.ndarray
    text: str | None = None  # what is said, when known (a text turn's say)
    silence_before: float = 0.0
    interrupt_after: float | None = None  # the next turn barges in this long into this turn's reply
    backchannel: np.ndarray | None = None
    backchannel_after: float | None = None
    expect: Expect = Expect()


@dataclass(frozen=True)
class CallerScript:
    seed: int
    rate: int
    pause: float
    turns: tuple[CallerTurn, ...]
    background_level: float = 0.0  # RMS (full scale 1.0) of the background noise; 0: none
    background_recording: np.ndarray | None = None

    def background(self) -> NoiseBed | None:
        """A fresh background noise for one call (same seed: the same noise)."""
        if self.background_level <= 0:
            return None
        return NoiseBed(self.background_level, rng(self.seed, "background"), self.background_recording)


async def render_script(file: ScenarioFile, scenario: ScenarioSpec, seed: int, voice: CallerVoice) -> CallerScript:
    """The caller's audio for one run of ``scenario``."""
    rate = voice.rate
    clean: list[np.ndarray] = []
    turns: list[CallerTurn] = []
    line = scenario.line
    for index, spec in enumerate(scenario.turns, start=1):
        audio = await (voice.say(spec.say) if spec.say is not None else voice.recording(file.resolve(str(spec.say_file))))
        clean.append(audio)
        if spec.noise is not None:
            recording = await voice.recording(file.resolve(spec.noise.file)) if spec.noise.file else None
            audio = add_noise(audio, rate, spec.noise.snr, rng(seed, "noise", index), recording)
        backchannel, after = None, None
        if spec.backchannel is not None:
            backchannel = await voice.say(spec.backchannel.say)
            after = spec.backchannel.after if spec.backchannel.after is not None else backchannel_moment(seed, index)
        if line is not None:
            audio = through_line(audio, rate, line.loss, line.jitter, _line_seed(seed, index))
            if backchannel is not None:
                backchannel = through_line(backchannel, rate, line.loss, line.jitter, _line_seed(seed, -index))
        following = scenario.turns[index] if index < len(scenario.turns) else None
        barge_in = following.interrupt_after if following is not None else None
        turns.append(CallerTurn(index, spec.said, audio, spec.say, spec.silence_before, barge_in,
                                backchannel, after, spec.expect))
    level, recording = 0.0, None
    if scenario.noise is not None:
        speech = statistics.median(speech_rms(audio, rate) for audio in clean)
        level = noise_level(speech, scenario.noise.snr)
        recording = await voice.recording(file.resolve(scenario.noise.file)) if scenario.noise.file else None
    return CallerScript(seed, rate, file.spec.caller.pause, tuple(turns), level, recording)


def _line_seed(seed: int, turn: int) -> int:
    return int(rng(seed, "line", turn).integers(0, 2**31))
