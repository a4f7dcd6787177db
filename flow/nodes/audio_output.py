"""audio-output: plays an audio edge on a speaker, writes it to an audio file, or discards it.

The input is either a live stream (looked up in the AudioRegistry and read
until it ends) or a buffer (decoded and written at once). When the stream is
an :class:`~audio.dsp.pipe.AudioPipe` (the assistant's voice), the node listens
for the pipe's flush so a barge-in silences the speaker at once, and a
speaker attaches the pipe's playback taps (the echo canceller's reference).
``--output FILE`` (``RunOptions.output_file``) turns every speaker into that
file; its extension picks WAV, FLAC or Ogg Opus (:mod:`audio.io.file_writers`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationInfo, field_validator, model_validator

from audio.base.edge import AudioEdgeData
from audio.base.errors import VoxflowError
from flow.options import node_setting
from flow.nodes.base import Node, NodeContext, NodeSettings, Port, PortType

log = logging.getLogger(__name__)


class AudioOutputSettings(NodeSettings):
    sink: Literal["speaker", "file", "null"] = Field(default="speaker", description="Where the audio goes.")
    device: str | int | None = Field(
        default=None, description="Speaker: device index or part of its name (see `voxflow devices`)."
    )
    path: str | None = Field(
        default=None, description="File: path of the file to write, .wav, .flac, .ogg or .opus (relative to the flow file)."
    )
    sample_rate: int | None = Field(
        default=None, ge=8000, le=192000, description="File: samples per second (default: the input's)."
    )

    @field_validator("sink", mode="before")
    @classmethod
    def _yaml_null_means_null_sink(cls, value: Any) -> Any:
        return "null" if value is None else value  # YAML reads a bare `sink: null` as None

    @model_validator(mode="after")
    def _file_needs_path(self) -> AudioOutputSettings:
        if self.sink == "file" and not self.path:
            raise ValueError("sink 'file' needs a path: add `path: out.wav`")
        return self

    @field_validator("path")
    @classmethod
    def _writable_extension(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value and info.data.get("sink") == "file":
            from audio.io.file_writers import output_kind

            try:
                output_kind(value, None)
            except VoxflowError as error:
                raise ValueError(error.message) from None
        return value


class AudioOutputNode(Node):
    type_name = "audio-output"
    summary = "Plays audio on a speaker, writes it to an audio file, or discards it."
    Settings = AudioOutputSettings
    inputs = (Port("audio", PortType.AUDIO, description="A live audio stream or an audio buffer."),)

    def __init__(self, node_id: str, settings: NodeSettings, label: str | None = None) -> None:
        super().__init__(node_id, settings, label)
        self.sink: Any = None
        """The live sink while running (front ends read underruns, device_name, duration)."""
        self.output_path: Path | None = None
        """The audio file being written, when the sink is a file."""
        self.frames_written = 0
        self.flushes = 0
        self.description = ""
        self._resampler: Any = None
        self._input_rate = 0

    def make_sink(self, ctx: NodeContext, sample_rate: int, channels: int) -> Any:
        settings = self.settings
        assert isinstance(settings, AudioOutputSettings)
        options = ctx.options
        kind = settings.sink
        path = ctx.resolve_path(settings.path) if settings.path else None
        if kind == "speaker" and options.output_file is not None:
            kind, path = "file", Path(options.output_file)
        if kind == "file":
            from audio.io.sinks import AudioFileSink

            assert path is not None
            self.output_path = path
            self.description = f"file: {path}"
            return AudioFileSink(path, settings.sample_rate or sample_rate, channels)
        if kind == "null":
            from audio.io.sinks import NullSink

            self.description = "discarded"
            return NullSink(sample_rate, channels)
        from audio.io.speaker import SpeakerSink

        device = options.output_device if options.output_device is not None else node_setting(settings, "device", options.defaults.output_device)
        speaker = SpeakerSink(device, sample_rate=sample_rate, channels=channels)
        speaker.start()  # fail now, with the fix, rather than on the first frame
        self.description = f"speaker: {speaker.device_name}"
        return speaker

    async def run(self, ctx: NodeContext) -> None:
        async for edge in ctx.watch("audio"):
            if edge is None:
                continue
            if not isinstance(edge, AudioEdgeData):
                raise VoxflowError(
                    f"audio-output {self.id!r} received {type(edge).__name__}, not audio",
                    hint="Connect an audio port (e.g. an audio-input's `audio`) to its `audio` input.",
                )
            if edge.type == "buffer":
                await self._play_buffer(ctx, edge)
            elif ctx.registry.has(edge.stream_id or ""):
                await self._play_stream(ctx, ctx.registry.get(edge.stream_id or ""))
            else:
                log.info("audio stream %s ended before %s could read it", edge.stream_id, self.id)

    async def _play_stream(self, ctx: NodeContext, source: Any) -> None:
        sink = self._open(ctx, source.sample_rate, source.channels)
        remove_listener: Callable[[], None] | None = None
        add_listener = getattr(source, "add_flush_listener", None)
        if add_listener is not None:
            remove_listener = add_listener(self._flush)
        remove_hold: Callable[[], None] | None = None
        if hasattr(source, "add_hold_listener") and hasattr(sink, "hold"):  # local barge-in (a speaker)
            remove_hold = source.add_hold_listener(lambda held: sink.hold() if held else sink.release())
        if hasattr(source, "downstream_ms") and hasattr(sink, "unheard_ms"):
            source.downstream_ms = lambda: float(sink.unheard_ms)  # playout depth; what a barge-in leaves unheard
        add_tap = getattr(sink, "add_tap", None)
        if add_tap is not None and getattr(source, "playback_taps", None):
            for tap in source.playback_taps:
                add_tap(tap)
            for notify in source.on_speaker:
                notify()
        finished = False
        try:
            while (frame := await source.read()) is not None:
                await self._write(frame)
            finished = True
        finally:
            if remove_listener is not None:
                remove_listener()
            if remove_hold is not None:
                remove_hold()
            await self._close(finished)

    async def _play_buffer(self, ctx: NodeContext, edge: AudioEdgeData) -> None:
        from audio.dsp.formats import pcm_from_edge_buffer
        from audio.dsp.frames import frame_samples

        pcm, rate = pcm_from_edge_buffer(edge)
        self._open(ctx, rate, pcm.shape[1])
        step = frame_samples(rate)
        finished = False
        try:
            for start in range(0, pcm.shape[0], step):
                await self._write(pcm[start : start + step])
            finished = True
        finally:
            await self._close(finished)

    def _open(self, ctx: NodeContext, sample_rate: int, channels: int) -> Any:
        from audio.dsp.formats import Resampler

        self.sink = self.make_sink(ctx, sample_rate, min(channels, 2))
        self._resampler = (
            Resampler(self.sink.sample_rate, self.sink.channels, in_rate=sample_rate)
            if self.sink.sample_rate != sample_rate
            else None
        )
        self._input_rate = sample_rate
        return self.sink

    async def _write(self, frame: np.ndarray) -> None:
        sink = self.sink
        if self._resampler is not None:
            frame = self._resampler.process(frame, self._input_rate)
        sink.write(frame)
        self.frames_written += 1
        wait_ready = getattr(sink, "wait_ready", None)
        if wait_ready is not None:  # a speaker fed faster than real time: keep its buffer short
            await wait_ready()

    def _flush(self) -> None:
        self.flushes += 1
        if self.sink is not None:
            self.sink.flush()

    async def _close(self, finished: bool) -> None:
        sink = self.sink
        if sink is None:
            return
        if finished and self._resampler is not None:
            tail = self._resampler.flush()
            if tail.shape[0]:
                sink.write(tail)
        drain = getattr(sink, "drain", None)
        if finished and drain is not None:
            with contextlib.suppress(Exception):
                await drain()  # let the speaker finish the last words
        sink.stop()

    def reset(self) -> None:
        self.sink = None
        self.output_path = None
        self.frames_written = 0
        self.flushes = 0
        self.description = ""
