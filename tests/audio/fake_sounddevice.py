"""A scripted stand-in for the ``sounddevice`` module: devices we choose, streams we drive by hand.

Used to test device choice and the callback logic deterministically; the
real PortAudio path is covered by test_real_devices.py over ALSA's null device.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, Callable


class FakeStream:
    def __init__(self, owner: FakeSoundDevice, kind: str, **kwargs: Any) -> None:
        if kwargs["samplerate"] not in owner.supported_rates:
            raise ValueError(f"Invalid sample rate {kwargs['samplerate']}")
        self.kind = kind
        self.kwargs = kwargs
        self.callback: Callable[..., None] = kwargs["callback"]
        self.started = self.closed = False
        self.latency = owner.latency  # seconds, as PortAudio reports a one-way stream's
        owner.streams.append(self)

    def start(self) -> None:
        self.started = True

    def abort(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True


class FakeSoundDevice(SimpleNamespace):
    def __init__(self, devices: list[dict[str, Any]], default: tuple[int, int] = (0, 1), rates: tuple[int, ...] = (48000, 24000, 16000)) -> None:
        super().__init__()
        self.devices = devices
        self.default = SimpleNamespace(device=list(default))
        self.supported_rates = rates
        self.streams: list[FakeStream] = []
        self.latency = 0.0

    def query_devices(self) -> list[dict[str, Any]]:
        return self.devices

    def query_hostapis(self) -> list[dict[str, Any]]:
        return [{"name": "ALSA"}]

    def InputStream(self, **kwargs: Any) -> FakeStream:  # noqa: N802 - sounddevice's name
        return FakeStream(self, "input", **kwargs)

    def OutputStream(self, **kwargs: Any) -> FakeStream:  # noqa: N802 - sounddevice's name
        return FakeStream(self, "output", **kwargs)


def device(name: str, inputs: int, outputs: int, rate: float = 48000.0) -> dict[str, Any]:
    return {"name": name, "hostapi": 0, "max_input_channels": inputs, "max_output_channels": outputs, "default_samplerate": rate}


HEADSET = [
    device("USB Headset Mic", 1, 0),
    device("USB Headset Speaker", 0, 2),
    device("HDA Intel PCH: ALC256 Analog", 2, 2, 44100.0),
    device("HDMI 0", 0, 8),
]
