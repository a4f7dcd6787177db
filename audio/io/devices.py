"""Sound devices: lazy PortAudio loading, listing, and choosing a device by index or name.

``sounddevice`` raises ``OSError`` at import time when the PortAudio library
is missing, and machines reached over SSH or CI runners often have no sound
card at all. So it is imported only when a device is actually needed, and
every way that can fail becomes a :class:`VoxflowError` naming the exact fix
(install ``libportaudio2``, or use ``--input FILE`` / ``--output FILE``).
Flows that use files, tones or the null sink never load PortAudio.

:class:`~audio.io.microphone.MicrophoneSource` and
:class:`~audio.io.speaker.SpeakerSink` build on this module and live in their
own; nothing here imports them, so the dependency points one way.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from audio.base.errors import VoxflowError
from audio.dsp.frames import frame_samples

DeviceKind = Literal["input", "output"]

NO_PORTAUDIO = "the PortAudio sound library is not installed, so voxflow cannot open a microphone or speaker"
NO_PORTAUDIO_FIX = (
    "Install it with `apt-get install libportaudio2` (macOS: `brew install portaudio`), "
    "or run without sound devices: --input FILE.wav / --output FILE.wav."
)
_FILE_OPTION = {"input": "--input FILE.wav", "output": "--output FILE.wav"}
_DEVICE_WORD = {"input": "microphone (input device)", "output": "speaker (output device)"}


@contextlib.contextmanager
def quiet_native_stderr() -> Iterator[None]:
    """Silence what C libraries print on file descriptor 2 while PortAudio probes the sound system.

    ALSA and JACK print lines such as "ALSA lib pcm.c: Unknown PCM" or "jack
    server is not running" straight to the terminal when PortAudio starts or
    opens a stream, which would garble the TUI; failures still reach the user
    as VoxflowErrors. Set ``VOXFLOW_AUDIO_DEBUG=1`` to see the native messages.
    """
    if os.environ.get("VOXFLOW_AUDIO_DEBUG"):
        yield
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError, AttributeError):  # no usable fd 2 (embedded, closed stderr)
        yield
        return
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def _import_sounddevice() -> ModuleType:
    """Import sounddevice; the one place tests replace to simulate a missing PortAudio."""
    return importlib.import_module("sounddevice")


_module: ModuleType | None = None


def load_sounddevice() -> ModuleType:
    """The ``sounddevice`` module, or a VoxflowError saying how to install PortAudio."""
    global _module
    if _module is None:
        try:
            with quiet_native_stderr():
                _module = _import_sounddevice()
        except (OSError, ImportError) as error:
            raise VoxflowError(NO_PORTAUDIO, hint=NO_PORTAUDIO_FIX) from error
    return _module


def portaudio_available() -> bool:
    try:
        load_sounddevice()
    except VoxflowError:
        return False
    return True


@dataclass(frozen=True)
class DeviceInfo:
    """One PortAudio device, as ``voxflow devices`` shows it."""

    index: int
    name: str
    hostapi: str
    max_input_channels: int
    max_output_channels: int
    default_samplerate: float
    is_default_input: bool
    is_default_output: bool

    def supports(self, kind: DeviceKind) -> bool:
        return (self.max_input_channels if kind == "input" else self.max_output_channels) > 0

    def channels(self, kind: DeviceKind) -> int:
        return self.max_input_channels if kind == "input" else self.max_output_channels


def _default_indices(sd: ModuleType) -> tuple[int, int]:
    default = sd.default.device
    try:
        pair = list(default)
    except TypeError:
        pair = [default, default]
    values = [int(x) if x is not None else -1 for x in pair[:2]]
    return values[0], values[1]


def list_devices() -> list[DeviceInfo]:
    """Every device PortAudio reports (an empty list when there is no sound card)."""
    sd = load_sounddevice()
    try:
        with quiet_native_stderr():
            raw = sd.query_devices()
            hostapis = sd.query_hostapis()
    except Exception as error:  # PortAudio failed to initialise (broken ALSA config, no server)
        raise VoxflowError(
            f"PortAudio could not list sound devices ({type(error).__name__})",
            hint="Check the sound system (ALSA/PulseAudio) or use --input FILE.wav / --output FILE.wav.",
        ) from None
    default_in, default_out = _default_indices(sd)
    devices: list[DeviceInfo] = []
    for index, device in enumerate(raw):
        hostapi_index = int(device.get("hostapi", 0))
        hostapi = hostapis[hostapi_index]["name"] if 0 <= hostapi_index < len(hostapis) else "?"
        devices.append(
            DeviceInfo(
                index=index,
                name=str(device["name"]),
                hostapi=str(hostapi),
                max_input_channels=int(device["max_input_channels"]),
                max_output_channels=int(device["max_output_channels"]),
                default_samplerate=float(device["default_samplerate"]),
                is_default_input=index == default_in,
                is_default_output=index == default_out,
            )
        )
    return devices


def _listing(devices: list[DeviceInfo], kind: DeviceKind) -> str:
    usable = [d for d in devices if d.supports(kind)]
    if not usable:
        return f"there are no {kind} devices"
    return "available: " + ", ".join(f"{d.index}: {d.name}" for d in usable)


def no_device_error(kind: DeviceKind) -> VoxflowError:
    return VoxflowError(
        f"no {_DEVICE_WORD[kind]} found (no sound card, or none reachable from this session)",
        hint=f"Plug one in and check `voxflow devices`, or use {_FILE_OPTION[kind]} instead.",
    )


def resolve_device(spec: str | int | None, kind: DeviceKind) -> DeviceInfo:
    """The device for ``spec``: None = the default, an int or digits = an index, text = a name substring."""
    devices = list_devices()
    usable = [d for d in devices if d.supports(kind)]
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        for device in usable:
            if device.is_default_input if kind == "input" else device.is_default_output:
                return device
        if usable:
            return usable[0]
        raise no_device_error(kind)
    if isinstance(spec, int) or spec.strip().isdigit():
        index = int(spec)
        match = next((d for d in devices if d.index == index), None)
        if match is None or not match.supports(kind):
            problem = "does not exist" if match is None else f"has no {kind} channels"
            raise VoxflowError(
                f"{kind} device {index} {problem}; {_listing(devices, kind)}",
                hint="Pick an index or a part of a name from `voxflow devices`.",
            )
        return match
    wanted = spec.strip().casefold()
    exact = [d for d in usable if d.name.casefold() == wanted]
    if exact:
        return exact[0]
    matches = [d for d in usable if wanted in d.name.casefold()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise VoxflowError(
            f"no {kind} device matches {spec!r}; {_listing(devices, kind)}",
            hint="Pick an index or a part of a name from `voxflow devices`.",
        )
    names = ", ".join(f"{d.index}: {d.name}" for d in matches)
    raise VoxflowError(
        f"{spec!r} matches several {kind} devices: {names}",
        hint="Use more of the name, or the device index.",
    )


def open_callback_stream(
    kind: DeviceKind, device: DeviceInfo, rate: int, channels: int, callback: Callable[..., None]
) -> tuple[Any, int]:
    """Open and start a 20 ms int16 callback stream on ``device``; returns it and the rate it runs at.

    Many cards accept only their own rate, so ``rate`` is tried first and
    then the device's default rate (the caller resamples). Opening *and*
    starting are tried together: PortAudio may refuse either.
    """
    sd = load_sounddevice()
    factory = sd.InputStream if kind == "input" else sd.OutputStream
    attempts = [rate]
    device_rate = int(device.default_samplerate)
    if device_rate and device_rate != rate:
        attempts.append(device_rate)
    last_error: Exception | None = None
    for attempt in attempts:
        stream = None
        try:
            with quiet_native_stderr():
                stream = factory(
                    device=device.index,
                    samplerate=attempt,
                    channels=channels,
                    dtype="int16",
                    blocksize=frame_samples(attempt),
                    latency="low",
                    callback=callback,
                )
                stream.start()
        except Exception as error:  # sd.PortAudioError and ValueError for unsupported formats
            last_error = error
            if stream is not None:
                with contextlib.suppress(Exception):
                    stream.close()
            continue
        return stream, attempt
    what, option = ("microphone", "--input-device") if kind == "input" else ("speaker", "--output-device")
    raise VoxflowError(
        f"cannot open the {what} {device.name!r}: {last_error}",
        hint=f"Pick another device (`voxflow devices`, {option}) or use {_FILE_OPTION[kind]}.",
    )


__all__ = [
    "DeviceInfo",
    "list_devices",
    "load_sounddevice",
    "open_callback_stream",
    "portaudio_available",
    "resolve_device",
]
