"""Sinks that need no hardware: an audio file (WAV, FLAC or Ogg Opus) and a counting null sink.

Both keep the :class:`audio.dsp.frames.AudioSink` contract (sync, never blocking).
The file sink picks its writer by extension (:mod:`audio.io.file_writers`): a
WAV is valid on disk after every write, even if voxflow is killed mid-run; a
FLAC or Opus file is completed by ``stop()``, which every clean exit runs.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from audio.io.file_writers import open_audio_writer
from audio.dsp.formats import as_frame


class AudioFileSink:
    """Writes every frame to an audio file at ``sample_rate``/``channels``; the extension picks the format."""

    def __init__(self, path: str | os.PathLike[str], sample_rate: int, channels: int, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.channels = channels
        self.frames_written = 0
        self.flushes = 0
        self._writer = open_audio_writer(self.path, sample_rate, channels, fsync=fsync)

    @property
    def samples_written(self) -> int:
        return self._writer.samples_written

    @property
    def duration(self) -> float:
        """Seconds of audio written so far."""
        return self._writer.duration

    @property
    def closed(self) -> bool:
        return self._writer.closed

    def write(self, frame: np.ndarray) -> None:
        if self._writer.closed:
            return
        self._writer.write(as_frame(frame, self.channels))
        self.frames_written += 1

    def flush(self) -> None:
        """Nothing is queued (each write goes straight to the writer); counted for the record."""
        self.flushes += 1
        self._writer.flush()

    def stop(self) -> None:
        """Complete the file (a compressed file gets its trailer here)."""
        self._writer.close()

    close = stop


WavFileSink = AudioFileSink
"""The name from when only WAV was written; a ``.wav`` path still gives exactly that."""


class NullSink:
    """Discards audio and counts it: for flows that only need the transcript, and for tests."""

    def __init__(self, sample_rate: int = 48000, channels: int = 1) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        self.frames_written = 0
        self.samples_written = 0
        self.flushes = 0
        self.stopped = False

    @property
    def duration(self) -> float:
        return self.samples_written / self.sample_rate

    def write(self, frame: np.ndarray) -> None:
        if self.stopped:
            return
        self.frames_written += 1
        self.samples_written += np.asarray(frame).shape[0]

    def flush(self) -> None:
        self.flushes += 1

    def stop(self) -> None:
        self.stopped = True
