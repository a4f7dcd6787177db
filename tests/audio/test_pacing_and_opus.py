"""Pacing that ``stop()`` cuts short on an injected clock, and libopus decoding with loss concealment and FEC."""

from __future__ import annotations

import asyncio

import av
import numpy as np

from audio.base.clock import FakeClock
from audio.dsp.opus_decoder import CHANNELS, SAMPLE_RATE, OpusDecoder, to_frame
from audio.dsp.pacing import interrupt, interruptible_sleep


class Paced:
    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self._pacing_wait: asyncio.Task[object] | None = None
        self._interrupted = False


async def test_a_sleep_ends_when_its_time_is_up_on_the_injected_clock() -> None:
    clock = FakeClock()
    owner = Paced(clock)
    sleeping = asyncio.create_task(interruptible_sleep(owner, 0.02))
    while clock.pending_sleepers == 0:
        await asyncio.sleep(0)
    await clock.advance(0.02)
    assert await asyncio.wait_for(sleeping, 5) is True
    assert owner._pacing_wait is None


async def test_interrupt_wakes_a_sleep_the_clock_would_never_end_and_other_cancels_propagate() -> None:
    owner = Paced(FakeClock())
    sleeping = asyncio.create_task(interruptible_sleep(owner, 3600))
    while owner._pacing_wait is None:
        await asyncio.sleep(0)
    interrupt(owner)
    assert await asyncio.wait_for(sleeping, 5) is False
    cancelled = asyncio.create_task(interruptible_sleep(owner, 3600))
    while owner._pacing_wait is None:
        await asyncio.sleep(0)
    cancelled.cancel()
    try:
        await asyncio.wait_for(cancelled, 5)
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("a cancellation that is not an interrupt must propagate")


def opus_packets(seconds: float = 0.2) -> list[bytes]:
    """A 440 Hz tone encoded by PyAV's libopus in 20 ms packets."""
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = SAMPLE_RATE, "stereo", "s16"
    samples = int(SAMPLE_RATE * seconds)
    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(samples) / SAMPLE_RATE)).astype(np.int16)
    packets: list[bytes] = []
    for start in range(0, samples, 960):
        pcm = np.repeat(tone[start:start + 960], CHANNELS).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(pcm, format="s16", layout="stereo")
        frame.sample_rate, frame.pts = SAMPLE_RATE, start
        packets += [bytes(packet) for packet in encoder.encode(frame)]
    return packets


def test_decode_conceal_recover_and_the_frame_aiortc_would_give() -> None:
    packets = opus_packets()
    decoder = OpusDecoder()
    try:
        decoded = [decoder.decode(packet) for packet in packets[:5]]
        assert all(pcm.shape == (960, CHANNELS) and pcm.dtype == np.int16 for pcm in decoded)
        assert np.abs(decoded[-1]).max() > 1000  # the tone, not silence
        concealed = decoder.conceal(960)
        recovered = decoder.recover(packets[7], 960)
        assert concealed.shape == recovered.shape == (960, CHANNELS)
        assert decoder.decode(b"\xff\xff\xff").shape[1] == CHANNELS  # corrupt: concealed, counted
        assert (decoder.decoded, decoder.concealed, decoder.recovered, decoder.errors) == (6, 1, 1, 1)
    finally:
        decoder.close()
    frame = to_frame(decoded[0], pts=960)
    assert (frame.sample_rate, frame.samples, frame.layout.name, frame.format.name, frame.pts) == (48_000, 960, "stereo", "s16", 960)
