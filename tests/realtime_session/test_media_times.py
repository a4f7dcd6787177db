"""The media paths stamp what they hand on: the input's place on the clock, and when each piece is sent or played."""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from audio.base.clock import FakeClock
from audio.base.registry import AudioRegistry
from audio.echo.echo_guard import EchoGuard
from audio.io.sources import ToneSource
from audio.session.media import MediaPaths
from audio.session.turn_latency import TurnLatencyMeter

FRAME = 0.02


class StampLog:
    """A :class:`~audio.session.media.Recorder` that keeps the stamps it is given."""

    def __init__(self) -> None:
        self.user: list[float | None] = []
        self.assistant: list[float | None] = []
        self.cuts: list[float | None] = []

    def write_user(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        self.user.append(at)

    def write_assistant(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        self.assistant.append(at)

    def cut_assistant(self, at: float | None = None) -> None:
        self.cuts.append(at)


def media(clock: FakeClock, recorder: StampLog, source: Any = None) -> MediaPaths:
    return MediaPaths(
        clock=clock, registry=AudioRegistry(), echo_guard=EchoGuard(clock, enabled=False),
        latency=TurnLatencyMeter(clock, lambda event: None), publish=lambda event: None, source=source,
        gate_open=True, output_sample_rate=24_000, output_channels=1, recorder=recorder,
    )


async def send(paths: MediaPaths, clock: FakeClock, frames: int) -> None:
    """Let the sending track send ``frames`` frames, the clock moving 3 ms at a time (so it wakes up to 2 ms late)."""
    track = paths.send_track
    assert track is not None
    for _ in range(frames):
        sending = asyncio.ensure_future(track.recv())
        while not sending.done():
            await clock.advance(0.003)
        sending.result()


async def test_the_input_time_of_a_position_is_when_that_frame_was_sent() -> None:
    clock, stamps = FakeClock(start=10.0), StampLog()
    paths = media(clock, stamps, ToneSource(sample_rate=48_000, realtime=False))
    assert paths.input_time(0.0) is None  # nothing sent yet
    try:
        await send(paths, clock, 50)
        first = stamps.user[0]
        assert first == pytest.approx(10.0, abs=0.01)
        assert stamps.user == pytest.approx([first + k * FRAME for k in range(50)], abs=1e-9)  # the schedule
        assert paths.input_time(0.0) == first and paths.input_time(700.0) == pytest.approx(first + 0.7)

        await clock.advance(0.2)  # nobody took a frame for 200 ms: the track catches up, each frame in its place
        await send(paths, clock, 10)
        assert stamps.user[50:] == pytest.approx([first + k * FRAME for k in range(50, 60)], abs=1e-9)

        await clock.advance(0.8)  # a longer stall: the track starts its schedule over instead of catching up
        await send(paths, clock, 10)
        restarted = stamps.user[60]
        assert restarted > first + 60 * FRAME + 0.7
        assert paths.input_time(1200.0) == pytest.approx(restarted)  # position 1.2 s is the 61st frame
        assert paths.input_time(500.0) == pytest.approx(first + 0.5)  # before the stall: as it was

        paths.input_moved()  # a handover: the next frame is the new connection's first
        await send(paths, clock, 5)
        assert paths.input_time(0.0) == stamps.user[70] and paths.input_time(80.0) == pytest.approx(stamps.user[74])
    finally:
        await paths.close()


async def test_a_burst_reply_is_stamped_as_it_will_play_and_a_flush_cuts_it() -> None:
    clock, stamps = FakeClock(start=5.0), StampLog()
    paths = media(clock, stamps)
    received = paths.paths().on_received
    assert received is not None
    frame = np.zeros((480, 1), dtype=np.int16)
    received(frame)
    await clock.advance(0.1)
    received(frame)
    assert stamps.assistant == [5.0, 5.1]  # paced: each when it arrived
    paths.expect_bursts()  # WebSocket: a reply comes faster than it plays
    for _ in range(5):
        received(frame)
    assert stamps.assistant[2:] == pytest.approx([5.1 + k * FRAME for k in range(5)])
    await clock.advance(0.05)
    paths.flush_playback()  # barge-in: what was queued is never heard
    assert stamps.cuts == [pytest.approx(5.15)]
    received(frame)
    assert stamps.assistant[-1] == pytest.approx(5.15)  # played at once: the queue is empty again
    await paths.close()


async def test_reply_audio_counts_as_heard_only_while_audible_frames_arrive() -> None:
    clock, stamps = FakeClock(start=1.0), StampLog()
    paths = media(clock, stamps)
    received = paths.paths().on_received
    assert received is not None and not paths.audible_now()
    received(np.zeros((480, 1), dtype=np.int16))  # silence between replies is not a reply being heard
    assert not paths.audible_now()
    received(np.full((480, 1), 3000, dtype=np.int16))
    assert paths.audible_now()
    await clock.advance(0.03)
    assert paths.audible_now()  # within two frames of the last audible one
    await clock.advance(0.02)
    assert not paths.audible_now()
    await paths.close()
