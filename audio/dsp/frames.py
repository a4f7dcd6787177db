"""The contract every audio source and sink keeps.

A frame is a C-contiguous ``numpy.int16`` array of shape ``(samples, channels)``
holding 20 ms of audio at the object's ``sample_rate``. Sources are async (they
pace or wait for hardware); sinks are sync and never block (they queue and let
a device thread or a file write drain them).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

FRAME_MS = 20
"""Every frame in voxflow is 20 ms long, like an Opus packet."""


def frame_samples(sample_rate: int) -> int:
    """Samples per channel in one 20 ms frame at ``sample_rate``."""
    return sample_rate * FRAME_MS // 1000


@runtime_checkable
class AudioSource(Protocol):
    """Yields 20 ms int16 frames; registered in the AudioRegistry while live."""

    sample_rate: int
    channels: int

    async def read(self) -> np.ndarray | None:
        """The next frame, or ``None`` once the source has ended or was stopped."""
        ...

    def stop(self) -> None:
        """Release the device or file; pending and later ``read()`` calls return ``None``."""
        ...


@runtime_checkable
class AudioSink(Protocol):
    """Takes int16 frames of any length at its ``sample_rate``/``channels``."""

    sample_rate: int
    channels: int

    def write(self, frame: np.ndarray) -> None: ...

    def flush(self) -> None:
        """Drop audio queued but not yet played (barge-in)."""
        ...

    def stop(self) -> None:
        """Finish: play or write what is queued if cheap, then release everything."""
        ...


def checked_block(frame: np.ndarray, channels: int) -> np.ndarray:
    """``frame`` as ``(samples, channels)`` (a 1-D frame is one channel); ValueError when the channels differ.

    Every file writer takes frames this way, whatever it encodes.
    """
    block = np.asarray(frame)
    if block.ndim == 1:
        block = block.reshape(-1, 1)
    if block.shape[1] != channels:
        raise ValueError(f"expected {channels} channel(s), got {block.shape[1]}")
    return block
