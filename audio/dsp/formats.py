"""Sample formats, channel mixing, resampling and audio buffers for edges.

Every part of voxflow speaks 20 ms int16 frames shaped ``(samples, channels)``
(see :mod:`audio.dsp.frames`); this module converts between that and everything
else: float samples for analysis, other channel counts, other sample rates
(PyAV's stateful ``av.AudioResampler``, never a hand-written one), WAV bytes
and the base64 buffers that travel on ``AudioEdgeData(type="buffer")``.
"""

from __future__ import annotations

import base64
import re

import av
import numpy as np

from audio.base.edge import AudioEdgeData
from audio.base.errors import VoxflowError

INT16_SCALE = 32768.0
PCM_MIME = "audio/pcm"
WAV_MIME = "audio/wav"
_LAYOUTS = {1: "mono", 2: "stereo"}


def as_frame(pcm: np.ndarray, channels: int | None = None) -> np.ndarray:
    """``pcm`` as a C-contiguous int16 ``(samples, channels)`` array (1-D input is mono)."""
    array = np.asarray(pcm)
    if array.ndim == 1:
        array = array.reshape(-1, 1)
    if array.ndim != 2:
        raise ValueError(f"audio must be 1-D or (samples, channels), got shape {array.shape}")
    if array.dtype != np.int16:
        raise ValueError(f"audio must be int16, got {array.dtype}")
    if channels is not None and array.shape[1] != channels:
        array = to_channels(array, channels)
    return np.ascontiguousarray(array)


def to_float32(pcm_int16: np.ndarray) -> np.ndarray:
    """int16 samples as float32 in [-1, 1)."""
    return np.asarray(pcm_int16, dtype=np.float32) / INT16_SCALE


def to_int16(samples_float: np.ndarray) -> np.ndarray:
    """float samples in [-1, 1] as int16, clipped (never wraps around)."""
    scaled = np.asarray(samples_float, dtype=np.float32) * INT16_SCALE
    return np.clip(np.rint(scaled), -32768, 32767).astype(np.int16)


def to_mono(frame: np.ndarray) -> np.ndarray:
    """Average the channels of a ``(samples, channels)`` frame into ``(samples, 1)``."""
    frame = np.asarray(frame)
    if frame.ndim == 1:
        return frame.reshape(-1, 1)
    if frame.shape[1] == 1:
        return frame
    mixed = frame.astype(np.int32).sum(axis=1) // frame.shape[1]
    return mixed.astype(frame.dtype).reshape(-1, 1)


def to_channels(frame: np.ndarray, channels: int) -> np.ndarray:
    """Up- or down-mix to ``channels``: mono is copied to every channel, more become the mean."""
    if channels < 1:
        raise ValueError("channels must be at least 1")
    frame = np.asarray(frame)
    if frame.ndim == 1:
        frame = frame.reshape(-1, 1)
    have = frame.shape[1]
    if have == channels:
        return frame
    mono = to_mono(frame)
    if channels == 1:
        return mono
    return np.ascontiguousarray(np.repeat(mono, channels, axis=1))


def duration_seconds(pcm: np.ndarray, rate: int) -> float:
    """Length of ``pcm`` (``(samples, channels)`` or 1-D) in seconds."""
    return np.asarray(pcm).shape[0] / float(rate)


def av_frame_from_pcm(pcm: np.ndarray, rate: int) -> av.AudioFrame:
    """An ``s16`` packed ``av.AudioFrame`` holding ``pcm`` (1 or 2 channels)."""
    frame_pcm = as_frame(pcm)
    channels = frame_pcm.shape[1]
    layout = _LAYOUTS.get(channels)
    if layout is None:
        raise ValueError(f"only mono and stereo frames are supported, got {channels} channels")
    frame = av.AudioFrame.from_ndarray(frame_pcm.reshape(1, -1), format="s16", layout=layout)
    frame.sample_rate = rate
    return frame


