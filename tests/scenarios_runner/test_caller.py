"""The caller against a frame-by-frame stand-in service: it waits for replies, pauses, barges in, gives up with a reason.

Deterministic and offline: the service reads the caller's source one frame at a time on a
fake clock (``frame_service.py``), so times are exact to the frame.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from audio.base.clock import FakeClock
from flow.scenarios.caller import Caller, CallerError
from flow.scenarios.caller_source import CallerSource
from flow.scenarios.script import CallerScript, CallerTurn
from tests.scenarios_runner.frame_service import FRAME, FrameService

RATE = 24_000


def tone(seconds: float, level: float = 6000.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (np.sin(2 * np.pi * 220 * t) * level).astype(np.int16)


def script(*turns: CallerTurn, pause: float = 0.3, seed: int = 1, noise: float = 0.0) -> CallerScript:
    return CallerScript(seed, RATE, pause, turns, background_level=noise)


async def call(caller_script: CallerScript, **service: object) -> tuple[Caller, FrameService, CallerSource, BaseException | None]:
    clock = FakeClock()
    source = CallerSource(RATE, clock=clock, noise=caller_script.background(), realtime=False, keep=True)
    caller = Caller(caller_script, source, clock, reply_seconds=3.0)
    fake = FrameService(source, caller, clock, **service)  # type: ignore[arg-type]
    caller.follow(fake.events, origin=0.0, ear=fake.ear)
    serving = asyncio.ensure_future(fake.serve())
    failure: BaseException | None = None
    try:
        await caller.run()
    except CallerError as error:
        failure = error
    source.hang_up()
    await asyncio.wait_for(serving, 30)
    return caller, fake, source, failure


async def test_each_turn_waits_for_the_reply_and_then_the_pause() -> None:
    caller, fake, _, failure = await call(script(CallerTurn(1, "one", tone(0.4)), CallerTurn(2, "two", tone(0.6)),
                                                 CallerTurn(3, "three", tone(0.3)), pause=0.3))
    assert failure is None and caller.finished
    first, second, third = caller.logs
    for log, following, reply in ((first, second, fake.reply_audio[0]), (second, third, fake.reply_audio[1])):
        assert log.caller_end_s is not None and following.caller_start_s is not None
        assert log.reply_started_s == pytest.approx(reply[0], abs=1e-9)
        assert log.reply_stopped_s == pytest.approx(reply[1], abs=1e-9)
        # the next turn begins the pause after the reply's last audio: exactly, to the frame
        assert following.caller_start_s - log.reply_stopped_s == pytest.approx(0.3, abs=FRAME + 1e-9)
    assert third.reply_started_s is not None and len(fake.reply_audio) == 3


async def test_with_sending_behind_the_turns_are_placed_when_sent_and_the_pause_holds_there() -> None:
    caller, fake, _, failure = await call(script(CallerTurn(1, "one", tone(0.4)), CallerTurn(2, "two", tone(0.6)),
                                                 CallerTurn(3, "three", tone(0.3)), pause=0.3), send_lag=0.06)
    assert failure is None and caller.send_lag == pytest.approx(0.06)
    first, second, _ = caller.logs
    assert first.caller_start_s == pytest.approx(0.52 + 0.06, abs=1e-9)  # handed out at 0.52 (as without lag), sent 60 ms on
    assert first.caller_end_s is not None and second.caller_start_s is not None and first.reply_stopped_s is not None
    assert first.caller_end_s - first.caller_start_s == pytest.approx(0.4, abs=FRAME)
    assert second.caller_start_s - first.reply_stopped_s == pytest.approx(0.3, abs=FRAME + 1e-9)


async def test_interrupt_after_barges_in_that_long_into_the_reply() -> None:
    caller, fake, _, failure = await call(script(CallerTurn(1, "one", tone(0.4), interrupt_after=0.2),
                                                 CallerTurn(2, "two", tone(0.4))))
    assert failure is None
    first, second = caller.logs
    assert first.reply_started_s is not None and second.caller_start_s is not None
    assert second.caller_start_s - first.reply_started_s == pytest.approx(0.2, abs=FRAME + 1e-9)
    assert first.cuts, "the reply was cut by the barge-in"
    reply_start, reply_end = fake.reply_audio[0]
    assert reply_end - reply_start < 0.5  # a one-second reply, cut


async def test_a_turn_with_no_reply_stops_the_call_with_a_reason() -> None:
    caller, _, _, failure = await call(script(CallerTurn(1, "one", tone(0.4)), CallerTurn(2, "two", tone(0.4))),
                                       answer=False)
    assert isinstance(failure, CallerError) and str(failure) == "turn 1: no reply within 3 s"
    assert not caller.finished and len(caller.logs) == 1


async def test_a_later_turn_with_no_reply_stops_the_call_too() -> None:
    caller, _, _, failure = await call(script(CallerTurn(1, "one", tone(0.4)), CallerTurn(2, "two", tone(0.4)),
                                              CallerTurn(3, "three", tone(0.4))), answers=1)
    assert isinstance(failure, CallerError) and str(failure) == "turn 2: no reply within 3 s"
    assert len(caller.logs) == 2 and caller.logs[0].reply_started_s is not None


async def test_a_reply_that_does_not_end_stops_the_call() -> None:
    caller, _, _, failure = await call(script(CallerTurn(1, "one", tone(0.4)), CallerTurn(2, "two", tone(0.4))),
                                       reply_frames=400)
    assert isinstance(failure, CallerError) and str(failure) == "turn 1: the reply did not end within 3 s"
    assert len(caller.logs) == 1


async def test_without_an_ear_the_playing_state_stands_in_for_the_reply() -> None:
    caller, fake, _, failure = await call(script(CallerTurn(1, "one", tone(0.4)), CallerTurn(2, "two", tone(0.4))),
                                          ear=False)
    assert failure is None and caller.finished
    first, second = caller.logs
    assert first.reply_started_s == pytest.approx(fake.reply_audio[0][0] + FRAME, abs=1e-9)  # its event, a frame later
    assert second.caller_start_s is not None and first.reply_stopped_s is not None
    assert second.caller_start_s - first.reply_stopped_s == pytest.approx(0.3, abs=FRAME + 1e-9)


async def test_a_session_that_ends_with_turns_left_is_named() -> None:
    clock = FakeClock()
    caller_script = script(CallerTurn(1, "one", tone(0.4)))
    source = CallerSource(RATE, clock=clock, realtime=False)
    caller = Caller(caller_script, source, clock)
    fake = FrameService(source, caller, clock)
    caller.follow(fake.events, origin=0.0)
    from audio.session import SessionState, StateChanged

    fake.publish(StateChanged(SessionState.ERROR, "the service hung up"))
    with pytest.raises(CallerError, match=r"^the session ended \(the service hung up\)$"):
        await caller.run()


async def test_the_same_seed_sends_the_same_audio_bit_for_bit() -> None:
    turns = (CallerTurn(1, "one", tone(0.4)), CallerTurn(2, "two", tone(0.5)))
    calls = [await call(script(*turns, seed=seed, noise=0.002)) for seed in (11, 11, 12)]
    for caller, _, _, failure in calls:
        assert failure is None and caller.finished
    ends = [round(caller.logs[-1].caller_end_s * RATE) for caller, _, _, _ in calls]  # past it, the hang-up races
    assert ends[0] == ends[1] == ends[2]  # the same timing, to the sample
    sent, repeated, different = (source.sent()[: ends[0]] for _, _, source, _ in calls)
    assert np.array_equal(sent, repeated)
    assert not np.array_equal(sent, different)  # another seed, another background noise
    silent = (await call(script(*turns, seed=11)))[2].sent()[: ends[0]]
    noise = sent.astype(np.int32) - silent
    assert 30 < np.sqrt(np.mean(noise.astype(np.float64) ** 2)) < 100  # the background at its level (0.002 = 66)
