"""The playing state derived from received audio (transports without ``output_audio_buffer.*``).

A WebRTC peer sends silence between replies: silence alone must never count as the
assistant playing, or a finished input would wait forever for a "reply" to end.
"""

from __future__ import annotations

import asyncio

import numpy as np

from audio.base.clock import FakeClock
from audio.session.playout import HANGOVER_SECONDS, Playout

RATE = 24_000
FRAME = RATE // 50  # 20 ms


def frame(level: float) -> np.ndarray:
    """A loud 20 ms square wave (audible speech stands in here: the claim is about levels)."""
    signs = np.where(np.arange(FRAME) % 2, 1, -1).astype(np.int16).reshape(-1, 1)
    return (signs * int(level * 32767)).astype(np.int16)


async def test_silence_alone_is_not_playback() -> None:
    changes: list[bool] = []
    playout = Playout(FakeClock(), RATE, changes.append)
    for _ in range(100):
        playout.received(np.zeros((FRAME, 1), dtype=np.int16))
    assert not playout.playing and changes == []


async def test_audible_audio_plays_pauses_inside_a_reply_count_and_it_ends_after_playing_out() -> None:
    clock = FakeClock()
    changes: list[bool] = []
    playout = Playout(clock, RATE, changes.append)
    runner = asyncio.ensure_future(playout.run())
    quiet = np.zeros((FRAME, 1), dtype=np.int16)

    async def stream(pcm: np.ndarray, seconds: float) -> None:
        """Frames arriving in real time, as a peer's track delivers them."""
        for _ in range(round(seconds / 0.02)):
            playout.received(pcm)
            await clock.advance(0.02)

    try:
        await stream(frame(0.3), 0.5)
        assert playout.playing and changes == [True]
        await stream(quiet, HANGOVER_SECONDS - 0.1)  # a pause between two sentences of the reply
        assert playout.playing and changes == [True]
        await stream(frame(0.3), 0.2)
        await stream(quiet, 2.0)  # the reply is over; the peer keeps sending silence
        for _ in range(5):
            await asyncio.sleep(0)
        assert not playout.playing and changes == [True, False]
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)
