"""Over WebSocket the reply comes faster than real time: it is queued whole, and a barge-in truncates it where it was cut.

The local server is set to send each reply's audio at once (``websocket_burst``),
as the service may. A paced reader plays the session's output pipe in real time, like a speaker;
a real recorded voice then talks over the reply. The reply must arrive whole (nothing dropped from
its start), playback must be flushed, and the server must get ``conversation.item.truncate`` at
the millisecond the reader had reached: the model's context then holds only what was heard.
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from audio.session.events import AssistantAudio, Notice, SessionErrorEvent, SpeechStarted
from audio.io.sources import FileSource, SilenceSource
from tests.real_speech import CARDS, shortest
from tests.realtime_session.conftest import assert_released

pytestmark = pytest.mark.slow

RATE = 24_000
LONG_REPLY = "This reply is long enough to take six seconds of audio, far more than a two second playback pipe holds."


class Microphone:
    """Paced silence, with a person's recording mixed in once ``talk()`` is called."""

    def __init__(self) -> None:
        self.sample_rate, self.channels = RATE, 1
        self._pacer = SilenceSource(RATE, 1, realtime=True)
        self._voice: FileSource | None = None

    def talk(self) -> None:
        self._voice = FileSource(shortest(CARDS).path, sample_rate=RATE, channels=1, realtime=False)

    async def read(self) -> np.ndarray | None:
        frame = await self._pacer.read()
        if frame is None or self._voice is None:
            return frame
        voice = await self._voice.read()
        if voice is None:
            self._voice = None
            return frame
        return voice

    def stop(self) -> None:
        self._pacer.stop()


class PacedReader:
    """Reads the pipe at real-time speed, as a speaker does; ``heard_ms`` is what it has played."""

    def __init__(self, pipe) -> None:
        self.pipe = pipe
        self.heard_ms = 0.0

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while (frame := await self.pipe.read()) is not None:
            due = max(due, loop.time()) + frame.shape[0] / RATE
            await asyncio.sleep(due - loop.time())
            self.heard_ms += 1000 * frame.shape[0] / RATE


async def test_a_burst_reply_is_kept_whole_and_truncated_where_the_person_cut_in(start_server, make_session, registry) -> None:
    server = await start_server(reply="script", script=[LONG_REPLY], websocket_burst=True)
    microphone = Microphone()
    session, log = make_session(server, source=microphone, vad={"type": "server_vad"}, transport="websocket")
    await session.connect()
    pipe = session.output_pipe
    reader = PacedReader(pipe)
    playing = asyncio.create_task(reader.run())
    heard_at_flush: list[float] = []
    pipe.add_flush_listener(lambda: heard_at_flush.append(reader.heard_ms))

    await session.send_text("tell me everything")
    await log.wait_for(AssistantAudio, lambda e: e.playing)
    await log.wait(lambda: pipe.queued_frames * 20 >= 4_000)  # the whole 6 s reply is queued at once...
    assert pipe.dropped_frames == 0  # ...and none of its start was dropped to make room
    await log.wait(lambda: reader.heard_ms >= 1_500)
    microphone.talk()
    started = await log.wait_for(SpeechStarted)
    await log.wait(lambda: heard_at_flush)
    assert pipe.queued_frames == 0  # playback was cut at once

    call = next(iter(server.calls.values()))  # over WebSocket the service names no call
    item_id = next(entry.item_id for entry in session.transcript.entries() if entry.role == "assistant")
    item = await log.wait(lambda: (lambda got: got if got["content"][0]["transcript"] == "" else None)(
        call.conversation.get(item_id)))  # conversation.item.truncated: the service drops the unheard text
    audio_end_ms = call.conversation.audio_ms(item_id)
    assert abs(audio_end_ms - heard_at_flush[0]) <= 25, (audio_end_ms, heard_at_flush)
    assert 1_500 <= audio_end_ms < 5_000
    assert item["role"] == "assistant" and started.item_id
    assert session.transcript.get(item_id).interrupted  # and the transcript marks the reply that was cut
    assert not log.of(SessionErrorEvent) and not [n for n in log.of(Notice) if "truncate" in n.message]

    await session.disconnect()
    microphone.stop()
    await asyncio.wait_for(playing, 10)
    await assert_released(session, registry)


async def test_over_webrtc_the_service_truncates_and_the_client_sends_nothing(start_server, make_session, registry) -> None:
    server = await start_server(reply="script", script=[LONG_REPLY])
    microphone = Microphone()
    session, log = make_session(server, source=microphone, vad={"type": "server_vad"}, transport="webrtc")
    await session.connect()
    sent: list[str] = []
    transport = session._transport
    send = transport.send
    transport.send = lambda event: (sent.append(event["type"]), send(event))[1]
    reader = PacedReader(session.output_pipe)
    playing = asyncio.create_task(reader.run())
    await session.send_text("tell me everything")
    await log.wait(lambda: reader.heard_ms >= 1_000)
    microphone.talk()
    await log.wait_for(SpeechStarted)
    await log.wait(lambda: session.output_pipe.flushes >= 1)
    assert "conversation.item.truncate" not in sent
    assert [entry.interrupted for entry in session.transcript.entries() if entry.role == "assistant"] == [True]
    await session.disconnect()
    microphone.stop()
    await asyncio.wait_for(playing, 10)
    await assert_released(session, registry)
