"""AudioPipe: a bounded sink-and-source with barge-in flush."""

from __future__ import annotations

import asyncio

import numpy as np

from audio.dsp.frames import AudioSink, AudioSource
from audio.dsp.pipe import AudioPipe
from audio.base.registry import AudioRegistry


def block(n: int, value: int = 1) -> np.ndarray:
    return np.full((n, 1), value, dtype=np.int16)


async def test_pipe_recuts_writes_into_20ms_frames_and_ends_on_close() -> None:
    pipe = AudioPipe(24000, 1)
    assert isinstance(pipe, AudioSink) and isinstance(pipe, AudioSource)
    pipe.write(block(700))
    pipe.write(block(500))
    assert pipe.queued_frames == 2
    pipe.close()
    frames = [await pipe.read() for _ in range(3)]
    assert [f.shape for f in frames] == [(480, 1)] * 3  # the last one padded
    assert await pipe.read() is None


async def test_pending_read_wakes_on_write_and_on_stop() -> None:
    pipe = AudioPipe(16000, 1)
    reader = asyncio.create_task(pipe.read())
    await asyncio.sleep(0)
    pipe.write(block(320, 7))
    frame = await asyncio.wait_for(reader, 5)
    assert frame is not None and frame[0, 0] == 7
    reader = asyncio.create_task(pipe.read())
    await asyncio.sleep(0)
    registry = AudioRegistry()
    registry.unregister(registry.register(pipe))  # unregistering stops the pipe
    assert await asyncio.wait_for(reader, 5) is None


async def test_pipe_is_bounded_and_counts_drops() -> None:
    pipe = AudioPipe(16000, 1, max_ms=100)
    for i in range(8):
        pipe.write(block(320, i))
    assert pipe.queued_frames == 5 and pipe.dropped_frames == 3
    first = await pipe.read()
    assert first is not None and first[0, 0] == 3  # the oldest were dropped


async def test_flush_drops_queued_audio_and_notifies_listeners() -> None:
    pipe = AudioPipe(16000, 1)
    calls: list[str] = []
    remove = pipe.add_flush_listener(lambda: calls.append("flush"))
    pipe.write(block(320 * 3 + 10))
    pipe.flush()
    assert pipe.queued_frames == 0 and calls == ["flush"]
    pipe.write(block(310))
    assert pipe.queued_frames == 0  # the partial frame was dropped too
    remove()
    pipe.flush()
    assert calls == ["flush"]
