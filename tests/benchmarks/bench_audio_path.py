"""Benchmark: CPU cost of the audio path, per second of audio.

    python tests/benchmarks/bench_audio_path.py [--seconds 60]

Pushes SECONDS of a tone through FileSource -> SourceTrack -> Opus on a
loopback pair of RTCPeerConnections -> TrackPump -> WavFileSink as fast as
possible (the track's clock never sleeps), and prints CPU seconds per audio
second for

* our code alone: the sending side (file source + SourceTrack.recv) and the
  receiving side (TrackPump: resample 48 kHz stereo -> 24 kHz mono + WAV
  sink), each timed on its own without aiortc;
* the whole path, including aiortc's Opus encode/decode, RTP, SRTP and UDP;

and the ratio of our code to the target of 1% of one core per stream.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from aiortc import RTCConfiguration, RTCPeerConnection  # noqa: E402
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack  # noqa: E402

from audio.dsp.formats import pcm_to_wav_bytes, to_int16  # noqa: E402
from audio.io.sinks import WavFileSink  # noqa: E402
from audio.io.sources import FileSource  # noqa: E402
from audio.transports.tracks import SourceTrack, TrackPump  # noqa: E402

TARGET_CPU_PER_AUDIO_SECOND = 0.01  # 1% of one core


class NoSleepClock:
    """Virtual time: ``sleep`` moves the clock instead of waiting, so pacing costs nothing."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now

    def time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def make_input(folder: Path, seconds: float) -> Path:
    t = np.arange(round(48000 * seconds)) / 48000
    pcm = to_int16(0.3 * np.sin(2 * np.pi * 440 * t)).reshape(-1, 1)
    path = folder / "input.wav"
    path.write_bytes(pcm_to_wav_bytes(pcm, 48000))
    return path


async def sending_side(path: Path) -> tuple[float, int]:
    """CPU seconds for FileSource + SourceTrack.recv over the whole file."""
    track = SourceTrack(FileSource(path, realtime=False), clock=NoSleepClock(), end_with_source=True)
    frames = 0
    start = time.process_time()
    try:
        while True:
            await track.recv()
            frames += 1
    except MediaStreamError:
        pass
    cpu = time.process_time() - start
    await track.aclose()
    return cpu, frames


class PreparedTrack(MediaStreamTrack):
    """Hands out pre-built 48 kHz stereo frames, as aiortc's decoder would."""

    kind = "audio"

    def __init__(self, frames: list[av.AudioFrame]) -> None:
        super().__init__()
        self._frames = iter(frames)

    async def recv(self) -> av.AudioFrame:
        frame = next(self._frames, None)
        if frame is None:
            self.stop()
            raise MediaStreamError
        return frame


async def receiving_side(folder: Path, seconds: float) -> float:
    """CPU seconds for TrackPump (resample + WAV sink) over SECONDS of decoded-style frames."""
    tone = to_int16(0.3 * np.sin(2 * np.pi * 440 * np.arange(960) / 48000))
    block = np.repeat(tone.reshape(-1, 1), 2, axis=1).reshape(1, -1)
    frames = []
    for i in range(round(seconds * 50)):
        frame = av.AudioFrame.from_ndarray(block, format="s16", layout="stereo")
        frame.sample_rate = 48000
        frame.pts = i * 960
        frame.time_base = Fraction(1, 48000)
        frames.append(frame)
    sink = WavFileSink(folder / "pump.wav", 24000, 1)
    pump = TrackPump(PreparedTrack(frames), sink)
    start = time.process_time()
    pump.start()
    await pump.wait()
    cpu = time.process_time() - start
    sink.stop()
    return cpu


async def whole_path(path: Path, folder: Path) -> tuple[float, float, float, float]:
    """(cpu seconds, wall seconds, audio seconds sent, audio seconds received) through a real Opus pair."""
    config = RTCConfiguration(iceServers=[])
    sender, receiver = RTCPeerConnection(config), RTCPeerConnection(config)
    track = SourceTrack(FileSource(path, realtime=False), clock=NoSleepClock(), end_with_source=True)
    sender.addTrack(track)
    sink = WavFileSink(folder / "received.wav", 24000, 1)
    pumps: list[TrackPump] = []

    @receiver.on("track")
    def on_track(remote: MediaStreamTrack) -> None:
        pump = TrackPump(remote, sink)
        pump.start()
        pumps.append(pump)

    await sender.setLocalDescription(await sender.createOffer())
    await receiver.setRemoteDescription(sender.localDescription)
    await receiver.setLocalDescription(await receiver.createAnswer())
    await sender.setRemoteDescription(receiver.localDescription)
    wall = time.perf_counter()
    cpu = time.process_time()
    await track.wait_source_ended()
    sent = track.frames_sent * 0.02
    last = -1
    deadline = time.perf_counter() + 120
    while sink.samples_written != last and time.perf_counter() < deadline:  # until the receiver caught up
        last = sink.samples_written
        await asyncio.sleep(0.3)
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    await sender.close()
    await receiver.close()
    for pump in pumps:
        await pump.stop()
    await track.aclose()
    sink.stop()
    return cpu, wall, sent, sink.samples_written / 24000


async def main(seconds: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        path = make_input(folder, seconds)
        send_cpu, frames = await sending_side(path)
        receive_cpu = await receiving_side(folder, seconds)
        ours = (send_cpu + receive_cpu) / seconds
        print(f"audio: {seconds:g} s of 48 kHz mono tone ({frames} frames of 20 ms)")
        print(f"our code, sending side   (FileSource + SourceTrack): {send_cpu / seconds * 1000:7.3f} ms CPU per audio s")
        print(f"our code, receiving side (TrackPump + resample + WAV): {receive_cpu / seconds * 1000:7.3f} ms CPU per audio s")
        print(
            f"our code, total: {ours:.5f} CPU s per audio s = {ours * 100:.3f}% of one core; "
            f"ratio to the 1% target: {ours / TARGET_CPU_PER_AUDIO_SECOND:.3f} (below 1.0 meets it)"
        )
        cpu, wall, sent, received = await whole_path(path, folder)
        print(
            f"whole path (incl. aiortc Opus encode/decode, RTP/SRTP, UDP loopback): sent {sent:.1f} s, "
            f"received {received:.1f} s in {wall:.1f} s wall"
        )
        print(
            f"whole path: {cpu / seconds:.5f} CPU s per audio s = {cpu / seconds * 100:.2f}% of one core; "
            f"our share: {ours / (cpu / seconds) * 100:.1f}%"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    asyncio.run(main(parser.parse_args().seconds))
