"""Which audio file to write, chosen by the name's extension.

``--output``, ``--record`` and the ``audio-output`` file sink all write
through here: ``.wav`` is crash-safe 16-bit PCM (:class:`~audio.dsp.wavfile.WavWriter`,
valid after every write), ``.flac`` and ``.ogg``/``.opus`` are compressed
(:class:`~audio.io.file_encoder.EncodedAudioWriter`, complete once closed). Any
other extension is refused up front, with the allowed ones.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from audio.base.errors import VoxflowError

if TYPE_CHECKING:  # `voxflow validate` checks extensions without importing numpy
    import numpy as np

OUTPUT_EXTENSIONS = {".wav": "wav", ".flac": "flac", ".ogg": "opus", ".opus": "opus"}
"""Extension -> what is written: 16-bit PCM WAV, FLAC, or Opus in an Ogg file."""
ALLOWED = ", ".join(OUTPUT_EXTENSIONS)


class AudioFileWriter(Protocol):
    """An audio file being written: int16 ``(samples, channels)`` in, a playable file once closed."""

    path: Path
    sample_rate: int
    channels: int
    samples_written: int

    @property
    def closed(self) -> bool: ...

    @property
    def duration(self) -> float: ...

    def write(self, frame: np.ndarray) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


def output_kind(path: str | os.PathLike[str], what: str | None = "output file") -> str:
    """``wav``, ``flac`` or ``opus`` for ``path``; a one-line error (naming ``what`` and the path) otherwise."""
    suffix = Path(path).suffix.lower()
    kind = OUTPUT_EXTENSIONS.get(suffix)
    if kind is None:
        given = f"'{suffix}' audio files" if suffix else "an audio file without an extension"
        where = f"{what} {os.fspath(path)}: " if what else ""
        raise VoxflowError(f"{where}cannot write {given}; end the name in one of {ALLOWED}")
    return kind


def open_audio_writer(
    path: str | os.PathLike[str], sample_rate: int, channels: int, *, fsync: bool = False, what: str = "output file"
) -> AudioFileWriter:
    """A writer for ``path``'s extension (``fsync`` applies to WAV, whose every write is durable)."""
    kind = output_kind(path, what)
    if kind == "wav":
        from audio.dsp.wavfile import WavWriter

        return WavWriter(path, sample_rate, channels, fsync=fsync)
    from audio.io.file_encoder import EncodedAudioWriter

    return EncodedAudioWriter(path, sample_rate, channels, "flac" if kind == "flac" else "opus")
