"""audio-input and audio-output: in real flows on the engine, and directly with a small context."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import audio.io.devices as devices
from audio.base.clock import SystemClock
from audio.base.edge import AudioEdgeData
from audio.dsp.formats import edge_buffer_from_pcm
from audio.dsp.pipe import AudioPipe
from audio.base.registry import AudioRegistry
from flow.engine import FlowEngine
from flow.errors import FlowError
from flow.events import NodeStatus, NodeStatusChanged
from flow.loader import load_flow_text
from flow.nodes.audio_output import AudioOutputNode, AudioOutputSettings
from flow.options import RunOptions
from tests.audio.helpers import dominant_frequency, read_all
from tests.audio.test_sources import write_tone_wav

FLOW = """\
version: 1
name: audio passthrough
nodes:
  - id: mic
    type: audio-input
{input}
  - id: out
    type: audio-output
{output}
edges:
  - from: mic.audio
    to: out.audio
"""


def indent(settings: str) -> str:
    return "\n".join(f"    {line}" for line in settings.strip().splitlines())


async def run_flow(input_settings: str, output_settings: str, options: RunOptions, registry: AudioRegistry) -> FlowEngine:
    flow = load_flow_text(FLOW.format(input=indent(input_settings), output=indent(output_settings)), "test.yaml")
    engine = FlowEngine(flow, registry=registry, options=options)
    assert await asyncio.wait_for(engine.run(), 30), engine_errors(engine)
    return engine


def engine_errors(engine: FlowEngine) -> list[str]:
    return [f"{k}: {v}" for k, v in engine._reasons.items() if v]  # noqa: SLF001 - diagnostics only


async def read_wav(path: Path) -> np.ndarray:
    from audio.io.sources import FileSource

    return np.concatenate(await read_all(FileSource(path, realtime=False)))


async def test_tone_to_file_flow(tmp_path: Path, registry: AudioRegistry) -> None:
    out = tmp_path / "tone.wav"
    engine = await run_flow(
        "source: tone\nfrequency: 660\nduration: 0.5\nsample_rate: 24000",
        f"sink: file\npath: {out}",
        RunOptions(realtime_pacing=False),
        registry,
    )
    node = engine.nodes["out"]
    assert isinstance(node, AudioOutputNode)
    assert node.output_path == out and node.frames_written == 25 and node.description == f"file: {out}"
    assert engine.nodes["mic"].description == "tone: 660 Hz at -12 dBFS"  # type: ignore[attr-defined]
    audio = await read_wav(out)
    assert len(audio) == 12000 and dominant_frequency(audio[:, 0], 24000) == pytest.approx(660, abs=2)
    assert len(registry) == 0  # the input node unregistered its stream


async def test_headless_overrides_replace_microphone_and_speaker(tmp_path: Path, registry: AudioRegistry) -> None:
    recorded = write_tone_wav(tmp_path / "in.wav", 440, 16000, 0.6, channels=2)
    out = tmp_path / "out.wav"
    options = RunOptions(input_file=recorded, output_file=out, realtime_pacing=False)
    engine = await run_flow("source: microphone\ndevice: 99", "sink: speaker\ndevice: 99", options, registry)
    assert engine.nodes["out"].output_path == out  # type: ignore[attr-defined]
    audio = await read_wav(out)
    original = await read_wav(recorded)
    assert audio.shape == original.shape and np.array_equal(audio, original)


async def test_file_output_can_resample(tmp_path: Path, registry: AudioRegistry) -> None:
    out = tmp_path / "8k.wav"
    await run_flow(
        "source: tone\nfrequency: 500\nduration: 1.0",
        f"sink: file\npath: {out}\nsample_rate: 8000",
        RunOptions(realtime_pacing=False),
        registry,
    )
    audio = await read_wav(out)
    assert abs(len(audio) - 8000) <= 80 and dominant_frequency(audio[:, 0], 8000) == pytest.approx(500, abs=2)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        ("source: webcam", "microphone"),
        ("source: file", "needs a path"),
        ("source: tone\nfrequency: -5", "frequency"),
        ("source: tone\nvolume: 3", "volume"),
    ],
)
def test_settings_errors_are_flow_errors(settings: str, expected: str) -> None:
    with pytest.raises(FlowError) as info:
        load_flow_text(FLOW.format(input=indent(settings), output=indent("sink: null")), "bad.yaml")
    assert expected in str(info.value) and "bad.yaml:" in str(info.value)


async def test_microphone_without_portaudio_fails_the_node_with_the_fix(
    monkeypatch: pytest.MonkeyPatch, registry: AudioRegistry
) -> None:
    def fail() -> None:
        raise OSError("PortAudio library not found")

    monkeypatch.setattr(devices, "_import_sounddevice", fail)
    monkeypatch.setattr(devices, "_module", None)
    flow = load_flow_text(FLOW.format(input=indent("source: microphone"), output=indent("sink: null")), "t.yaml")
    engine = FlowEngine(flow, registry=registry, options=RunOptions())
    statuses: list[NodeStatusChanged] = []
    engine.events.add_callback(lambda e: statuses.append(e) if isinstance(e, NodeStatusChanged) else None)
    assert not await asyncio.wait_for(engine.run(), 30)
    failed = [e for e in statuses if e.node_id == "mic" and e.status == NodeStatus.ERROR]
    assert failed and "apt-get install libportaudio2" in (failed[-1].reason or "")


async def test_stopping_the_flow_stops_an_endless_source(registry: AudioRegistry) -> None:
    flow = load_flow_text(FLOW.format(input=indent("source: silence"), output=indent("sink: null")), "t.yaml")
    engine = FlowEngine(flow, registry=registry, options=RunOptions())
    running = asyncio.create_task(engine.run())
    for _ in range(200):
        await asyncio.sleep(0.01)
        if engine.nodes["out"].frames_written >= 3:  # type: ignore[attr-defined]
            break
    await engine.stop()
    await asyncio.wait_for(running, 10)
    assert len(registry) == 0 and engine.nodes["mic"].source.stopped  # type: ignore[attr-defined]


class MiniContext:
    """Just enough of the engine's NodeContext to drive one audio-output node."""

    def __init__(self, registry: AudioRegistry, edge: AudioEdgeData, options: RunOptions | None = None) -> None:
        self.node_id = "out"
        self.registry = registry
        self.clock = SystemClock()
        self.options = options or RunOptions()
        self.edge = edge

    def is_connected(self, port: str) -> bool:
        return port == "audio"

    def resolve_path(self, path: str) -> Path:
        return Path(path)

    def input(self, port: str) -> Any:
        return self.edge

    async def watch(self, port: str) -> AsyncIterator[Any]:
        yield self.edge

    def emit(self, port: str, value: Any) -> None:
        raise AssertionError("audio-output emits nothing")

    def publish(self, payload: Any) -> None:
        pass


