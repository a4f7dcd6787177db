"""WAV files: a writer that is a valid file after every write, and a streaming reader.

The writer appends samples first and then rewrites the two size fields in the
header, flushing both to the OS each time; a process killed at any moment
leaves a playable file holding everything written before the kill (Python's
``wave`` module only fixes the header on close). The reader accepts any PCM
WAV (8/16/24/32-bit integer, 32/64-bit float, plain or WAVE_FORMAT_EXTENSIBLE)
and yields int16, reading block by block so hour-long files stay cheap.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import BinaryIO

import numpy as np

from audio.base.errors import VoxflowError
from audio.dsp.frames import checked_block

_HEADER_BYTES = 44
_PCM = 1
_FLOAT = 3
_EXTENSIBLE = 0xFFFE
_FIX_HINT = "Convert it to 16-bit PCM WAV, e.g. `sox IN OUT.wav` or `ffmpeg -i IN -c:a pcm_s16le OUT.wav`."


def wav_header(sample_rate: int, channels: int, data_bytes: int) -> bytes:
    """The canonical 44-byte header of a 16-bit PCM WAV holding ``data_bytes`` of samples."""
    block_align = channels * 2
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        _PCM,
        channels,
        sample_rate,
        sample_rate * block_align,
        block_align,
        16,
        b"data",
        data_bytes,
    )


class WavWriter:
    """Appends int16 frames to a 16-bit PCM WAV file that stays valid on disk throughout."""

    def __init__(self, path: str | os.PathLike[str], sample_rate: int, channels: int, *, fsync: bool = False) -> None:
        self.path = Path(path)
        self.sample_rate = sample_rate
        self.channels = channels
        self.fsync = fsync
        self.samples_written = 0
        self._data_bytes = 0
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._file: BinaryIO | None = open(self.path, "wb")  # noqa: SIM115 - closed in close()
            self._file.write(wav_header(sample_rate, channels, 0))
            self._file.flush()
        except OSError as error:
            raise VoxflowError(
                f"cannot write the WAV file {str(self.path)!r}: {error.strerror or error}",
                hint="Choose a path in a writable folder.",
            ) from None

    @property
    def closed(self) -> bool:
        return self._file is None

    @property
    def duration(self) -> float:
        return self.samples_written / self.sample_rate

    def write(self, frame: np.ndarray) -> None:
        """Append ``(samples, channels)`` int16 audio, then make the header match."""
        if self._file is None:
            raise ValueError("write to a closed WavWriter")
        block = checked_block(frame, self.channels)
        if block.shape[0] == 0:
            return
        data = np.ascontiguousarray(block, dtype="<i2").tobytes()
        file = self._file
        try:
            file.seek(_HEADER_BYTES + self._data_bytes)
            file.write(data)
            self._data_bytes += len(data)
            self.samples_written += block.shape[0]
            self._write_sizes()
        except OSError as error:  # disk full, file system gone: what is on disk stays a valid WAV
            raise VoxflowError(
                f"cannot write the WAV file {str(self.path)!r}: {error.strerror or error}",
                hint="Free some disk space or choose another output path.",
            ) from None

    def _write_sizes(self) -> None:
        file = self._file
        assert file is not None
        file.flush()  # samples reach the OS before the header claims them
        file.seek(4)
        file.write(struct.pack("<I", 36 + self._data_bytes))
        file.seek(40)
        file.write(struct.pack("<I", self._data_bytes))
        file.flush()
        if self.fsync:
            os.fsync(file.fileno())

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()
            if self.fsync:
                os.fsync(self._file.fileno())

    def close(self) -> None:
        if self._file is not None:
            self._write_sizes()
            self._file.close()
            self._file = None

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WavReader:
    """Reads a PCM WAV file block by block as int16 ``(samples, channels)``."""

    def __init__(self, source: str | os.PathLike[str] | BinaryIO, *, name: str | None = None) -> None:
        if isinstance(source, (str, os.PathLike)):
            self.name = name or str(source)
            try:
                self._file: BinaryIO = open(source, "rb")  # noqa: SIM115 - closed in close()
            except FileNotFoundError:
                raise VoxflowError(
                    f"audio file {self.name!r} does not exist", hint="Check the path (it is relative to where you run voxflow)."
                ) from None
            except IsADirectoryError:
                raise VoxflowError(f"audio file {self.name!r} is a folder", hint="Give the path of a .wav file.") from None
            except OSError as error:
                raise VoxflowError(
                    f"cannot read audio file {self.name!r}: {error.strerror or error}",
                    hint="Check the file's permissions.",
                ) from None
        else:
            self.name = name or "WAV data"
            self._file = source
        try:
            self._parse_header()
        except BaseException:
            self._file.close()
            raise
        self._position = 0

    def _fail(self, problem: str) -> VoxflowError:
        return VoxflowError(f"{self.name!r} is not a usable WAV file: {problem}", hint=_FIX_HINT)

    def _parse_header(self) -> None:
        riff = self._file.read(12)
        if len(riff) < 12 or riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
            raise self._fail("it has no RIFF/WAVE header")
        fmt: bytes | None = None
        while True:
            head = self._file.read(8)
            if len(head) < 8:
                raise self._fail("no 'data' chunk" if fmt else "no 'fmt ' chunk")
            chunk_id, size = struct.unpack("<4sI", head)
            if chunk_id == b"fmt ":
                fmt = self._file.read(size + (size & 1))[:size]
            elif chunk_id == b"data":
                if fmt is None:
                    raise self._fail("the 'data' chunk comes before 'fmt '")
                self._data_start = self._file.tell()
                self._data_bytes = self._measure_data(size)
                break
            else:
                self._file.seek(size + (size & 1), os.SEEK_CUR)
        if len(fmt) < 16:
            raise self._fail("its 'fmt ' chunk is too short")
        tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
        if tag == _EXTENSIBLE and len(fmt) >= 40:
            tag = struct.unpack("<H", fmt[24:26])[0]
        if tag not in (_PCM, _FLOAT):
            raise self._fail(f"it is compressed (format tag {tag:#06x}), not PCM")
        if channels < 1 or rate < 1:
            raise self._fail("it declares no channels or no sample rate")
        width = bits // 8 if bits % 8 == 0 else 0
        if (tag == _PCM and width not in (1, 2, 3, 4)) or (tag == _FLOAT and width not in (4, 8)):
            raise self._fail(f"{bits}-bit samples are not supported")
        if block_align != width * channels:
            block_align = width * channels
        self.sample_rate = rate
        self.channels = channels
        self.sample_width = width
        self._is_float = tag == _FLOAT
        self._block_align = block_align
        self.frames = self._data_bytes // block_align

    def _measure_data(self, declared: int) -> int:
        """The usable data size: a header left at 0 or too large (crashed writer) is trimmed to the file."""
        here = self._file.tell()
        self._file.seek(0, os.SEEK_END)
        available = self._file.tell() - here
        self._file.seek(here)
        if declared == 0 or declared > available or declared == 0xFFFFFFFF:
            return available
        return declared

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate

    @property
    def position(self) -> int:
        """Frames (samples per channel) read so far."""
        return self._position

    def rewind(self) -> None:
        self._file.seek(self._data_start)
        self._position = 0

    def read(self, frames: int) -> np.ndarray:
        """Up to ``frames`` samples per channel as int16 ``(n, channels)``; empty at the end."""
        frames = max(0, min(frames, self.frames - self._position))
        raw = self._file.read(frames * self._block_align)
        count = len(raw) // self._block_align
        raw = raw[: count * self._block_align]
        self._position += count
        return self._decode(raw).reshape(count, self.channels)

    def read_all(self) -> np.ndarray:
        return self.read(self.frames - self._position)

    def _decode(self, raw: bytes) -> np.ndarray:
        width = self.sample_width
        if self._is_float:
            values = np.frombuffer(raw, dtype="<f4" if width == 4 else "<f8")
            return np.clip(np.rint(values * 32768.0), -32768, 32767).astype(np.int16)
        if width == 2:
            return np.frombuffer(raw, dtype="<i2").astype(np.int16)
        if width == 1:  # unsigned 8-bit
            return ((np.frombuffer(raw, dtype=np.uint8).astype(np.int16) - 128) << 8).astype(np.int16)
        if width == 4:
            return (np.frombuffer(raw, dtype="<i4") >> 16).astype(np.int16)
        # 24-bit: keep the top two bytes of each little-endian triple
        triples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        return triples[:, 1:].copy().view("<i2").reshape(-1).astype(np.int16)

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> WavReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
