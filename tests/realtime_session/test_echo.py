"""Open speaker + VAD: the assistant's own voice fed back into the microphone must not interrupt it.

A simulated room plays the session's output pipe into the microphone after a
delay and attenuated; the local server's VAD would take that echo for
the user (the control test shows it does without the guard). With the echo
guard the reply plays to the end, while a real user talking over it still
barges in.
"""

from __future__ import annotations

import asyncio
from collections import deque

import numpy as np
import pytest

from audio.session.events import AssistantAudio, ResponseDone, SpeechStarted
from audio.io.sources import FileSource, SilenceSource
from tests.real_speech import CARDS, shortest
from tests.realtime_session.conftest import assert_released

pytestmark = [pytest.mark.slow]

REPLY = "A reply that is long enough to keep the speaker busy for a few seconds."
RATE = 24_000


class Room:
    """Speaker -> delay -> attenuation -> microphone, plus the user's voice when they speak."""

    def __init__(self, delay: float = 0.12, attenuation_db: float = -20.0) -> None:
        self.sample_rate, self.channels = RATE, 1
        self.delay = delay
        self.gain = 10 ** (attenuation_db / 20)
        self._pacer = SilenceSource(RATE, 1, realtime=True)
        self._line: deque[tuple[float, np.ndarray]] = deque()
        self.user: FileSource | None = None

    def play(self, frame: np.ndarray) -> None:
        self._line.append((asyncio.get_running_loop().time(), frame))

    async def read(self) -> np.ndarray | None:
        mic = (await self._pacer.read()).astype(np.float64)
        now = asyncio.get_running_loop().time()
        if self._line and self._line[0][0] + self.delay <= now:
            mic += self._line.popleft()[1].astype(np.float64) * self.gain
        if self.user is not None:
            voice = await self.user.read()
            if voice is None:
                self.user = None
            else:
                mic += voice
        return np.clip(mic, -32768, 32767).astype(np.int16)

    def stop(self) -> None:
        self._pacer.stop()


async def run_room(start_server, make_session, *, guard: bool):
    server = await start_server(reply="script", script=[REPLY])
    room = Room()
    session, log = make_session(server, source=room, vad={"type": "server_vad"})
    session.echo_guard.enabled = guard
    await session.connect()
    pipe = session.output_pipe

    async def speaker() -> None:
        while (frame := await pipe.read()) is not None:
            room.play(frame)

    speaking = asyncio.create_task(speaker())
    return session, log, room, speaking


async def test_without_the_guard_the_echo_interrupts(start_server, make_session, registry) -> None:
    session, log, room, speaking = await run_room(start_server, make_session, guard=False)
    await session.send_text("talk to me")
    await log.wait_for(SpeechStarted)  # the server heard the assistant's own voice
    assert (await log.wait_for(ResponseDone)).status == "cancelled"
    await session.disconnect()
    await asyncio.wait_for(speaking, 20)
    await assert_released(session, registry)


async def test_guard_stops_self_interruption_but_lets_the_user_in(start_server, make_session, registry) -> None:
    session, log, room, speaking = await run_room(start_server, make_session, guard=True)
    await session.send_text("talk to me")
    done = await log.wait_for(ResponseDone)
    await log.wait_for(AssistantAudio, lambda e: not e.playing)
    assert done.status == "completed" and not log.of(SpeechStarted)
    assert session.echo_guard.frames_gated > 25  # it did see (and stop) the echo

    await session.send_text("and again")
    await log.wait(lambda: len([e for e in log.of(AssistantAudio) if e.playing]) == 2)
    await asyncio.sleep(0.5)
    flushes = session.output_pipe.flushes
    room.user = FileSource(shortest(CARDS).path, sample_rate=RATE, channels=1, realtime=False)  # the user talks over it
    await log.wait_for(SpeechStarted)
    assert session.output_pipe.flushes > flushes  # local playback cut at once
    second = await log.wait(lambda: len(log.of(ResponseDone)) == 2 and log.of(ResponseDone)[1])
    assert second.status == "cancelled"
    await session.disconnect()
    await asyncio.wait_for(speaking, 20)
    await assert_released(session, registry)
