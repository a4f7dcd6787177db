"""SourceTrack pacing/gating/ending, TrackPump draining, clean stops, and a real aiortc loopback."""

from __future__ import annotations

import asyncio
import threading
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from audio.base.clock import FakeClock
from audio.io.sinks import NullSink, WavFileSink
from audio.io.sources import FileSource, SilenceSource, ToneSource
from audio.transports.tracks import SourceTrack, TrackPump
from tests.audio.helpers import dominant_frequency, read_all
from tests.audio.test_sources import write_tone_wav


async def test_track_frames_have_pts_time_base_and_20ms(fake_clock: FakeClock) -> None:
    track = SourceTrack(ToneSource(sample_rate=24000, realtime=False), clock=fake_clock)
    assert track.kind == "audio"
    first = await track.recv()
    assert (first.samples, first.sample_rate, first.pts, first.time_base) == (480, 24000, 0, Fraction(1, 24000))
    assert first.format.name == "s16" and first.layout.name == "stereo"  # aiortc's encoder would upmix at -3 dB
    left, right = first.to_ndarray().reshape(-1, 2).T
    assert np.array_equal(left, right) and np.abs(left).max() > 1000
    second = asyncio.create_task(track.recv())
    await asyncio.sleep(0)
    assert not second.done()  # paced: the next frame waits for the clock
    await fake_clock.advance(0.02)
    assert (await asyncio.wait_for(second, 5)).pts == 480
    await track.aclose()


async def test_one_second_of_audio_takes_one_second_of_clock(fake_clock: FakeClock) -> None:
    track = SourceTrack(ToneSource(sample_rate=48000, realtime=False), clock=fake_clock)
    frames: list[av.AudioFrame] = []

    async def pull() -> None:
        while True:
            frames.append(await track.recv())

    task = asyncio.create_task(pull())
    for _ in range(100):
        await fake_clock.advance(0.01)
    assert 50 <= len(frames) <= 51  # 1 s of clock -> 1 s of audio
    assert frames[-1].pts == (len(frames) - 1) * 960
    assert track.silent_frames_sent == 0
    task.cancel()
    await track.aclose()


async def test_gate_sends_silence_but_consumes_the_source(fake_clock: FakeClock) -> None:
    seen: list[bool] = []
    track = SourceTrack(
        ToneSource(sample_rate=16000, realtime=False), clock=fake_clock, on_frame=lambda f, gated: seen.append(gated)
    )
    assert (await track.recv()).to_ndarray().any()
    track.set_gate(False)
    assert not track.gate_open
    for _ in range(3):
        recv = asyncio.create_task(track.recv())
        await fake_clock.advance(0.02)
        assert not (await asyncio.wait_for(recv, 5)).to_ndarray().any()
    track.set_gate(True)
    recv = asyncio.create_task(track.recv())
    await fake_clock.advance(0.02)
    assert (await asyncio.wait_for(recv, 5)).to_ndarray().any()
    assert seen == [False, True, True, True, False] and track.gated_frames == 3
    await track.aclose()


async def test_track_keeps_the_call_up_with_silence_after_the_source_ends(fake_clock: FakeClock) -> None:
    track = SourceTrack(ToneSource(sample_rate=8000, duration=0.04, realtime=False), clock=fake_clock)
    frames = []
    for _ in range(5):
        recv = asyncio.create_task(track.recv())
        await fake_clock.advance(0.02)
        frames.append(await asyncio.wait_for(recv, 5))
    assert [bool(f.to_ndarray().any()) for f in frames] == [True, True, False, False, False]
    assert track.source_ended and track.readyState == "live"
    await track.aclose()


async def test_track_can_end_with_its_source(fake_clock: FakeClock) -> None:
    track = SourceTrack(SilenceSource(sample_rate=8000, duration=0.02, realtime=False), clock=fake_clock, end_with_source=True)
    await track.recv()
    recv = asyncio.create_task(track.recv())
    await fake_clock.advance(0.02)
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(recv, 5)
    assert track.readyState == "ended"


async def test_stop_ends_a_recv_waiting_on_the_clock(fake_clock: FakeClock) -> None:
    track = SourceTrack(ToneSource(sample_rate=8000, realtime=False), clock=fake_clock)
    await track.recv()
    recv = asyncio.create_task(track.recv())
    await asyncio.sleep(0)
    track.stop()
    with pytest.raises(MediaStreamError):
        await asyncio.wait_for(recv, 5)


class ListTrack(MediaStreamTrack):
    """A received-track stand-in: hands out prepared 48 kHz stereo frames, then ends."""

    kind = "audio"

    def __init__(self, frames: list[av.AudioFrame]) -> None:
        super().__init__()
        self.frames = frames

    async def recv(self) -> av.AudioFrame:
        await asyncio.sleep(0)
        if not self.frames:
            self.stop()
            raise MediaStreamError
        return self.frames.pop(0)