class Resampler:
    """Converts audio to ``out_rate``/``out_channels`` int16 with a stateful ``av.AudioResampler``.

    State (filter history) carries across calls so consecutive frames join
    without clicks. When the input rate or channel count changes, the old
    resampler is flushed into the output and a new one takes over.

    Mono to stereo copies the channel: FFmpeg's own upmix puts mono in the
    centre at -3 dB per side (the pan law), which would lower every mono voice
    sent through a stereo path (Opus over WebRTC, a stereo speaker) by 3 dB.
    """

    def __init__(
        self,
        out_rate: int,
        out_channels: int,
        *,
        in_rate: int | None = None,
        in_channels: int | None = None,
    ) -> None:
        if out_channels not in _LAYOUTS:
            raise ValueError("the resampler produces mono or stereo only")
        self.out_rate = out_rate
        self.out_channels = out_channels
        self.in_rate = in_rate
        self.in_channels = in_channels
        self._resampler: av.AudioResampler | None = None
        self._input_key: tuple[int, str, str] | None = None
        self._upmix = False  # the current resampler works in mono; its output is copied to both channels

    def _empty(self) -> np.ndarray:
        return np.zeros((0, self.out_channels), dtype=np.int16)

    def _collect(self, frames: list[av.AudioFrame]) -> np.ndarray:
        if not frames:
            return self._empty()
        parts = [np.asarray(f.to_ndarray()).reshape(-1, 1 if self._upmix else self.out_channels) for f in frames]
        out = np.array(parts[0], copy=True) if len(parts) == 1 else np.concatenate(parts)
        return to_channels(out, 2) if self._upmix else out

    def _run(self, frame: av.AudioFrame | None) -> np.ndarray:
        if frame is None:
            if self._resampler is None:
                return self._empty()
            out = self._collect(self._resampler.resample(None))
            self._resampler = None
            self._input_key = None
            return out
        key = (frame.sample_rate, frame.format.name, frame.layout.name)
        flushed = None
        if self._input_key is not None and key != self._input_key:
            flushed = self._run(None)
        if self._resampler is None:
            self._upmix = self.out_channels == 2 and frame.layout.name == "mono"
            self._resampler = av.AudioResampler(
                format="s16", layout="mono" if self._upmix else _LAYOUTS[self.out_channels], rate=self.out_rate
            )
            self._input_key = key
        frame.pts = None  # timing is ours; keep the filter from "fixing" gaps
        out = self._collect(self._resampler.resample(frame))
        if flushed is not None and flushed.size:
            out = np.concatenate([flushed, out])
        return out

    def process(self, pcm: np.ndarray, in_rate: int | None = None) -> np.ndarray:
        """Resample an int16 ``(samples, channels)`` block; returns what is ready (may be empty)."""
        rate = in_rate if in_rate is not None else self.in_rate
        if rate is None:
            raise ValueError("the input sample rate is unknown: pass in_rate")
        block = as_frame(pcm)
        if block.shape[0] == 0:
            return self._empty()
        if block.shape[1] > 2:
            block = to_channels(block, self.out_channels)
        return self._run(av_frame_from_pcm(block, rate))

    def process_av(self, frame: av.AudioFrame) -> np.ndarray:
        """Resample a frame received from aiortc (48 kHz stereo s16) or any PyAV audio frame."""
        return self._run(frame)

    def flush(self) -> np.ndarray:
        """The samples still held inside the filter; the next input starts afresh."""
        return self._run(None)


def pcm_to_wav_bytes(pcm: np.ndarray, rate: int) -> bytes:
    """A complete 16-bit PCM WAV file in memory."""
    from audio.dsp.wavfile import wav_header

    frame = as_frame(pcm)
    data = frame.astype("<i2", copy=False).tobytes()
    return wav_header(rate, frame.shape[1], len(data)) + data


def wav_bytes_to_pcm(data: bytes) -> tuple[np.ndarray, int]:
    """Decode an in-memory PCM WAV file into int16 ``(samples, channels)`` and its rate."""
    import io

    from audio.dsp.wavfile import WavReader

    with WavReader(io.BytesIO(data), name="WAV buffer") as reader:
        return reader.read_all(), reader.sample_rate


_RATE_PARAM = re.compile(r";\s*rate\s*=\s*(\d+)")


