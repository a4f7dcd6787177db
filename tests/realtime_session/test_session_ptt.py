"""Push-to-talk as the server sees it: the §5 sequence, a too-short tap, barge-in during a reply."""

from __future__ import annotations

import asyncio

import pytest

from audio.session.events import AssistantAudio, Notice, PttChanged, PttState, ResponseDone, ResponseStarted
from audio.session.ptt import TOO_SHORT
from tests.realtime_session.conftest import assert_released, steady_tone

pytestmark = pytest.mark.slow

LONG_REPLY = " ".join(["This reply goes on and on so that there is time to interrupt it."] * 4)


def call_of(server):
    return next(iter(server.calls.values()))


async def wait_received(server, count: int) -> list[str]:
    async def loop() -> list[str]:
        while len(call_of(server).received_types) < count:
            await asyncio.sleep(0.02)
        return call_of(server).received_types

    return await asyncio.wait_for(loop(), 20)


async def until(condition) -> None:
    """Poll ``condition`` (state that changes without an event) under a generous ceiling."""
    async def loop() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    await asyncio.wait_for(loop(), 20)


async def test_ptt_turn_sequence_and_short_tap(start_server, make_session, registry) -> None:
    server = await start_server(reply="script", script=["Okay."])
    session, log = make_session(server, source=steady_tone(), vad="disabled")
    await session.connect()
    assert await session.ptt_toggle() is PttState.TALKING
    await until(lambda: session.ptt.captured_ms >= 300)  # hold the key: the tone goes out through the open gate
    assert await session.ptt_toggle() is PttState.OFF  # returns after the 250 ms tail
    await log.wait_for(ResponseDone)
    await log.wait_for(AssistantAudio, lambda e: not e.playing)  # the reply has played out: nothing to barge in on below
    assert call_of(server).received_types == [
        "input_audio_buffer.clear", "input_audio_buffer.commit", "response.create",
    ]
    assert [e.state for e in log.of(PttChanged)] == [PttState.TALKING, PttState.SENDING, PttState.OFF]
    assert session.ptt.captured_ms >= 100
    assert [e.role for e in session.transcript.entries()] == ["user", "assistant"]

    # a tap: pressed and released at once -> nothing but the clear reaches the server
    await session.ptt_toggle()
    await session.ptt_toggle()
    assert log.of(Notice)[-1].message == TOO_SHORT
    # a typed turn as a marker: the channel is ordered, so a wrongly sent commit would arrive before it
    await until(lambda: not session.assistant_busy)  # (no barge-in events in between)
    await session.send_text("marker")
    await wait_received(server, 6)
    assert call_of(server).received_types[3:] == ["input_audio_buffer.clear", "conversation.item.create", "response.create"]
    assert session.ptt_state is PttState.OFF and not session._media.send_track.gate_open
    await session.disconnect()
    await assert_released(session, registry)


async def test_ptt_barge_in_during_reply(start_server, make_session, registry) -> None:
    server = await start_server(reply="script", script=[LONG_REPLY])
    session, log = make_session(server, source=steady_tone(), vad="disabled")
    await session.connect()
    await session.ptt_toggle()
    await until(lambda: session.ptt.captured_ms >= 200)
    await session.ptt_toggle()
    await log.wait_for(AssistantAudio, lambda e: e.playing)
    assert session.assistant_busy
    flushes_before = session.output_pipe.flushes

    await session.ptt_toggle()  # press while the assistant speaks: barge in
    received = await wait_received(server, 6)
    assert received[3:6] == ["response.cancel", "output_audio_buffer.clear", "input_audio_buffer.clear"]
    assert session.output_pipe.flushes == flushes_before + 1  # local playback flushed at once
    cancelled = await log.wait_for(ResponseDone)
    assert cancelled.status == "cancelled"
    await log.wait_for(AssistantAudio, lambda e: not e.playing)
    assert session.ptt_state is PttState.TALKING

    await until(lambda: session.ptt.captured_ms >= 200)
    await session.ptt_toggle()
    await log.wait(lambda: len(log.of(ResponseStarted)) == 2)
    assert call_of(server).received_types[6:] == ["input_audio_buffer.commit", "response.create"]
    await session.disconnect()
    await assert_released(session, registry)


async def test_ptt_with_vad_on_only_explains(start_server, make_session, registry) -> None:
    server = await start_server()
    session, log = make_session(server, source=steady_tone())
    await session.connect()
    assert await session.ptt_toggle() is PttState.OFF
    assert "voice activity detection is on" in log.of(Notice)[-1].message
    session.mute()
    assert not session._media.send_track.gate_open
    session.unmute()
    assert session._media.send_track.gate_open
    await session.disconnect()
    await assert_released(session, registry)
