"""voxflow against a server that writes JSON keys in any order and adds keys of its own (issue #21).

The local server's test mode (``ServerConfig(shuffle_keys=True)``) shuffles every
event's keys, at every level, and adds unknown ones. A whole conversation then
runs over each transport: a long reply the person cuts in on (a real recorded
voice, server VAD), then a second reply heard to its end. The reply audio must
reach playback in full, the cut must flush it, and the reply must be truncated
where the person cut in (by the client over WebSocket, by the service over WebRTC).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from audio.session.events import AssistantAudio, ResponseDone, ResponseStarted, SessionErrorEvent, SpeechStarted
from tests.realtime_session.conftest import assert_released
from tests.realtime_session.test_websocket_playback import LONG_REPLY, RATE, Microphone, PacedReader

SECOND_REPLY = "Here is the short answer."


class ReceivedAudio:
    """A playback listener: ms of all and of audible audio that reached the playback pipe since ``mark()``."""

    def __init__(self) -> None:
        self.ms = self.audible_ms = 0.0

    def __call__(self, pcm: np.ndarray) -> None:
        ms = 1000 * pcm.shape[0] / RATE
        self.ms += ms
        if np.sqrt(np.mean(pcm.astype(np.float64) ** 2)) > 100:
            self.audible_ms += ms

    def mark(self) -> None:
        self.ms = self.audible_ms = 0.0


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("transport", ["websocket", "webrtc"])
async def test_a_conversation_with_a_barge_in_against_a_server_that_shuffles_keys(
    start_server, make_session, registry, transport: str
) -> None:
    server = await start_server(reply="script", script=[LONG_REPLY, "Okay.", SECOND_REPLY], shuffle_keys=True, shuffle_seed=21)
    microphone = Microphone()
    session, log = make_session(server, source=microphone, vad={"type": "server_vad"}, transport=transport)
    received = ReceivedAudio()
    session.playback_listeners.append(received)
    await session.connect()
    call = next(iter(server.calls.values()))
    reader = PacedReader(session.output_pipe)
    playing = asyncio.create_task(reader.run())
    heard_at_flush: list[float] = []
    session.output_pipe.add_flush_listener(lambda: heard_at_flush.append(reader.heard_ms))

    # the first reply, cut in on
    await session.send_text("tell me everything")
    await log.wait_for(AssistantAudio, lambda e: e.playing)
    await log.wait(lambda: reader.heard_ms >= 1_500)
    assert received.audible_ms >= 1_400  # the reply's audio reached playback (its deltas were read as audio)
    microphone.talk()
    await log.wait_for(SpeechStarted)
    await log.wait(lambda: heard_at_flush)
    first = next(entry for entry in session.transcript.entries() if entry.role == "assistant")
    await log.wait(lambda: session.transcript.get(first.item_id).interrupted)
    if transport == "websocket":  # the client truncates where playback stopped
        await log.wait(lambda: call.conversation.get(first.item_id)["content"][0]["transcript"] == "")
        assert abs(call.conversation.audio_ms(first.item_id) - heard_at_flush[0]) <= 25
        assert call.conversation.audio_ms(first.item_id) < 5_000
    else:  # the service cut the reply it was playing
        await log.wait(lambda: "output_audio_buffer.cleared" in call.sent_types)
    await log.wait(lambda: len(log.of(ResponseDone)) >= 2)  # the cut reply, and the answer to the barge-in
    await log.wait(lambda: not session.assistant_busy)

    # a second reply, heard to its end
    reader.heard_ms = 0.0
    received.mark()
    responses = len(log.of(ResponseStarted))
    await session.send_text("and briefly?")
    await log.wait(lambda: len(log.of(ResponseStarted)) > responses)
    await log.wait(lambda: len(log.of(ResponseDone)) > responses)
    second = [entry for entry in session.transcript.entries() if entry.role == "assistant"][-1]
    sent_ms = call.conversation.audio_ms(second.item_id)
    await log.wait(lambda: received.audible_ms >= sent_ms - 100)  # all of it arrived, none of it lost
    if transport == "websocket":  # deltas are the only audio: exactly what the server sent
        assert abs(received.ms - sent_ms) <= 21, (received.ms, sent_ms)
    assert session.transcript.get(second.item_id).text.strip() == SECOND_REPLY
    assert not session.transcript.get(second.item_id).interrupted
    assert not log.of(SessionErrorEvent)

    await session.disconnect()
    microphone.stop()
    await asyncio.wait_for(playing, 10)
    await assert_released(session, registry)