async def playing_a_pipe(registry: AudioRegistry, sink: str, frames: int = 3) -> tuple[AudioPipe, AudioOutputNode, asyncio.Task[None]]:
    """An audio-output node (``sink``) following a registered pipe, once it has taken ``frames`` 20 ms frames."""
    pipe = AudioPipe(24000, 1)
    stream_id = registry.register(pipe, hint="assistant")
    node = AudioOutputNode("out", AudioOutputSettings(sink=sink))
    task = asyncio.create_task(node.run(MiniContext(registry, AudioEdgeData.stream(stream_id))))
    pipe.write(np.ones((480 * frames, 1), dtype=np.int16))
    for _ in range(100):
        await asyncio.sleep(0)
    return pipe, node, task


async def test_output_follows_an_audio_pipe_and_its_flush(tmp_path: Path, registry: AudioRegistry) -> None:
    pipe, node, task = await playing_a_pipe(registry, "null")
    assert node.frames_written == 3
    pipe.flush()  # barge-in reaches the sink through the node
    assert node.flushes == 1 and node.sink.flushes == 1
    pipe.close()
    await asyncio.wait_for(task, 5)
    assert node.sink.stopped
    assert pipe._flush_listeners == []  # noqa: SLF001 - the node removed its listener


async def test_output_passes_a_pipe_hold_to_a_speaker(registry: AudioRegistry) -> None:
    from audio.io.sinks import NullSink

    class HoldingSink(NullSink):  # a speaker's hold/release (local barge-in)
        def __init__(self, sample_rate: int, channels: int) -> None:
            super().__init__(sample_rate, channels)
            self.calls: list[str] = []

        def hold(self) -> None:
            self.calls.append("hold")

        def release(self) -> None:
            self.calls.append("release")

    pipe = AudioPipe(24000, 1)
    stream_id = registry.register(pipe, hint="assistant")
    node = AudioOutputNode("out", AudioOutputSettings(sink="null"))
    node.make_sink = lambda ctx, rate, channels: HoldingSink(rate, channels)  # type: ignore[method-assign]
    task = asyncio.create_task(node.run(MiniContext(registry, AudioEdgeData.stream(stream_id))))
    pipe.write(np.ones((480, 1), dtype=np.int16))
    for _ in range(100):
        await asyncio.sleep(0)
    pipe.hold()
    pipe.release()
    assert node.sink.calls == ["hold", "release"]
    pipe.close()
    await asyncio.wait_for(task, 5)
    assert pipe._hold_listeners == []  # noqa: SLF001 - the node removed its listener


async def test_output_plays_a_buffer_edge_into_a_file(tmp_path: Path, registry: AudioRegistry) -> None:
    t = np.arange(24000) / 24000
    pcm = (8000 * np.sin(2 * np.pi * 350 * t)).astype(np.int16).reshape(-1, 1)
    out = tmp_path / "buffer.wav"
    node = AudioOutputNode("out", AudioOutputSettings(sink="file", path=str(out)))
    await node.run(MiniContext(registry, edge_buffer_from_pcm(pcm, 24000)))
    audio = await read_wav(out)
    assert np.array_equal(audio, pcm)


async def test_a_speaker_tells_the_pipe_what_is_unheard(registry: AudioRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipe's playout (WebSocket truncation, the budget's "play") counts the speaker's queue and its device's
    output latency, through the node."""
    from tests.audio.fake_sounddevice import HEADSET, FakeSoundDevice

    fake = FakeSoundDevice(HEADSET)
    fake.latency = 0.034
    monkeypatch.setattr(devices, "_import_sounddevice", lambda: fake)
    monkeypatch.setattr(devices, "_module", None)
    pipe, node, task = await playing_a_pipe(registry, "speaker")
    assert node.frames_written == 3 and fake.streams[-1].kind == "output"
    assert pipe.playout_ms == pytest.approx(60 + 34)  # nothing left in the pipe: 3 frames queued at the speaker
    pipe.close()
    node.sink.stop()
    await asyncio.wait_for(task, 5)
