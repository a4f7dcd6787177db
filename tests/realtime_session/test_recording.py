"""``--record`` on one clock: every echo of a click sits in the recording where the session's hooks timed it.

A click train (5 ms noise bursts, 1 s apart) goes through a real session
over WebRTC to the local server in ``echo-audio`` mode, which mirrors it back.
The recorder's own hooks say when each click was sent (the track's schedule)
and when its echo was handed to playback; those stamps are checked against the
wall clock as the hooks hand each frame over (a frame is never stamped after
it was handed over; a mirrored frame, over WebRTC, when it was). The recording
must give the same round trip (click by click, the median difference within
5 ms: the reply's stamps jitter with the event loop, tens of ms on a loaded
machine, and the recording keeps a voice whole rather than follow each frame),
and no echo may come before its click.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from audio.base.registry import AudioRegistry
from audio.dsp.wavfile import WavWriter
from audio.io.recorder import StereoRecorder
from audio.io.sources import FileSource
from audio.server import LocalRealtimeServer, ServerConfig
from audio.session.session import RealtimeSession
from audio.transports.secrets import DirectSecretProvider
from audio.wire.config import ServerVad, SessionConfig

RATE, OUTPUT_RATE = 48_000, 24_000
CLICKS, SPACING, LEAD_IN, TAIL = 12, 1.0, 1.0, 1.0  # 1 s apart: a round trip of up to 0.7 s stays unambiguous
ONSET_FRACTION, MIN_PEAK = 0.25, 1000  # a click's onset: its first sample reaching 25 % of its peak


def click_train(path: Path) -> None:
    """Silence, CLICKS bursts of white noise (5 ms, -20 dBFS) SPACING apart, silence."""
    burst = np.random.default_rng(7).standard_normal(RATE * 5 // 1000) * 0.1 * 32767
    pcm = np.zeros(round((LEAD_IN + CLICKS * SPACING + TAIL) * RATE))
    for k in range(CLICKS):
        start = round((LEAD_IN + k * SPACING) * RATE)
        pcm[start:start + len(burst)] = burst
    writer = WavWriter(path, RATE, 1)
    writer.write(np.clip(np.rint(pcm), -32768, 32767).astype(np.int16).reshape(-1, 1))
    writer.close()


class Stream:
    """Samples with the time each one was sent or played: a chunk stamped t has sample j at t + j / rate."""

    def __init__(self) -> None:
        self.chunks: list[tuple[float, np.ndarray, int]] = []

    def add(self, stamp: float, pcm: np.ndarray, rate: int) -> None:
        self.chunks.append((stamp, np.abs(np.asarray(pcm)[:, 0].astype(np.int32)), rate))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        times = np.concatenate([stamp + np.arange(len(level)) / rate for stamp, level, rate in self.chunks])
        return times, np.concatenate([level for _, level, _ in self.chunks])


def onset(times: np.ndarray, levels: np.ndarray, start: float, end: float) -> float | None:
    inside = np.flatnonzero((times >= start) & (times < end))
    if not inside.size or levels[inside].max() < MIN_PEAK:
        return None
    window = levels[inside]
    return float(times[inside[int(np.argmax(window >= ONSET_FRACTION * window.max()))]])


class HookTimes:
    """The session's recorder: passes everything to the real one, and keeps what the hooks say about each frame."""

    def __init__(self, recorder: StereoRecorder) -> None:
        self.recorder = recorder
        self.sent, self.played = Stream(), Stream()
        self.sent_at: list[tuple[float, float]] = []  # (stamp, when the hook handed the frame over)
        self.played_at: list[tuple[float, float]] = []

    def write_user(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        assert at is not None
        self.sent_at.append((at, time.monotonic()))
        self.sent.add(at, pcm, rate)
        self.recorder.write_user(pcm, rate, at)

    def write_assistant(self, pcm: np.ndarray, rate: int, at: float | None = None) -> None:
        assert at is not None
        self.played_at.append((at, time.monotonic()))
        self.played.add(at, pcm, rate)
        self.recorder.write_assistant(pcm, rate, at)

    def cut_assistant(self, at: float | None = None) -> None:
        self.recorder.cut_assistant(at)


async def record_clicks(tmp_path: Path) -> tuple[HookTimes, StereoRecorder]:
    clicks = tmp_path / "clicks.wav"
    click_train(clicks)
    server = LocalRealtimeServer(ServerConfig(reply="echo-audio", speech=False))
    await server.start()
    recorder = StereoRecorder(tmp_path / "both.wav", OUTPUT_RATE)  # the session's clock: the system's
    hooks = HookTimes(recorder)
    source = FileSource(clicks, realtime=True)
    # the clicks never start a turn (a barge-in would clear the mirrored audio); the guard would mute echoes
    config = SessionConfig(base_url=server.base_url, transcription_model=None,
                           vad=ServerVad(threshold=1.0, create_response=False, interrupt_response=False))
    session = RealtimeSession(config, secret_provider=DirectSecretProvider("sk-test", base_url=server.base_url),
                              registry=AudioRegistry(), input_source=source, recorder=hooks, echo_guard=False)
    reader: asyncio.Task[None] | None = None
    try:
        await asyncio.wait_for(session.connect(), 30)
        pipe = session.output_pipe
        assert pipe is not None

        async def drain() -> None:  # the speaker's part: take the reply as it comes
            while await pipe.read() is not None:
                pass

        reader = asyncio.create_task(drain())
        await asyncio.wait_for(source.wait_ended(), LEAD_IN + CLICKS * SPACING + 60)
        await asyncio.sleep(TAIL)
    finally:
        await session.disconnect()
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        recorder.close()
        await server.stop()
    return hooks, recorder


@pytest.mark.slow
@pytest.mark.timeout(150)
async def test_the_recording_shows_each_echo_where_the_hooks_timed_it(tmp_path: Path) -> None:
    hooks, recorder = await record_clicks(tmp_path)
    # (the two reads of the clock are a few lines apart: a loaded machine may take the process off the CPU between)
    late = max(stamp - handed for stamp, handed in hooks.sent_at)
    assert late <= 0.02, f"a frame was stamped {late * 1000:.1f} ms after it was sent"  # sent when due, or later
    off = max(abs(stamp - handed) for stamp, handed in hooks.played_at)
    assert off <= 0.02, f"a frame of the reply was stamped {off * 1000:.1f} ms off"  # WebRTC: it plays as it comes
    sent, played = hooks.sent.arrays(), hooks.played.arrays()
    with wave.open(str(tmp_path / "both.wav")) as wav:
        assert (wav.getnchannels(), wav.getframerate()) == (2, OUTPUT_RATE)
        both = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").reshape(-1, 2)
    at = recorder.origin + np.arange(len(both)) / OUTPUT_RATE  # a recording sample's place on the session clock
    left, right = np.abs(both[:, 0].astype(np.int32)), np.abs(both[:, 1].astype(np.int32))

    click = onset(*sent, 0.0, float("inf"))
    hook_trips, recorded_trips = [], []
    for k in range(CLICKS):
        if k:  # the next one, a second on (later if the track had to start its schedule over)
            click = onset(*sent, click + SPACING - 0.3, click + SPACING + 0.7)
        assert click is not None, f"click {k} was not sent"
        echo = onset(*played, click, click + SPACING - 0.1)
        if echo is None or echo - click < 0.02:
            # none: the server drops mirrored audio it cannot send in time (a loaded machine); one at once:
            # the echo of the click before, back more than a second late, not this one's
            continue
        # in the recording, look for each within 250 ms of where the hooks put it (further off is as wrong as missing)
        recorded_click = onset(at, left, click - 0.25, click + 0.25)
        assert recorded_click is not None, f"click {k} is not within 250 ms of its time in the recording"
        recorded_echo = onset(at, right, echo - 0.25, echo + 0.25)
        assert recorded_echo is not None, f"the echo of click {k} is not within 250 ms of its time in the recording"
        hook_trips.append(1000 * (echo - click))
        recorded_trips.append(1000 * (recorded_echo - recorded_click))

    assert len(hook_trips) >= CLICKS // 2, f"only {len(hook_trips)} of {CLICKS} clicks came back"
    hooks_p50, recorded_p50 = float(np.median(hook_trips)), float(np.median(recorded_trips))
    off_by = float(np.median(np.subtract(recorded_trips, hook_trips)))
    detail = (f"p50 {recorded_p50:.1f} ms in the recording, {hooks_p50:.1f} ms at the hooks; "
              f"hooks {np.round(hook_trips, 1)} ms, recording {np.round(recorded_trips, 1)} ms")
    assert min(recorded_trips) > 0, f"an echo comes before its click in the recording: {detail}"
    assert abs(off_by) <= 5.0, f"the recording's round trips are {off_by:+.1f} ms off: {detail}"
