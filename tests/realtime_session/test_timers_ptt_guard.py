"""Timers with a fake clock, the push-to-talk machine, and the echo guard's arithmetic."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

from audio.base.clock import FakeClock
from audio.dsp.levels import rms_dbfs
from audio.echo.echo_guard import EchoGuard
from audio.session.events import PttState
from audio.session.ptt import TOO_SHORT, PushToTalk
from audio.session.timers import SessionTimer


async def test_timer_ticks_warns_and_caps() -> None:
    clock = FakeClock()
    timer = SessionTimer(clock, 180.0)
    ticks: list[tuple[float, float, bool]] = []
    warnings: list[float] = []
    capped: list[float] = []
    task = asyncio.create_task(timer.run(lambda e, r, w: ticks.append((e, r, w)), warnings.append,
                                         lambda: capped.append(clock.monotonic())))
    await asyncio.sleep(0)
    await clock.advance(3)
    assert [t[0] for t in ticks] == [1, 2, 3] and ticks[-1][1] == 177 and not ticks[-1][2]
    await clock.advance(117)
    assert warnings == [60.0] and ticks[-1][2]
    await clock.advance(60)
    await asyncio.wait_for(task, 5)
    assert capped == [180.0] and len(ticks) == 180 and ticks[-1][1] == 0


class Recorder:
    def __init__(self) -> None:
        self.sent: list[str] = []
        self.gate: list[bool] = []
        self.flushes = 0
        self.states: list[PttState] = []
        self.notices: list[str] = []
        self.busy = False

    def machine(self, clock: FakeClock) -> PushToTalk:
        def flush() -> None:
            self.flushes += 1

        return PushToTalk(
            clock=clock, send=lambda e: self.sent.append(e["type"]), set_gate=self.gate.append,
            flush_playback=flush, assistant_busy=lambda: self.busy,
            on_state=self.states.append, on_notice=self.notices.append,
        )


async def test_ptt_turn_with_tail_commits() -> None:
    clock, rec = FakeClock(), Recorder()
    ptt = rec.machine(clock)
    await ptt.toggle()
    assert rec.sent == ["input_audio_buffer.clear"] and rec.gate == [True] and ptt.state is PttState.TALKING
    for _ in range(10):
        ptt.captured(20)
    release = asyncio.create_task(ptt.toggle())
    await asyncio.sleep(0)
    assert ptt.state is PttState.SENDING and rec.gate == [True]
    await ptt.toggle()  # ignored while the tail is sent
    await clock.advance(0.2)
    assert rec.gate == [True] and "input_audio_buffer.commit" not in rec.sent
    await clock.advance(0.05)
    await asyncio.wait_for(release, 5)
    assert rec.gate == [True, False]
    assert rec.sent == ["input_audio_buffer.clear", "input_audio_buffer.commit", "response.create"]
    assert rec.states == [PttState.TALKING, PttState.SENDING, PttState.OFF]


async def test_ptt_tap_sends_nothing_and_says_so() -> None:
    clock, rec = FakeClock(), Recorder()
    ptt = rec.machine(clock)
    await ptt.toggle()
    ptt.captured(80)
    release = asyncio.create_task(ptt.toggle())
    await asyncio.sleep(0)
    await clock.advance(0.25)
    await asyncio.wait_for(release, 5)
    assert rec.sent == ["input_audio_buffer.clear"] and rec.notices == [TOO_SHORT]
    assert ptt.state is PttState.OFF


async def test_ptt_barge_in_order() -> None:
    clock, rec = FakeClock(), Recorder()
    rec.busy = True
    ptt = rec.machine(clock)
    await ptt.toggle()
    assert rec.sent == ["response.cancel", "output_audio_buffer.clear", "input_audio_buffer.clear"]
    assert rec.flushes == 1 and rec.gate == [True]


def tone(freq: float, dbfs: float, n: int, start: int = 0, rate: int = 24000) -> np.ndarray:
    t = (np.arange(n) + start) / rate
    amplitude = 32767 * 10 ** (dbfs / 20) * np.sqrt(2)
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.int16).reshape(-1, 1)


async def test_echo_guard_blocks_delayed_echo_but_passes_the_user() -> None:
    clock = FakeClock()
    guard = EchoGuard(clock)
    frame, delay_frames = 480, 6  # 20 ms frames at 24 kHz, 120 ms speaker-to-mic delay
    played: list[np.ndarray] = []
    rng = np.random.default_rng(1)
    passed_echo = 0
    for i in range(100):
        out = tone(220, -12, frame, i * frame) * (1 + (i // 10) % 2)  # syllable-like level changes
        guard.note_playback(out)
        played.append(out)
        echo = played[i - delay_frames] if i >= delay_frames else np.zeros_like(out)
        mic = (echo * 10 ** (-20 / 20) + rng.normal(0, 30, echo.shape)).astype(np.int16)
        result = guard.process(mic)
        passed_echo += int(np.any(result))
        await clock.advance(0.02)
    assert passed_echo == 0
    # the user talks over the assistant at a normal speaking level: gets through within a frame
    out = tone(220, -12, frame)
    guard.note_playback(out)
    user = tone(700, -15, frame).astype(np.int32) + (out * 10 ** (-20 / 20)).astype(np.int32)
    result = guard.process(np.clip(user, -32768, 32767).astype(np.int16))
    assert rms_dbfs(result) > -16 and guard.coupling() < -12  # learned the room, not the -6 dB default
    # after the speaker has been quiet for the window, everything passes again
    await clock.advance(1.0)
    quiet = tone(300, -40, frame)
    assert np.array_equal(guard.process(quiet), quiet)
