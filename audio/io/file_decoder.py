"""Reading any audio file FFmpeg can decode (through PyAV), one block at a time.

People feed voxflow what they have: a WAV from a recorder (8/16/24/32-bit,
float, μ-law, A-law), a FLAC, an MP3, an OGG Vorbis or Opus, an M4A from a
phone. FFmpeg reads them all; this module demuxes and decodes packet by packet
(an hour-long file is never held in memory) and converts every decoded frame
with PyAV's stateful resampler to int16 at the rate and channel count the
pipeline asked for (stereo and surround are mixed down).

Every failure a user can cause -- a missing, empty, damaged or non-audio file
-- is one :class:`~audio.base.errors.VoxflowError` line that says what to do,
never PyAV's exception text. The first audio is decoded when the file is
opened, so a file that holds no playable audio fails before a run starts.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import av
import numpy as np

from audio.base.errors import VoxflowError
from audio.dsp.formats import Resampler

log = logging.getLogger(__name__)

READABLE = "WAV, FLAC, MP3, OGG or M4A"
"""Named in messages; anything else FFmpeg decodes works too."""
_CONVERT = "convert it with e.g. `ffmpeg -i IN out.wav`"
_MAX_BAD_PACKETS = 50
"""Damaged packets skipped (as FFmpeg's own tools do) before the file is declared unreadable."""


def _open_error(name: str, error: BaseException) -> VoxflowError:
    if isinstance(error, FileNotFoundError):
        return VoxflowError(f"audio file {name!r} does not exist: check the path (relative to where you run voxflow)")
    if isinstance(error, IsADirectoryError):
        return VoxflowError(f"audio file {name!r} is a folder: give the path of an audio file ({READABLE})")
    if isinstance(error, PermissionError):
        return VoxflowError(f"cannot read audio file {name!r}: permission denied; check the file's permissions")
    return VoxflowError(f"{name!r} is not an audio file voxflow can read (damaged or an unknown format): give a WAV, FLAC, MP3, OGG, M4A or other audio file")


class AudioFileDecoder:
    """Decodes the first audio stream of a file into int16 ``(samples, channels)`` blocks.

    ``sample_rate`` and ``channels`` default to the file's (more than two
    channels become mono). ``read()`` returns the next converted block, or None
    at the end of the file; ``flush()`` then hands out what the resampler still
    holds. ``rewind()`` starts the file again with the resampler's state kept,
    so a looping file joins without a click.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        sample_rate: int | None = None,
        channels: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.name = str(path)
        self._container: Any = None
        try:
            self._open()
            first = self._first_frame()
            self.file_sample_rate: int = first.sample_rate
            self.file_channels: int = first.layout.nb_channels
            self.sample_rate = sample_rate or self.file_sample_rate
            self.channels = channels or (self.file_channels if self.file_channels <= 2 else 1)
            self._resampler = Resampler(self.sample_rate, self.channels)
            self._ready = [self._convert(first)]
        except BaseException:
            self.close()
            raise

    # -- opening -----------------------------------------------------------------

    def _open(self) -> None:
        if self.path.is_file() and self.path.stat().st_size == 0:
            raise VoxflowError(f"audio file {self.name!r} is empty (0 bytes): give a file that holds audio")
        try:
            container = av.open(str(self.path), "r")
        except (av.FFmpegError, OSError) as error:
            raise _open_error(self.name, error) from None
        self._container = container
        streams = [s for s in container.streams.audio if s.codec_context is not None]
        if not streams:
            kinds: list[str] = sorted({str(s.type) for s in container.streams}) or ["nothing"]
            raise VoxflowError(
                f"{self.name!r} has no audio stream (it holds {' and '.join(kinds)}): give an audio file, "
                f"or extract the sound with `ffmpeg -i IN -vn out.wav`"
            )
        self._stream = streams[0]
        self.codec: str = self._stream.codec_context.name
        self.duration: float | None = self._measure_duration()
        self._packets = container.demux(self._stream)
        self._frames: list[av.AudioFrame] = []
        self._bad_packets = 0
        """Damaged packets skipped in this pass (each a short gap in the audio)."""
        self._decoded_samples = 0
        self._decoded_rate = 0

    def _measure_duration(self) -> float | None:
        """Seconds, from the stream's header or the container's estimate; None when unknown."""
        stream = self._stream
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if self._container.duration is not None:
            return self._container.duration / av.time_base
        return None

    def _first_frame(self) -> av.AudioFrame:
        frame = self._next_frame()
        if frame is None:
            raise VoxflowError(f"{self.name!r} contains no audio samples (empty or damaged): give a file that holds audio, or {_CONVERT}")
        return frame

    # -- decoding ----------------------------------------------------------------

    def _damaged(self) -> VoxflowError:
        return VoxflowError(f"{self.name!r} is damaged after {self.position:.1f} s and cannot be decoded further: repair or re-encode it, e.g. `ffmpeg -i IN out.wav`")

    def _next_frame(self) -> av.AudioFrame | None:
        """The next decoded frame; damaged packets are skipped (a short gap) up to a limit."""
        while not self._frames:
            try:
                packet = next(self._packets)
            except StopIteration:
                return None
            except av.FFmpegError:
                raise self._damaged() from None
            try:
                self._frames.extend(packet.decode())
            except av.FFmpegError as error:
                self._bad_packets += 1
                # info, not warning: logging's last-resort handler would print warnings over the app's screen
                log.info("%s: skipped a damaged packet at %.2f s (%s)", self.name, self.position, error)
                if self._bad_packets > _MAX_BAD_PACKETS:
                    raise self._damaged() from None
        frame = self._frames.pop(0)
        self._decoded_samples += frame.samples
        self._decoded_rate = frame.sample_rate
        return frame

    def _convert(self, frame: av.AudioFrame) -> np.ndarray:
        try:
            return self._resampler.process_av(frame)
        except (av.FFmpegError, ValueError):
            layout = frame.layout.name
            raise VoxflowError(
                f"{self.name!r}: cannot convert its {layout} {frame.format.name} audio at {frame.sample_rate} Hz: {_CONVERT}"
            ) from None

    def read(self) -> np.ndarray | None:
        """The next block (any length; may be empty), or None at the end of the file."""
        if self._ready:
            return self._ready.pop(0)
        frame = self._next_frame()
        if frame is None:
            return None
        return self._convert(frame)

    def flush(self) -> np.ndarray:
        """Audio still inside the resampler (call once at the end)."""
        return self._resampler.flush()

    def rewind(self) -> None:
        """Start again from the beginning of the file (reopened: every format rewinds the same way)."""
        self._ready.clear()
        self._container.close()
        self._open()

    # -- where we are --------------------------------------------------------------

    @property
    def position(self) -> float:
        """Seconds of the file decoded so far in this pass."""
        return self._decoded_samples / self._decoded_rate if self._decoded_rate else 0.0

    @property
    def progress(self) -> float:
        """How far into this pass, 0..1 (0 until the end when the length is unknown)."""
        if not self.duration:
            return 0.0
        return min(1.0, self.position / self.duration)

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def __enter__(self) -> AudioFileDecoder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_audio_file(path: str | os.PathLike[str], option: str) -> None:
    """Fail now, with one line naming ``option``, if ``path`` is not a readable audio file."""
    if not Path(path).exists():
        raise VoxflowError(f"{option} {path}: no such file; give an existing audio file ({READABLE})")
    try:
        AudioFileDecoder(path).close()
    except VoxflowError as error:
        raise VoxflowError(f"{option} {error.message.removeprefix('audio file ')}") from None
