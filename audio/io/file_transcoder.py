"""A small Ogg Opus copy of an audio file, in memory: for a page or message that carries a recording.

A 30 s stereo WAV at the recorder's 24 kHz is 2.9 MB; the same speech in Ogg Opus at
20 kbit/s per channel is about 0.14 MB, and every browser plays it in ``<audio>``. The copy
is made by the project's own reader and writer (:class:`~audio.io.file_decoder.AudioFileDecoder`,
:class:`~audio.io.file_encoder.EncodedAudioWriter`, as ``--record x.ogg`` writes), keeps the
file's channels (caller left, assistant right stay apart) and its rate when Opus takes it,
and is bit-exact: the same recording always gives the same bytes. The original file is
left as it is; it stays the evidence on disk.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from audio.io.file_decoder import AudioFileDecoder
from audio.io.file_encoder import EncodedAudioWriter

COPY_BITS_PER_CHANNEL = 20_000
"""40 kbit/s for a stereo recording: wideband speech, each side apart, at 1/20 of a 24 kHz WAV (bench_html_report).
From 24 kbit/s per channel libopus widens the band and spends 40 % more on the same speech."""

COPY_FRAME_MS = 60
"""Opus's longest frame: half the encoding time of 20 ms frames, the same size and sound for a file."""


def compressed_copy(path: str | os.PathLike[str], *, bits_per_channel: int = COPY_BITS_PER_CHANNEL) -> bytes:
    """The Ogg Opus bytes of ``path``'s audio; a one-line VoxflowError when it cannot be read or encoded."""
    with AudioFileDecoder(path) as decoder, tempfile.TemporaryDirectory(prefix="voxflow-copy-") as folder:
        target = Path(folder) / "copy.ogg"
        with EncodedAudioWriter(target, decoder.sample_rate, decoder.channels, "opus",
                                bits_per_channel=bits_per_channel, frame_ms=COPY_FRAME_MS, reproducible=True) as writer:
            while (block := decoder.read()) is not None:
                writer.write(block)
            writer.write(decoder.flush())
        return target.read_bytes()