def stereo_frames(freq: float, seconds: float) -> list[av.AudioFrame]:
    t = np.arange(round(48000 * seconds)) / 48000
    mono = (0.3 * 32767 * np.sin(2 * np.pi * freq * t)).astype(np.int16)
    stereo = np.repeat(mono.reshape(-1, 1), 2, axis=1)
    frames = []
    for i in range(0, len(stereo), 960):
        frame = av.AudioFrame.from_ndarray(stereo[i : i + 960].reshape(1, -1), format="s16", layout="stereo")
        frame.sample_rate = 48000
        frame.pts = i
        frame.time_base = Fraction(1, 48000)
        frames.append(frame)
    return frames


async def test_pump_downmixes_and_resamples_into_the_sink(tmp_path: Path) -> None:
    sink = WavFileSink(tmp_path / "out.wav", 24000, 1)
    got: list[int] = []
    pump = TrackPump(ListTrack(stereo_frames(750, 1.0)), sink, on_frame=lambda pcm: got.append(len(pcm)))
    pump.start()
    await asyncio.wait_for(pump.wait(), 20)
    sink.stop()
    assert pump.frames_received == 50 and abs(sum(got) - 24000) <= 64
    audio = np.concatenate(await read_all(FileSource(tmp_path / "out.wav", realtime=False)))
    assert dominant_frequency(audio[1000:-1000, 0], 24000) == pytest.approx(750, abs=2)


async def test_track_and_pump_leave_no_task_or_thread_behind() -> None:
    threads_before = set(threading.enumerate())
    tasks_before = asyncio.all_tasks()
    track = SourceTrack(ToneSource(sample_rate=48000, realtime=True), end_with_source=False)
    pump = TrackPump(track, NullSink(24000, 1))
    pump.start()

    async def flowing() -> None:
        while pump.frames_received < 2:
            await asyncio.sleep(0.01)
    await asyncio.wait_for(flowing(), 20)
    await pump.stop()
    await track.aclose()
    await asyncio.sleep(0)
    assert asyncio.all_tasks() == tasks_before
    assert set(threading.enumerate()) == threads_before


@pytest.mark.slow
async def test_loopback_peer_connections_carry_a_tone_through_opus(tmp_path: Path) -> None:
    path = write_tone_wav(tmp_path / "tone.wav", 1000, 24000, 3.0)
    source = FileSource(path, realtime=False)
    sink = WavFileSink(tmp_path / "received.wav", 24000, 1)
    config = RTCConfiguration(iceServers=[])
    sender, receiver = RTCPeerConnection(config), RTCPeerConnection(config)
    track = SourceTrack(source)
    sender.addTrack(track)
    pumps: list[TrackPump] = []

    @receiver.on("track")
    def on_track(remote: MediaStreamTrack) -> None:
        pump = TrackPump(remote, sink)
        pump.start()
        pumps.append(pump)

    try:
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        started = time.monotonic()
        await asyncio.wait_for(track.wait_source_ended(), 20)
        elapsed = time.monotonic() - started
        await asyncio.sleep(0.3)  # the last packets in flight
    finally:
        await sender.close()
        await receiver.close()
        for pump in pumps:
            await pump.stop()
        await track.aclose()
        sink.stop()
    assert pumps and pumps[0].frames_received > 100
    assert 2.0 < elapsed < 10  # paced in real time (3 s of audio), generously bounded
    received = np.concatenate(await read_all(FileSource(tmp_path / "received.wav", realtime=False)))[:, 0]
    loud = np.flatnonzero(np.abs(received) > 3000)
    assert loud.size > 24000  # over a second of the tone came through
    middle = received[loud[0] + 2400 : loud[-1] - 2400]
    assert dominant_frequency(middle, 24000) == pytest.approx(1000, abs=5)
    sent_rms = 0.5 * 32767 / np.sqrt(2)
    level_db = 20 * np.log10(np.sqrt(np.mean(middle.astype(np.float64) ** 2)) / sent_rms)
    assert abs(level_db) < 0.5, f"the tone arrived {level_db:+.1f} dB off its level"  # no -3 dB pan law on the way


async def test_realtime_source_on_the_same_clock_sends_no_gaps(fake_clock: FakeClock) -> None:
    source = ToneSource(sample_rate=16000, realtime=True, clock=fake_clock)
    track = SourceTrack(source, clock=fake_clock)
    frames: list[av.AudioFrame] = []

    async def pull() -> None:
        while True:
            frames.append(await track.recv())

    task = asyncio.create_task(pull())
    for _ in range(100):
        await fake_clock.advance(0.01)
    assert len(frames) >= 50 and track.silent_frames_sent == 0
    task.cancel()
    await track.aclose()
    source.stop()