def edge_buffer_from_pcm(pcm: np.ndarray, rate: int, mime: str = "audio/pcm;rate=24000") -> AudioEdgeData:
    """Wrap audio in a buffer ``AudioEdgeData``: raw mono/stereo PCM (``audio/pcm``) or a WAV file.

    For ``audio/pcm`` the audio is converted to the rate named in the MIME type
    (``rate=`` parameter, default ``rate``) and to mono, as the Realtime API
    expects.
    """
    base = mime.split(";")[0].strip().lower()
    frame = as_frame(pcm)
    if base == PCM_MIME:
        match = _RATE_PARAM.search(mime)
        target = int(match.group(1)) if match else rate
        mono = to_mono(frame)
        if target != rate:
            resampler = Resampler(target, 1)
            mono = np.concatenate([resampler.process(mono, rate), resampler.flush()])
        encoded = base64.b64encode(mono.astype("<i2", copy=False).tobytes()).decode("ascii")
        return AudioEdgeData.from_buffer(encoded, f"{PCM_MIME};rate={target}", target)
    if base in (WAV_MIME, "audio/x-wav", "audio/wave"):
        encoded = base64.b64encode(pcm_to_wav_bytes(frame, rate)).decode("ascii")
        return AudioEdgeData.from_buffer(encoded, WAV_MIME, rate)
    raise VoxflowError(
        f"unsupported audio buffer type {mime!r}",
        hint="Use 'audio/pcm;rate=24000' or 'audio/wav'.",
    )


def pcm_from_edge_buffer(edge: AudioEdgeData) -> tuple[np.ndarray, int]:
    """Decode a buffer ``AudioEdgeData`` into int16 ``(samples, channels)`` and its sample rate."""
    if edge.type != "buffer" or edge.buffer is None or edge.mime_type is None:
        raise VoxflowError(
            "expected an audio buffer, got a live stream reference",
            hint="Look stream edges up in the AudioRegistry instead of decoding them.",
        )
    try:
        raw = base64.b64decode(edge.buffer, validate=True)
    except ValueError:
        raise VoxflowError(
            "the audio buffer is not valid base64", hint="Re-create the buffer with edge_buffer_from_pcm()."
        ) from None
    base = edge.mime_type.split(";")[0].strip().lower()
    if base == PCM_MIME:
        match = _RATE_PARAM.search(edge.mime_type)
        rate = int(match.group(1)) if match else (edge.sample_rate or 24000)
        if len(raw) % 2:
            raise VoxflowError(
                "the audio/pcm buffer has an odd number of bytes (16-bit samples expected)",
                hint="Send little-endian 16-bit mono PCM.",
            )
        return np.frombuffer(raw, dtype="<i2").astype(np.int16).reshape(-1, 1), rate
    if base in (WAV_MIME, "audio/x-wav", "audio/wave"):
        return wav_bytes_to_pcm(raw)
    raise VoxflowError(
        f"unsupported audio buffer type {edge.mime_type!r}",
        hint="Use 'audio/pcm;rate=24000' or 'audio/wav'.",
    )


class FrameChunker:
    """Re-cuts blocks of any length into fixed-size frames (20 ms by default elsewhere)."""

    def __init__(self, frame_samples: int, channels: int) -> None:
        self.frame_samples = frame_samples
        self.channels = channels
        self._parts: list[np.ndarray] = []
        self._held = 0

    @property
    def held_samples(self) -> int:
        return self._held

    def push(self, block: np.ndarray) -> list[np.ndarray]:
        """Add ``block``; return every complete frame now available."""
        if block.shape[0]:
            self._parts.append(block)
            self._held += block.shape[0]
        if self._held < self.frame_samples:
            return []
        joined = self._parts[0] if len(self._parts) == 1 else np.concatenate(self._parts)
        count = self._held // self.frame_samples
        cut = count * self.frame_samples
        frames = [
            np.ascontiguousarray(joined[i * self.frame_samples : (i + 1) * self.frame_samples])
            for i in range(count)
        ]
        rest = joined[cut:]
        self._parts = [rest] if rest.shape[0] else []
        self._held = rest.shape[0]
        return frames

    def drain(self, pad: bool = True) -> np.ndarray | None:
        """The partial last frame, zero-padded to full length when ``pad``; None when empty."""
        if not self._held:
            return None
        joined = np.concatenate(self._parts) if len(self._parts) > 1 else self._parts[0]
        self._parts, self._held = [], 0
        if pad and joined.shape[0] < self.frame_samples:
            padding = np.zeros((self.frame_samples - joined.shape[0], self.channels), dtype=np.int16)
            joined = np.concatenate([joined, padding])
        return np.ascontiguousarray(joined)

    def clear(self) -> None:
        self._parts, self._held = [], 0
