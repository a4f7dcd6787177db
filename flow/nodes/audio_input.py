"""audio-input: a live audio stream from a microphone, an audio file, a tone or silence.

The node builds the source, registers it in the run's AudioRegistry and emits
``AudioEdgeData.stream(id)`` on ``audio``; consumers look the stream up and
read it. The node keeps running until the source ends (a file played to the
end) or the node is cancelled, and unregisters (stops) the stream on the way
out. ``--input FILE`` (``RunOptions.input_file``) turns every microphone into
that file, so a flow written for a headset runs unedited in CI; ``voxflow
test``'s caller (``RunOptions.input_source``) replaces it the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

from audio.base.edge import AudioEdgeData
from flow.options import node_setting
from flow.nodes.base import Node, NodeContext, NodeSettings, Port, PortType

if TYPE_CHECKING:
    from flow.model import Flow


class AudioInputSettings(NodeSettings):
    source: Literal["microphone", "file", "tone", "silence"] = Field(
        default="microphone", description="Where the audio comes from."
    )
    device: str | int | None = Field(
        default=None, description="Microphone: device index or part of its name (see `voxflow devices`)."
    )
    path: str | None = Field(
        default=None,
        description="File: path of an audio file: WAV, FLAC, MP3, OGG, M4A, anything FFmpeg reads (relative to the flow file).",
    )
    loop: bool = Field(default=False, description="File: start again at the end instead of ending.")
    frequency: float = Field(default=440.0, gt=0, lt=24000, description="Tone: frequency in Hz.")
    level: float = Field(default=-12.0, le=0, description="Tone: peak level in dBFS.")
    duration: float | None = Field(default=None, gt=0, description="Tone/silence: seconds (unset: endless).")
    sample_rate: int | None = Field(
        default=None, ge=8000, le=192000, description="Samples per second (default: the file's, else 48000)."
    )

    @model_validator(mode="after")
    def _file_needs_path(self) -> AudioInputSettings:
        if self.source == "file" and not self.path:
            raise ValueError("source 'file' needs a path: add `path: some.wav`")
        return self


class AudioInputNode(Node):
    type_name = "audio-input"
    summary = "Streams audio from a microphone, an audio file, a tone or silence."
    Settings = AudioInputSettings
    outputs = (Port("audio", PortType.AUDIO, description="A live audio stream (AudioEdgeData of type stream)."),)

    def __init__(self, node_id: str, settings: NodeSettings, label: str | None = None) -> None:
        super().__init__(node_id, settings, label)
        self.source: Any = None
        """The live source while running (front ends read progress, overflows, device_name)."""
        self.stream_id: str | None = None
        self.description = ""
        """What is playing, e.g. ``file: greeting.wav`` or ``microphone: USB Headset``."""

    def make_source(self, ctx: NodeContext) -> Any:
        """The source these settings and the run's overrides ask for."""
        settings = self.settings
        assert isinstance(settings, AudioInputSettings)
        options = ctx.options
        realtime = options.realtime_pacing
        rate = settings.sample_rate
        kind = settings.source
        path: Path | None = ctx.resolve_path(settings.path) if settings.path else None
        if kind == "microphone" and options.input_source is not None:
            self.description = "caller (scenario test)"
            return options.input_source
        if kind == "microphone" and options.input_file is not None:
            kind, path = "file", Path(options.input_file)
        if kind == "file":
            from audio.io.sources import FileSource

            assert path is not None
            self.description = f"file: {path}"
            return FileSource(path, sample_rate=rate, realtime=realtime, loop=settings.loop, clock=ctx.clock)
        if kind == "tone":
            from audio.io.sources import ToneSource

            self.description = f"tone: {settings.frequency:g} Hz at {settings.level:g} dBFS"
            return ToneSource(
                settings.frequency, settings.level, rate or 48000, 1, settings.duration, realtime, ctx.clock
            )
        if kind == "silence":
            from audio.io.sources import SilenceSource

            self.description = "silence"
            return SilenceSource(rate or 48000, 1, settings.duration, realtime, ctx.clock)
        from audio.io.microphone import MicrophoneSource

        device = options.input_device if options.input_device is not None else node_setting(settings, "device", options.defaults.input_device)
        microphone = MicrophoneSource(device, sample_rate=rate or 48000, channels=1)
        microphone.start()  # fail now, with the fix, rather than when a consumer first reads
        self.description = f"microphone: {microphone.device_name}"
        return microphone

    async def run(self, ctx: NodeContext) -> None:
        source = self.make_source(ctx)
        self.source = source
        stream_id = ctx.registry.register(source, hint=self.id)
        self.stream_id = stream_id
        try:
            ctx.emit("audio", AudioEdgeData.stream(stream_id))
            await source.wait_ended()
        finally:
            if not ctx.registry.unregister(stream_id):
                source.stop()  # someone else unregistered it; make sure the device is released

    @property
    def progress(self) -> float | None:
        """How much of a file input has been sent (0..1); None for live or endless sources."""
        from audio.io.sources import FileSource

        source = self.source
        if isinstance(source, FileSource) and not source.loop:
            return float(source.progress)
        return None

    def reset(self) -> None:
        self.source = None
        self.stream_id = None
        self.description = ""


def check_input_files(flow: Flow) -> None:
    """Fail before a run starts, in one line, if a ``source: file`` node's recording cannot be read.

    A headless run with a bad recording then exits as a usage error (2), as a
    bad ``--input`` does (the CLI checks that one), instead of failing mid-run.
    """
    from audio.io.file_decoder import check_audio_file

    for spec in flow.nodes:
        settings = spec.settings
        if isinstance(settings, AudioInputSettings) and settings.source == "file" and settings.path:
            path = Path(settings.path).expanduser()
            if not path.is_absolute() and flow.path is not None:
                path = flow.path.parent / path
            check_audio_file(path, f"node '{spec.id}' path:")

