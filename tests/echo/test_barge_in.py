"""Open speakers, a live session: the assistant never interrupts itself, and the person always can.

The local Realtime server (``server_vad``) answers each ``response.create``
with a short spoken line (eSpeak); a simulated room plays it back into the
microphone (RT60 0.3 s, 70 ms delay, soft clipping). With echo cancellation
the service hears the cleaned microphone and the echo guard stays open: no
``speech_started`` over ten replies (the canceller's convergence gate mutes
what AEC3 leaks in its first seconds); with it off, the echo starts speech at
least once (the test bites); nor does the local barge-in hold playback (the
cleaned echo scores at most ~0.04 on Silero). A LibriVox reader talking over a
reply at its echo's level, once the canceller has converged, is heard by the
local barge-in, which silences the speaker (holds it) unless the service's
barge-in gets there first, and never holds it before they speak; the service's
barge-in then confirms the hold and flushes the speaker. Over the very first
reply, with the canceller still converging, a reader 6 dB over the echo stops it.

How fast is a figure for the benchmarks, not a bound for a test: at a true 0 dB
the speaker went silent 0.12-0.56 s after the first word on a quiet machine
(BENCHMARKS.md, docs/echo-cancellation.md), and 2-3 s with three copies of these
tests on two cores, when the in-process server falls behind real time. The tests
claim what holds on any machine: the speaker went quiet with most of the reply
still to play. The person is cued on the audio timeline as the reply starts to
play (:meth:`SimulatedDevices.say_into_reply`), so a late test coroutine cannot
place them in the past.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from audio.echo.echo_setup import plan_echo
from audio.session.events import AssistantAudio, Levels, ResponseDone, SpeechStarted
from tests.echo.devices import SimulatedDevices
from tests.echo.room import Room, assistant_voice, librivox
from tests.realtime_session.conftest import assert_released

pytestmark = [pytest.mark.slow]

RATE = 48_000
REPLIES = ["Sure, here it is.", "The sun is out today.", "I can help with that."]
LONG_REPLY = "Here is a longer answer, with several sentences. It keeps the speaker busy for a while. Interrupt me."
CONVERGING = REPLIES * 3  # short replies until the canceller converges: 2-3 on a quiet machine, more under load
LONG_REPLY_LEFT = 3.0  # seconds from the first word to the flush: the long reply (6.6 s, cut into at 0.5 s) had 3 s left


def person_over_the_echo(clip: str, delay_ms: int, gain_db: float = 0.0) -> tuple[np.ndarray, int]:
    """A LibriVox reader as loud as the assistant's echo in the microphone (+ ``gain_db``), and where their first word starts."""
    echo = Room(RATE, delay_ms=delay_ms).echo(assistant_voice(LONG_REPLY, RATE))
    echo_rms = np.sqrt(np.mean(echo[np.abs(echo) > 0.01 * np.abs(echo).max()] ** 2))
    reader = librivox(clip, RATE).astype(np.float64)
    gain = echo_rms * 10 ** (gain_db / 20) / np.sqrt(np.mean(reader**2))
    voice = np.clip(reader * gain, -32768, 32767).astype(np.int16)
    step = RATE // 50
    levels = 10 * np.log10(np.mean(voice[: voice.shape[0] // step * step].astype(np.float64).reshape(-1, step) ** 2, axis=1) + 1)
    onset = int(np.argmax(levels > levels.max() - 15)) * step  # the breath before it is not talking yet
    return voice, onset


async def start(start_server, make_session, mode: str, script: list[str] = REPLIES * 5, delay_ms: int = 70):
    server = await start_server(reply="script", script=script)
    devices = SimulatedDevices(Room(RATE, delay_ms=delay_ms))
    echo = plan_echo(mode, devices)
    session, log = make_session(server, source=devices, vad={"type": "server_vad"})
    session.echo_guard.enabled = echo.guard
    session.echo = echo  # as the realtime-conversation node passes it: Levels then carry the echo status
    await session.connect()
    echo.attach(devices, session.output_pipe, session.echo_guard)
    speaker = asyncio.create_task(devices.play(session.output_pipe))
    return session, log, devices, echo, speaker


async def reply_played(session, log, count: int) -> None:
    """Until the ``count``-th reply has been generated and played (the session is idle again)."""
    await log.wait(
        lambda: len(log.of(ResponseDone)) >= count
        and len([e for e in log.of(AssistantAudio) if not e.playing]) >= count
        and not session.assistant_busy
    )


async def stop(session, devices, speaker, registry) -> None:
    await session.disconnect()
    devices.stop()
    await asyncio.wait_for(speaker, 20)
    await assert_released(session, registry)


@pytest.mark.timeout(90)
async def test_aec_no_false_barge_in_over_ten_replies(start_server, make_session, registry) -> None:
    session, log, devices, echo, speaker = await start(start_server, make_session, "aec")
    for count in range(1, 11):
        await session.send_text("go on")
        await reply_played(session, log, count)
    assert echo.canceller is not None and echo.canceller.active and not session.echo_guard.enabled
    assert [e.status for e in log.of(ResponseDone)] == ["completed"] * 10
    assert len(devices.played_audible) > 150  # the replies did play into the room (> 3 s of audio)
    assert not log.of(SpeechStarted)
    assert echo.barge_in is not None and echo.barge_in.holds == 0, vars(echo.barge_in)  # no hold on the echo alone
    assert echo.canceller.gate is not None and echo.canceller.gate.frames_muted > 0  # it covered the first seconds
    live = [(e.echo, e.echo_removed_db) for e in log.of(Levels)]
    assert ("aec (converging)" in [mode for mode, _ in live]) and any(
        mode == "aec" and removed is not None and removed > 20 for mode, removed in live
    )  # what the connection panel shows
    await stop(session, devices, speaker, registry)


@pytest.mark.timeout(60)
async def test_without_cancellation_the_echo_barges_in(start_server, make_session, registry) -> None:
    session, log, devices, echo, speaker = await start(start_server, make_session, "off")
    for count in range(1, 11):
        await session.send_text("go on")
        await log.wait(lambda: len(log.of(ResponseDone)) >= count)
        if log.of(SpeechStarted):
            break
        await reply_played(session, log, count)
    assert log.of(SpeechStarted)
    await stop(session, devices, speaker, registry)


async def talk_over(
    session, log, devices, clip: str, delay_ms: int, gain_db: float = 0.0
) -> tuple[float | None, float]:
    """Ask for the long reply, talk over it 0.5 s in; seconds from their first word to the speaker held by the
    local barge-in (None: it was not held before the flush) and to its flush (the service's barge-in)."""
    voice, onset = person_over_the_echo(clip, delay_ms, gain_db)
    devices.say_into_reply(voice, after=devices.position, offset=RATE // 2 - onset)  # they talk 0.5 s into the reply
    await session.send_text("tell me more")
    talk_at = await log.wait(lambda: devices.voice_starts[-1] if devices.voice_starts else None)
    await log.wait(lambda: log.of(SpeechStarted))
    flush = await log.wait(lambda: next((p for p in devices.flush_positions if p > talk_at), None))
    hold = next((p for p in devices.hold_positions if talk_at < p <= flush), None)
    return None if hold is None else (hold - (talk_at + onset)) / RATE, (flush - (talk_at + onset)) / RATE


async def talk_over_the_next_reply(session, log, devices, clip: str, delay_ms: int, gain_db: float = 0.0) -> float:
    """Seconds from the person's first word to the speaker's flush (see :func:`talk_over`)."""
    return (await talk_over(session, log, devices, clip, delay_ms, gain_db))[1]


@pytest.mark.timeout(120)
async def test_a_person_at_the_echo_level_stops_the_reply(start_server, make_session, registry) -> None:
    delays, held = [], []
    holds = 0
    for clip, delay_ms in [("0880", 70), ("0920", 40), ("0890", 120)]:
        session, log, devices, echo, speaker = await start(
            start_server, make_session, "aec", script=CONVERGING + [LONG_REPLY], delay_ms=delay_ms
        )
        replies = 0
        while not echo.canceller.converged:
            assert replies < len(CONVERGING), "the canceller did not converge over the short replies"
            replies += 1
            await session.send_text("go on")
            await reply_played(session, log, replies)
        # No speech_started on the echo alone is test_aec_no_false_barge_in_over_ten_replies' claim; here a reply
        # played in pieces on a starved machine has at times leaked one, which does not change what is measured.
        assert not session.echo_guard.enabled
        silent, flushed = await talk_over(session, log, devices, clip, delay_ms)
        silenced = flushed if silent is None else min(silent, flushed)
        assert silenced < LONG_REPLY_LEFT, (clip, silent, flushed)  # the speaker went quiet with plenty of reply left
        talk_at = devices.voice_starts[-1]
        assert all(p >= talk_at for p in devices.hold_positions), (talk_at, devices.hold_positions)  # never the echo
        held.append(silent)
        delays.append(flushed)
        barge_in = echo.barge_in
        print(f"{clip} {delay_ms} ms: held {silent} s, flushed {flushed:.3f} s, holds {barge_in.holds} "
              f"confirmed {barge_in.confirmed} released {barge_in.released}")
        await stop(session, devices, speaker, registry)
        holds += barge_in.holds
    # How fast the speaker went silent is a figure, not a claim a loaded machine can keep (bench_echo_cancel,
    # BENCHMARKS.md: at a true 0 dB, 0880 is silent after 0.12-0.56 s, the others after 0.16-0.28 s; up to 2.7 s
    # with four test workers on two cores). What must hold anywhere: each person stopped the reply, and the local
    # barge-in, not only the service's, silenced the speaker at least once.
    assert holds >= 1, (held, delays)  # the local barge-in did its part (without it only the service's flush would)


@pytest.mark.timeout(60)
async def test_the_person_can_interrupt_the_first_reply(start_server, make_session, registry) -> None:
    """No guard while the canceller converges: talking over its very first reply, 6 dB over the echo, stops it
    (at the echo's level too, in ~0.5 s typically, but at times only after seconds: see docs/echo-cancellation.md).

    A convergence gate that kept the person out fails the wait below. Measured on an idle machine: silent after
    0.26-0.50 s, flushed after 0.32-0.54 s; with both cores busy, at times 1.18 s and 1.7 s, because the local
    server, in this very process, then sends the reply late and the speaker plays it in pieces. The bounds hold
    the claim (the person gets in while the canceller converges) and leave the figures to BENCHMARKS.md.
    """
    session, log, devices, echo, speaker = await start(start_server, make_session, "aec", script=[LONG_REPLY])
    assert not session.echo_guard.enabled
    held, flushed = await talk_over(session, log, devices, "0880", 70, gain_db=6)
    silenced = flushed if held is None else min(held, flushed)
    assert silenced < LONG_REPLY_LEFT, (held, flushed)  # the speaker went quiet while the reply had plenty left
    assert not echo.canceller.converged  # it happened while the convergence gate was working
    await stop(session, devices, speaker, registry)
