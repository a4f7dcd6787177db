"""Echo cancellation of a recorded pair (what was played, what the microphone heard), like WebRTC's ``audioproc_f``.

Used by ``voxflow echo-cancel`` on files and by ``voxflow echo-test`` on what
it just played and recorded. Both signals are fed to the same
:class:`~audio.echo.echo_cancel.EchoCanceller` the live microphone path uses, 10 ms
of far end before each 10 ms of near end, as the devices would, but without
its convergence gate (the first seconds are AEC3's own output, not muted, so
the report is the canceller's). The report
gives the echo delay (GCC-PHAT cross-correlation of the two recordings) and
the echo removed over the stretches where the far end was playing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio.echo.echo_cancel import PROCESS_RATE, EchoCanceller, EchoProcessor
from audio.base.errors import VoxflowError
from audio.dsp.formats import Resampler

MAX_DELAY_SECONDS = 1.0
ACTIVE_DBFS = -50.0
"""A 10 ms far-end frame louder than this counts as playing (its echo is measured)."""


@dataclass(frozen=True)
class EchoReport:
    rate: int
    seconds: float
    delay_ms: float | None
    """Where the far end's echo appears in the microphone (None: no clear echo)."""
    echo_dbfs: float | None
    """The microphone's level while the far end played, before cancellation."""
    residual_dbfs: float | None
    """The same stretches after cancellation."""

    @property
    def erle_db(self) -> float | None:
        """Echo removed (dB) over the far-end stretches (double talk counts as residual, so it reads low)."""
        if self.echo_dbfs is None or self.residual_dbfs is None:
            return None
        return self.echo_dbfs - self.residual_dbfs

    def lines(self) -> list[str]:
        delay = "no clear echo" if self.delay_ms is None else f"{self.delay_ms:.0f} ms"
        removed = "–" if self.erle_db is None else f"{self.erle_db:.1f} dB"
        heard = "–" if self.echo_dbfs is None else f"{self.echo_dbfs:.1f} dBFS"
        left = "–" if self.residual_dbfs is None else f"{self.residual_dbfs:.1f} dBFS"
        return [f"echo delay: {delay}", f"echo removed: {removed} (heard {heard}, left {left})"]


def read_mono(path: str | os.PathLike[str], rate: int | None = None) -> tuple[np.ndarray, int]:
    """Any audio file PyAV decodes, as mono int16 at ``rate`` (default: the file's); clear errors."""
    import av

    try:
        container = av.open(str(path))
    except FileNotFoundError:
        raise VoxflowError(f"{path}: no such file", hint="Check the path.") from None
    except (av.error.InvalidDataError, av.error.FFmpegError) as error:
        raise VoxflowError(f"{path}: not an audio file ({error})", hint="Pass a WAV, FLAC, MP3 or OGG file.") from None
    with container:
        if not container.streams.audio:
            raise VoxflowError(f"{path}: has no audio stream", hint="Pass an audio file.")
        stream = container.streams.audio[0]
        out_rate = rate or stream.rate
        resampler = Resampler(out_rate, 1)
        parts = [resampler.process_av(frame) for frame in container.decode(stream)]
        parts.append(resampler.flush())
    return np.concatenate(parts).reshape(-1), out_rate


def estimate_delay_ms(far: np.ndarray, mic: np.ndarray, rate: int, max_seconds: float = MAX_DELAY_SECONDS) -> float | None:
    """How much later the far end shows up in the microphone (GCC-PHAT), or None when nothing matches."""
    n = min(far.shape[0], mic.shape[0])
    if n < rate // 10:
        return None
    size = 1 << int(np.ceil(np.log2(2 * n)))
    spectrum = np.fft.rfft(mic[:n].astype(np.float64), size) * np.conj(np.fft.rfft(far[:n].astype(np.float64), size))
    magnitude = np.abs(spectrum)
    spectrum /= np.maximum(magnitude, 1e-9 * max(float(magnitude.max()), 1e-30))
    correlation = np.fft.irfft(spectrum, size)[: int(max_seconds * rate)]
    lag = int(np.argmax(correlation))
    # a real echo stands out of the correlation floor; noise against noise does not
    floor = float(np.median(np.abs(correlation))) + 1e-12
    if correlation[lag] < 8 * floor:
        return None
    return 1000.0 * lag / rate


