"""Hand-built results for the report tests: passing and failing runs, a tolerated failure, a dead run.

- ``weather in Paris`` (weather.yaml, pass_rate 0.8): 5 runs, run 5 misses its ``within``
  budget; 4/5 passed, so the scenario passes with one tolerated failure. A stubbed
  ``get_weather``; a judge PASS on every run.
- ``barge in`` (barge.yaml, pass_rate 1.0): run 1 passes, run 2's reply fails its regex and
  the caller said ``<script>``; the scenario fails. A judge FAIL with a reason.
- ``goodbye`` (weather.yaml, pass_rate 1.0): one run that died (``error``); fails.

Turn-1 latencies of ``weather in Paris`` are 0.5, 0.6, 0.7, 0.8, 2.0 s: p50 0.70, p90 1.52
(linear between ranks 3 and 4), max 2.00.

Recordings: ``write_stereo_wav`` (tones, caller then assistant: which side is which is easy to
measure) and ``write_speech_wav`` (real read sentences in turn: what the page's Opus copy costs).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from audio.dsp.wavfile import WavWriter
from flow.scenarios.results import Check, Run, Scenario, Suite, ToolCall, Turn
from tests.real_speech import LIBRIVOX, require

SCRIPT_TEXT = "<script>alert('caller')</script> & \"quotes\""
WEATHER_LATENCIES = (0.5, 0.6, 0.7, 0.8, 2.0)


def write_stereo_wav(path: Path, seconds: float = 1.5, rate: int = 24_000) -> Path:
    """A real stereo recording: a 440 Hz caller on the left, a 660 Hz assistant on the right, after it."""
    t = np.arange(int(seconds * rate)) / rate
    left = np.where(t < seconds / 2, 0.4 * np.sin(2 * np.pi * 440 * t), 0.0)
    right = np.where(t >= seconds / 2, 0.4 * np.sin(2 * np.pi * 660 * t), 0.0)
    frames = (np.stack([left, right], axis=1) * 32767).astype(np.int16)
    with WavWriter(path, rate, 2) as writer:
        writer.write(frames)
    return path


def write_speech_wav(path: Path, seconds: float = 30.0, rate: int = 24_000) -> Path:
    """A conversation-like stereo recording: real sentences, caller (left) and assistant (right) in turn, 0.5 s apart."""
    require(LIBRIVOX)
    clips = [clip.load(rate=rate) for clip in LIBRIVOX]  # five read sentences of 3-7 s
    frames = np.zeros((int(seconds * rate), 2), dtype=np.int16)
    position, turn = 0, 0
    while position < frames.shape[0]:
        clip = clips[turn % len(clips)].reshape(-1)[:frames.shape[0] - position]
        frames[position:position + clip.shape[0], turn % 2] = clip
        position += clip.shape[0] + rate // 2
        turn += 1
    with WavWriter(path, rate, 2) as writer:
        writer.write(frames)
    return path


def weather_run(number: int, recording: str | None = None) -> Run:
    latency = WEATHER_LATENCIES[number - 1]
    within_ok = latency <= 1.0
    call = ToolCall("get_weather", {"city": "Paris"}, '{"forecast": "sunny"}', stubbed=True)
    turn = Turn(
        index=1, said="What's the weather in Paris today?", heard="what's the weather in paris today",
        reply="It is sunny in Paris.", caller_start_s=0.2, caller_end_s=1.6, reply_start_s=1.6 + latency,
        reply_end_s=3.9 + latency, latency_s=latency, tool_calls=(call,),
        checks=(
            Check("tool", True, "get_weather {city: Paris}", "get_weather {city: Paris}", 1.7),
            Check("reply", True, "(?i)paris", "It is sunny in Paris.", 1.6 + latency),
            Check("within", within_ok, "<= 1.00s", f"{latency:.2f}s", 1.6 + latency),
            Check("judge", True, "the assistant names the city", "PASS", deterministic=False,
                  reason="the reply says Paris"),
        ),
    )
    thanks = Turn(index=2, said="audio/thanks.wav", heard="thanks", reply="Goodbye!", latency_s=0.4 + number / 100,
                  caller_start_s=5.0, caller_end_s=5.6, reply_start_s=6.0, reply_end_s=6.8,
                  checks=(Check("no_tool", True, "no tool call", "none"),))
    transcript = (
        {"item_id": "u1", "role": "user", "text": "what's the weather in paris today", "start": 0.2, "end": 1.6, "final": True},
        {"item_id": "c1", "role": "tool", "text": "", "start": 1.65, "end": 1.7, "final": True,
         "tool": {"call_id": "c1", "name": "get_weather", "arguments": '{"city": "Paris"}', "status": "done",
                  "duration": 0.01, "result": '{"forecast": "sunny"}'}},
        {"item_id": "a1", "role": "assistant", "text": "It is sunny in Paris.", "start": 1.6 + latency, "end": 3.9,
         "final": True},
        {"item_id": "u2", "role": "user", "text": "thanks", "start": 5.0, "end": 5.6, "final": True},
        {"item_id": "a2", "role": "assistant", "text": "Goodbye!", "start": 6.0, "end": 6.8, "final": True},
    )
    return Run("weather in Paris", "weather.yaml", number, seed=1000 + number, turns=(turn, thanks),
               duration_s=7.0 + number / 10, recording=recording, transcript=transcript)


def barge_run(number: int, recording: str | None = None) -> Run:
    passed = number == 1
    reply = "Sure, booking it now" if passed else "I cannot help with that"
    turn = Turn(
        index=1, said=SCRIPT_TEXT if not passed else "Book a table", heard=SCRIPT_TEXT if not passed else "book a table",
        reply=reply, interrupted=True, caller_start_s=0.3, caller_end_s=1.2, reply_start_s=1.9, reply_end_s=2.9,
        latency_s=0.7,
        checks=(
            Check("reply", passed, "(?i)book", reply, 1.9),
            Check("interrupted", True, "true", "true", 2.9),
            Check("judge", passed, "the assistant confirms the booking", "PASS" if passed else "FAIL",
                  deterministic=False, reason="it said booking" if passed else "it refused instead of booking"),
        ),
    )
    transcript = (
        {"item_id": "u1", "role": "user", "text": turn.heard, "start": 0.3, "end": 1.2, "final": True},
        {"item_id": "a1", "role": "assistant", "text": reply, "start": 1.9, "end": 2.9, "final": True, "interrupted": True},
    )
    return Run("barge in", "barge.yaml", number, seed=2000 + number, turns=(turn,), duration_s=3.5,
               recording=recording, transcript=transcript)


def goodbye_run() -> Run:
    return Run("goodbye", "weather.yaml", 1, seed=3001, error="goodbye run 1: the session died: connection lost at 2.1s",
               duration_s=2.1)


def scenarios(recording: str | None = None) -> tuple[Scenario, ...]:
    return (
        Scenario("weather in Paris", "weather.yaml", 0.8, tuple(weather_run(n, recording) for n in range(1, 6))),
        Scenario("barge in", "barge.yaml", 1.0, (barge_run(1, recording), barge_run(2, recording))),
        Scenario("goodbye", "weather.yaml", 1.0, (goodbye_run(),)),
    )


def suite(recording: str | None = None, **fields: object) -> Suite:
    values: dict = {"provider": "local", "transport": "webrtc", "jobs": 2, "started_at": "2026-12-07T14:00:00Z",
                    "duration_s": 42.0}
    values.update(fields)
    return Suite(scenarios=scenarios(recording), **values)


def passing_suite() -> Suite:
    return Suite(scenarios=(Scenario("weather in Paris", "weather.yaml", 0.5,
                                     tuple(weather_run(n) for n in (1, 2))),), duration_s=5.0)
