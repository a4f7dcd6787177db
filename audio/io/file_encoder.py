"""Compressed audio files (FLAC, or Opus in Ogg) written through PyAV.

A FLAC is lossless at about half a WAV's size; Ogg Opus is a small lossy file
that every browser and player opens. Both are complete only once ``close()``
ran: FFmpeg writes FLAC's STREAMINFO (length and MD5) and Ogg's last page with
its end-of-stream flag in the trailer. voxflow closes its sinks on every clean
exit (end of the flow, Ctrl-C, SIGTERM, SIGHUP); a process killed with
SIGKILL leaves a compressed file truncated to what FFmpeg had flushed (most
players still open it, without its last seconds). Use WAV when every sample
must survive a kill.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any, Literal

import av
import numpy as np

from audio.base.errors import VoxflowError
from audio.dsp.frames import checked_block
from audio.dsp.formats import Resampler, av_frame_from_pcm

Codec = Literal["flac", "opus"]
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
"""Rates libopus encodes; any other input is resampled to 48 kHz."""
OPUS_BITS_PER_CHANNEL = 32_000
"""Bit rate per channel: wideband speech at 32 kbit/s is clean and ~1/11 the size of a 24 kHz WAV (bench_audio_files)."""
_LAYOUTS = {1: "mono", 2: "stereo"}


class EncodedAudioWriter:
    """Appends int16 ``(samples, channels)`` audio to a FLAC or Ogg Opus file; ``close()`` completes it.

    ``bits_per_channel`` sets Opus's bit rate, ``frame_ms`` its frame length (60 ms frames
    take half the CPU of 20 ms ones, for a file nobody streams). ``reproducible`` writes
    FFmpeg's bit-exact files (a fixed Ogg serial number, no library version in the tags):
    the same audio gives the same bytes, so a report that carries a copy is the same on
    every render.
    """

    def __init__(self, path: str | os.PathLike[str], sample_rate: int, channels: int, codec: Codec, *,
                 bits_per_channel: int = OPUS_BITS_PER_CHANNEL, frame_ms: int = 20, reproducible: bool = False) -> None:
        if channels not in _LAYOUTS:
            raise ValueError("compressed files are written mono or stereo")
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.channels = channels
        self.codec = codec
        self.samples_written = 0
        file_rate = sample_rate if codec == "flac" or sample_rate in OPUS_RATES else 48000
        self.file_sample_rate = file_rate
        self._resampler = Resampler(file_rate, channels) if file_rate != sample_rate else None
        self._pts = 0
        self._failed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            container: Any = av.open(str(self.path), "w", format="flac" if codec == "flac" else "ogg",
                                     options={"fflags": "+bitexact"} if reproducible else None)
        except (OSError, av.FFmpegError) as error:
            raise self._error(error, "Choose a path in a writable folder.") from None
        self._container: Any = container
        try:
            if codec == "flac":
                stream = container.add_stream("flac", rate=file_rate)
                stream.format = "s16"
            else:
                stream = container.add_stream("libopus", rate=file_rate)
                stream.bit_rate = bits_per_channel * channels
                stream.codec_context.options = {"frame_duration": str(frame_ms)}
            stream.layout = _LAYOUTS[channels]
            self._stream: Any = stream
            stream.codec_context.open()  # fail here (bad rate, no encoder), not on the first frame
        except (OSError, av.FFmpegError) as error:
            container.close()
            raise self._error(error, "Write a .wav file instead.") from None

    def _error(self, error: BaseException, fix: str) -> VoxflowError:
        reason = getattr(error, "strerror", None) or type(error).__name__
        return VoxflowError(f"cannot write the audio file {str(self.path)!r}: {reason}; {fix[0].lower()}{fix[1:]}")

    @property
    def closed(self) -> bool:
        return self._container is None

    @property
    def duration(self) -> float:
        return self.samples_written / self.sample_rate

    def write(self, frame: np.ndarray) -> None:
        """Encode ``(samples, channels)`` int16 audio (packets reach the file as FFmpeg fills its buffer)."""
        if self._container is None:
            raise ValueError("write to a closed EncodedAudioWriter")
        block = checked_block(frame, self.channels)
        if block.shape[0] == 0:
            return
        self._encode(self._resampler.process(block, self.sample_rate) if self._resampler else block)
        self.samples_written += block.shape[0]

    def _encode(self, block: np.ndarray | None) -> None:
        try:
            if block is None:
                packets = self._stream.encode(None)
            elif block.shape[0] == 0:
                return
            else:
                frame = av_frame_from_pcm(block, self.file_sample_rate)
                frame.pts = self._pts
                self._pts += block.shape[0]
                packets = self._stream.encode(frame)
            for packet in packets:
                self._container.mux(packet)
        except (OSError, av.FFmpegError) as error:
            self._failed = True
            raise self._error(error, "Free some disk space or choose another output path.") from None

    def flush(self) -> None:
        """Nothing to do: FFmpeg writes packets through its own buffer, and a file is complete only on close."""

    def close(self) -> None:
        """Encode what is still buffered and write the trailer; the file is complete afterwards."""
        container = self._container
        if container is None:
            return
        if self._failed:  # the error was reported once; release the file without a second one
            self._container = None
            with contextlib.suppress(OSError, av.FFmpegError):
                container.close()
            return
        try:
            if self._resampler is not None:
                self._encode(self._resampler.flush())
            self._encode(None)
        finally:
            self._container = None
            try:
                container.close()
            except (OSError, av.FFmpegError) as error:
                raise self._error(error, "Free some disk space or choose another output path.") from None

    def __enter__(self) -> EncodedAudioWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
