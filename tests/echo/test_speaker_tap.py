"""The far-end reference is exactly what the speaker hands the device: the audio-output node attaches a pipe's taps."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest

from audio.io import devices
from audio.base.edge import AudioEdgeData
from audio.dsp.pipe import AudioPipe
from audio.base.registry import AudioRegistry
from flow.nodes.audio_output import AudioOutputNode, AudioOutputSettings
from tests.audio.fake_sounddevice import HEADSET, FakeSoundDevice
from tests.audio.test_nodes import MiniContext


@pytest.fixture
def fake_sd(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSoundDevice]:
    fake = FakeSoundDevice(HEADSET)
    monkeypatch.setattr(devices, "_import_sounddevice", lambda: fake)
    monkeypatch.setattr(devices, "_module", None)
    yield fake


async def test_a_speaker_playing_a_pipe_feeds_its_taps_what_it_plays(fake_sd: FakeSoundDevice, registry: AudioRegistry) -> None:
    pipe = AudioPipe(24_000, 1)
    played: list[tuple[np.ndarray, int]] = []
    attached: list[bool] = []
    pipe.playback_taps.append(lambda block, rate: played.append((block.copy(), rate)))
    pipe.on_speaker.append(lambda: attached.append(True))
    stream_id = registry.register(pipe, hint="assistant")
    node = AudioOutputNode("out", AudioOutputSettings(sink="speaker", device="USB Headset Speaker"))
    task = asyncio.create_task(node.run(MiniContext(registry, AudioEdgeData.stream(stream_id))))
    pipe.write((np.arange(480 * 5) % 200 * 50).astype(np.int16).reshape(-1, 1))
    for _ in range(200):
        await asyncio.sleep(0)
    assert attached == [True]
    stream = fake_sd.streams[-1]
    for _ in range(6):  # PortAudio pulls blocks at the stream's rate, stereo
        out = np.zeros((480, 2), dtype=np.int16)
        stream.callback(out, 480, None, None)
        assert np.array_equal(played[-1][0], out) and played[-1][1] == node.sink.stream_rate
    assert any(np.abs(block).max() > 0 for block, _ in played)  # the assistant's audio, not only silence
    node.sink.stop()  # nobody drives the fake device's callbacks any more
    pipe.close()
    await asyncio.wait_for(task, 5)


async def test_a_file_output_attaches_no_taps(tmp_path, registry: AudioRegistry) -> None:
    pipe = AudioPipe(24_000, 1)
    attached: list[bool] = []
    pipe.playback_taps.append(lambda block, rate: None)
    pipe.on_speaker.append(lambda: attached.append(True))
    stream_id = registry.register(pipe, hint="assistant")
    node = AudioOutputNode("out", AudioOutputSettings(sink="file", path=str(tmp_path / "o.wav")))
    task = asyncio.create_task(node.run(MiniContext(registry, AudioEdgeData.stream(stream_id))))
    pipe.write(np.ones((480, 1), dtype=np.int16))
    pipe.close()
    await asyncio.wait_for(task, 5)
    assert attached == []  # no speaker, no reference, no cancellation