def _level_dbfs(power: float) -> float:
    return float(10 * np.log10(max(power, 1e-12) / 32768.0**2))


def cancel_pair(
    far: np.ndarray,
    mic: np.ndarray,
    rate: int,
    *,
    processor: EchoProcessor | None = None,
    noise_suppression: bool = False,
) -> tuple[np.ndarray, EchoReport]:
    """The microphone with the far end's echo removed (mono int16, same rate and length) and the report."""
    canceller = EchoCanceller(
        (lambda _rate: processor) if processor is not None else None,
        noise_suppression=noise_suppression,
        rate=processor.sample_rate if processor is not None else PROCESS_RATE,
        gate=False,  # a recording is cleaned (and its echo removal reported) by AEC3 alone, nothing muted
    )
    canceller.attach_speaker()
    step = rate // 100
    count = mic.shape[0] // step
    far = np.concatenate([far.reshape(-1), np.zeros(max(0, count * step - far.shape[0]), dtype=np.int16)])
    parts = []
    for i in range(count):
        piece = slice(i * step, (i + 1) * step)
        canceller.note_played(far[piece].reshape(-1, 1), rate)
        parts.append(canceller.process(mic[piece].reshape(-1, 1), rate).reshape(-1))
    cleaned = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int16)
    # the resamplers hold a few samples back: pad the end with silence (never raw echo) to keep the length
    out = np.zeros(mic.shape[0], dtype=np.int16)
    out[: min(cleaned.shape[0], out.shape[0])] = cleaned[: out.shape[0]]
    delay = estimate_delay_ms(far[: count * step], mic[: count * step], rate)
    echo, residual = _far_stretch_levels(far, mic, out, rate, count, delay)
    return out, EchoReport(rate, mic.shape[0] / rate, delay, echo, residual)


def _far_stretch_levels(
    far: np.ndarray, mic: np.ndarray, out: np.ndarray, rate: int, count: int, delay_ms: float | None
) -> tuple[float | None, float | None]:
    step = rate // 100
    shift = round((delay_ms or 0.0) * rate / 1000)
    frames = np.arange(count)
    far_frames = far[: count * step].reshape(count, step).astype(np.float64)
    far_power = np.mean(far_frames**2, axis=1)
    threshold = (10 ** (ACTIVE_DBFS / 20) * 32768.0) ** 2
    # a near frame carries echo when the far end played within the 100 ms before its (delayed) arrival
    playing = far_power > threshold
    echo_frames = np.zeros(count, dtype=bool)
    for back in range(0, 10):
        source = frames - shift // step - back
        valid = (source >= 0) & (source < count)
        echo_frames[valid] |= playing[source[valid]]
    echo_frames[: min(200, count // 3)] = False  # the first 2 s (a third of short files): still converging
    if not echo_frames.any():
        return None, None
    near = mic[: count * step].reshape(count, step).astype(np.float64)[echo_frames]
    cleaned = out[: count * step].reshape(count, step).astype(np.float64)[echo_frames]
    return _level_dbfs(float(np.mean(near**2))), _level_dbfs(float(np.mean(cleaned**2)))


def cancel_files(
    far_path: str | os.PathLike[str],
    mic_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    noise_suppression: bool = False,
) -> EchoReport:
    """``voxflow echo-cancel``: read both files, cancel, write the cleaned microphone as a WAV file."""
    from audio.dsp.wavfile import WavWriter

    mic, rate = read_mono(mic_path)
    far, _ = read_mono(far_path, rate)
    out, report = cancel_pair(far, mic, rate, noise_suppression=noise_suppression)
    Path(output_path).parent.mkdir(parents=True, exist_ok=True)
    with WavWriter(output_path, rate, 1) as writer:
        writer.write(out.reshape(-1, 1))
    return report
