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


QUIET = np.zeros((FRAME, 1), dtype=np.int16)


async def test_a_short_reply_plays_from_its_first_frame() -> None:
    clock = FakeClock()
    changes: list[bool] = []
    playout = Playout(clock, RATE, changes.append)
    runner = asyncio.ensure_future(playout.run())
    try:
        playout.received(frame(0.3))
        assert changes == [True]  # at once: no waiting for the server's playback events
        for _ in range(9):  # 200 ms in all
            await clock.advance(0.02)
            playout.received(frame(0.3))
        await clock.advance(0.3)
        for _ in range(5):
            await asyncio.sleep(0)
        assert changes == [True, False]
    finally:
        runner.cancel()
        await asyncio.gather(runner, return_exceptions=True)


async def test_the_tail_of_a_cut_reply_never_turns_playing_back_on() -> None:
    clock = FakeClock()
    changes: list[bool] = []
    playout = Playout(clock, RATE, changes.append)
    for _ in range(10):
        playout.received(frame(0.3))
        await clock.advance(0.02)
    playout.flushed()  # barge-in
    assert changes == [True, False]
    for _ in range(3):  # 60 ms of the cut reply still in flight
        playout.received(frame(0.3))
        await clock.advance(0.02)
    playout.response_started()  # a typed turn: the next response is created while the tail still arrives
    for _ in range(3):
        playout.received(frame(0.3))
        await clock.advance(0.02)
    assert changes == [True, False]
    for _ in range(5):  # the peer's silence between replies
        playout.received(QUIET)
        await clock.advance(0.02)
    assert changes == [True, False]
    playout.received(frame(0.3))  # the new reply
    assert changes == [True, False, True]


async def test_after_a_flush_audio_waits_for_a_new_response() -> None:
    clock = FakeClock()
    changes: list[bool] = []
    playout = Playout(clock, RATE, changes.append)
    playout.received(frame(0.3))
    playout.flushed()
    await clock.advance(1.0)
    playout.received(frame(0.3))  # after a pause, but no response was created: still the cut reply's
    assert changes == [True, False]
    playout.response_started()
    await clock.advance(0.1)
    playout.received(frame(0.3))  # a WebSocket delta after a gap, of the new response
    assert changes == [True, False, True]
