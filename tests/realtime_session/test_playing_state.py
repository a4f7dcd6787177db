"""The playing state from received audio, against a server that sends no ``output_audio_buffer.*`` events (issue #21).

The local server is set to omit them over WebRTC too (``ServerConfig(playback_events=False)``),
as an independent server may. Audible reply audio must turn the state on within
40 ms whatever the reply's length, and audio of a reply that was cut must never
turn it back on.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
import pytest

from audio.session.events import AssistantAudio, ResponseDone, ResponseStarted, SpeechStarted
from audio.session.playout import audible
from tests.realtime_session.conftest import assert_released
from tests.realtime_session.test_websocket_playback import LONG_REPLY, Microphone, PacedReader

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120), pytest.mark.parametrize("transport", ["webrtc", "websocket"])]
WITHIN = 0.04


class Timeline:
    """What happened when (loop time): audible frames reaching playback, the playing state, responses, flushes."""

    def __init__(self) -> None:
        self.entries: list[tuple[float, str, Any]] = []

    def note(self, kind: str, value: Any = None) -> None:
        self.entries.append((asyncio.get_running_loop().time(), kind, value))

    def frame(self, pcm: np.ndarray) -> None:
        if audible(pcm):
            self.note("audible")

    def event(self, event: object) -> None:
        if isinstance(event, AssistantAudio):
            self.note("playing", event.playing)
        elif isinstance(event, ResponseStarted):
            self.note("response", event.response_id)

    def playing_at(self, when: float) -> bool:
        state = False
        for at, kind, value in self.entries:
            if at > when:
                break
            if kind == "playing":
                state = value
        return state

    def first_audible_after(self, when: float) -> float:
        return next(at for at, kind, _ in self.entries if kind == "audible" and at >= when)

    def times(self, kind: str, value: Any = None) -> list[float]:
        return [at for at, k, v in self.entries if k == kind and (value is None or v == value)]


async def connected(start_server, make_session, transport: str, *, source: Any = None, **server: Any):
    srv = await start_server(reply="script", playback_events=False, **server)
    session, log = make_session(srv, source=source, vad={"type": "server_vad"} if source else "disabled",
                                transport=transport)
    timeline = Timeline()
    session.playback_listeners.append(timeline.frame)
    session.events.add_callback(timeline.event)
    await session.connect()
    reader = asyncio.create_task(PacedReader(session.output_pipe).run())  # a speaker playing in real time
    return srv, session, log, timeline, reader


async def finish(session, registry, reader, microphone: Microphone | None = None) -> None:
    await session.disconnect()
    if microphone is not None:
        microphone.stop()
    await asyncio.wait_for(reader, 10)
    await assert_released(session, registry)


def assert_on_within(timeline: Timeline, first_audible: float) -> None:
    """The state was on within ``WITHIN`` of the reply's first audible frame reaching playback."""
    assert timeline.playing_at(first_audible + WITHIN), (first_audible, timeline.entries[:40])


async def test_a_200_ms_reply_shows_as_playing(start_server, make_session, registry, transport: str) -> None:
    server, session, log, timeline, reader = await connected(start_server, make_session, transport,
                                                              script=["Short."], reply_seconds=0.2)
    await session.send_text("hi")
    await log.wait_for(ResponseDone)
    await log.wait(lambda: timeline.times("playing", False))
    assert "output_audio_buffer.started" not in next(iter(server.calls.values())).sent_types
    assert_on_within(timeline, timeline.first_audible_after(timeline.times("response")[0]))
    assert len(timeline.times("playing", True)) == 1  # once on, once off: one reply
    await finish(session, registry, reader)


async def test_two_replies_back_to_back_both_show_as_playing(start_server, make_session, registry,
                                                             transport: str) -> None:
    _, session, log, timeline, reader = await connected(start_server, make_session, transport,
                                                        script=["One.", "Two."], reply_seconds=0.2)
    await session.send_text("first")
    await log.wait_for(ResponseDone)
    session.send_event({"type": "response.create"})  # the next reply follows the first without a pause
    await log.wait(lambda: len(log.of(ResponseDone)) == 2)
    await log.wait(lambda: len(timeline.times("playing", False)) >= 1 and not session.interpreter.assistant_playing)
    starts = timeline.times("response")
    assert len(starts) == 2
    for start in starts:
        assert_on_within(timeline, timeline.first_audible_after(start))
    await finish(session, registry, reader)


async def test_the_tail_of_a_reply_cut_mid_way_does_not_turn_playing_back_on(start_server, make_session, registry,
                                                                             transport: str) -> None:
    microphone = Microphone()
    _, session, log, timeline, reader = await connected(start_server, make_session, transport, source=microphone,
                                                        script=[LONG_REPLY, "Okay."])
    session.output_pipe.add_flush_listener(lambda: timeline.note("flush"))
    await session.send_text("tell me everything")
    await log.wait_for(AssistantAudio, lambda e: e.playing)
    await asyncio.sleep(1.5)  # well into the reply (and past the old one-second wait for playback events)
    microphone.talk()  # a real voice cuts in: server VAD, barge-in, playback flushed
    await log.wait_for(SpeechStarted)
    await log.wait(lambda: timeline.times("flush"))
    await log.wait(lambda: len(timeline.times("response")) == 2)  # the answer to the person's turn
    await log.wait(lambda: len(log.of(ResponseDone)) == 2)
    flush, answer = timeline.times("flush")[0], timeline.times("response")[1]
    await log.wait(lambda: [at for at in timeline.times("audible") if at >= answer])
    assert not [at for at in timeline.times("playing", True) if flush < at < answer], timeline.entries
    assert_on_within(timeline, timeline.first_audible_after(answer))  # the answer itself plays
    await finish(session, registry, reader, microphone)
