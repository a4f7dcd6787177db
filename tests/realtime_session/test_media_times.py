"""The media paths stamp what they hand on: when each piece is sent or played."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from audio.base.clock import FakeClock
from audio.base.registry import AudioRegistry
from audio.echo.echo_guard import EchoGuard
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
