"""The stereo recorder puts every chunk at its own time on one clock, whatever order and pace the sides arrive in."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np
import pytest

from audio.base.clock import FakeClock
from audio.io.recorder import StereoRecorder
from audio.io.sources import FileSource, ToneSource
from tests.audio.helpers import read_all

RATE = 24_000
USER_RATE = 48_000
FRAME = 0.02


def read_stereo(path: Path) -> np.ndarray:
    with wave.open(str(path)) as w:
        assert w.getnchannels() == 2 and w.getframerate() == RATE
        return np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").reshape(-1, 2)


def stream(seconds: float, rate: int, clicks: tuple[float, ...] = (), seed: int = 1, quiet: bool = False) -> np.ndarray:
    """Low noise around a small offset (never zero, even resampled) with loud 1 ms clicks starting at ``clicks`` (s).

    ``quiet``: the noise stays below what the ear hears (as a reply's pauses are), so the recorder may steer there.
    """
    low, high = (20, 60) if quiet else (300, 600)
    audio = np.random.default_rng(seed).integers(low, high, round(seconds * rate))
    for at in clicks:
        audio[round(at * rate):round(at * rate) + rate // 1000] = 20_000
    return audio.astype(np.int16).reshape(-1, 1)


def frames(audio: np.ndarray, rate: int) -> list[np.ndarray]:
    size = round(FRAME * rate)
    return [audio[i:i + size] for i in range(0, len(audio), size)]


def clicks_at(channel: np.ndarray) -> list[float]:
    """Where (s) the clicks begin: the first loud sample of each."""
    loud = np.flatnonzero(np.abs(channel.astype(np.int32)) > 10_000)
    return [i / RATE for n, i in enumerate(loud) if n == 0 or i - loud[n - 1] > RATE // 100]


def holes(channel: np.ndarray, start: float, end: float) -> int:
    """Samples of digital silence between ``start`` and ``end`` (s): silence the recorder put inside a stream."""
    return int(np.count_nonzero(channel[round(start * RATE):round(end * RATE)] == 0))


class Feed:
    """Hands each side's frames to the recorder as the clock reaches the time they are handed over."""

    def __init__(self, recorder: StereoRecorder, clock: FakeClock) -> None:
        self.recorder, self.clock = recorder, clock
        self.due: list[tuple[float, float, str, np.ndarray, int]] = []  # (handed over, stamp, side, frame, rate)
        self.handed: dict[str, dict[int, float]] = {"user": {}, "assistant": {}}  # frame index -> handed over

    def add(self, side: str, audio: np.ndarray, rate: int, start: float, lateness: list[float] | None = None,
            *, scheduled: bool = False) -> None:
        """``side``'s frames from ``start`` on, frame k handed over at start + k * 20 ms + lateness[k] (in order).

        Each is stamped when it is handed over, or (``scheduled``, as the sending track does) when it was due.
        """
        handed = float("-inf")
        for k, frame in enumerate(frames(audio, rate)):
            due = start + k * FRAME
            handed = max(handed, due + (lateness[k] if lateness else 0.0))  # a late frame holds up the next
            self.due.append((handed, due if scheduled else handed, side, frame, rate))
            self.handed[side][k] = handed

    async def run(self) -> None:
        origin = self.recorder.origin
        for handed, stamp, side, frame, rate in sorted(self.due, key=lambda item: item[0]):
            await self.clock.advance(max(0.0, origin + handed - self.clock.monotonic()))
            write = self.recorder.write_user if side == "user" else self.recorder.write_assistant
            write(frame, rate, origin + stamp)
        await self.clock.advance(1.0)
        self.recorder.close()


async def test_a_side_that_starts_late_is_placed_at_its_time(tmp_path: Path) -> None:
    """The reported bug: clicks sent from the start, echoes from 66 ms after each, in the file 150 ms *before* it."""
    clock = FakeClock(start=50.0)
    recorder = StereoRecorder(tmp_path / "both.wav", RATE, clock)
    feed = Feed(recorder, clock)
    feed.add("user", stream(4.0, USER_RATE, clicks=(1.005, 2.005, 3.005)), USER_RATE, 0.0, scheduled=True)
    feed.add("assistant", stream(2.9, RATE, clicks=(0.005, 1.005, 2.005), seed=2), RATE, 1.066)  # its first frame at 1.066 s
    await feed.run()
    both = read_stereo(tmp_path / "both.wav")
    left, right = clicks_at(both[:, 0]), clicks_at(both[:, 1])
    assert left == pytest.approx([1.005, 2.005, 3.005], abs=0.001)
    assert right == pytest.approx([1.071, 2.071, 3.071], abs=0.001)  # 66 ms after each click, as they were
    assert holes(both[:, 0], 0.0, 3.99) == 0 and holes(both[:, 1], 1.07, 3.96) == 0


async def test_the_sent_side_keeps_its_schedule_however_late_frames_are_handed_over(tmp_path: Path) -> None:
    """The track sends frames 0-12 ms late, catches up after stalls of 40 and 400 ms: each is written where it was due
    (while the reply side goes on: its chunks must not fill the sent side's time with silence meanwhile)."""
    clock = FakeClock()
    recorder = StereoRecorder(tmp_path / "both.wav", RATE, clock)
    lateness = [float(x) for x in np.random.default_rng(3).uniform(0.0, 0.012, 300)]
    lateness[30] = lateness[31] = 0.04
    lateness[150:170] = [0.4 - 0.02 * k for k in range(20)]  # the frames due in a 400 ms stall go at once after it
    feed = Feed(recorder, clock)
    feed.add("user", stream(6.0, USER_RATE, clicks=(0.6, 3.0, 3.1, 5.0)), USER_RATE, 0.2, lateness, scheduled=True)
    feed.add("assistant", stream(6.0, RATE, seed=2), RATE, 0.3)
    await feed.run()
    left = read_stereo(tmp_path / "both.wav")[:, 0]
    assert clicks_at(left) == pytest.approx([0.8, 3.2, 3.3, 5.2], abs=0.001)
    assert holes(left, 0.21, 6.19) == 0


async def test_a_reply_stays_within_the_jitter_of_its_stamps_without_holes(tmp_path: Path) -> None:
    """Reply frames handed over 0-12 ms late (twice 40 ms): clicks land where their frames' stamps say, within that."""
    clock = FakeClock()
    recorder = StereoRecorder(tmp_path / "both.wav", RATE, clock)
    lateness = [float(x) for x in np.random.default_rng(4).uniform(0.0, 0.012, 500)]
    lateness[30] = lateness[31] = lateness[240] = 0.04
    clicks = tuple(0.5 + 0.9 * k for k in range(10))
    feed = Feed(recorder, clock)
    feed.add("user", stream(10.5, USER_RATE), USER_RATE, 0.0, scheduled=True)
    feed.add("assistant", stream(10.0, RATE, clicks=clicks, seed=2, quiet=True), RATE, 0.3, lateness)
    await feed.run()
    right = read_stereo(tmp_path / "both.wav")[:, 1]
    recorded = clicks_at(right)
    stamped = [feed.handed["assistant"][round(c / FRAME - 0.5)] + (c - FRAME * round(c / FRAME - 0.5)) for c in clicks]
    assert len(recorded) == len(stamped)
    errors = np.subtract(recorded, stamped)
    assert np.all(np.abs(errors) <= 0.013), errors  # within the jitter of the stamps
    assert abs(float(np.median(errors))) <= 0.004, errors  # and centred on them
    assert holes(right, 0.32, 10.29) == 0  # from its first frame (handed over up to 12 ms late) on


async def test_a_reply_burst_after_a_stall_plays_on_then_settles_back_in_a_pause(tmp_path: Path) -> None:
    """After a 300 ms stall, the frames due meanwhile come at once: they play on one after the other (never over
    each other nor before they came), and the delay is taken out of the quiet stretches."""
    clock = FakeClock()
    recorder = StereoRecorder(tmp_path / "both.wav", RATE, clock)
    lateness = [0.0] * 200
    lateness[50:65] = [0.3 - 0.02 * k for k in range(15)]
    feed = Feed(recorder, clock)
    feed.add("user", stream(4.5, USER_RATE), USER_RATE, 0.0, scheduled=True)
    feed.add("assistant", stream(4.0, RATE, clicks=(1.005, 1.105, 3.0), seed=2, quiet=True), RATE, 0.2, lateness)
    await feed.run()
    right = read_stereo(tmp_path / "both.wav")[:, 1]
    first, second, later = clicks_at(right)
    assert first == pytest.approx(1.505, abs=0.001)  # its frame, due at 1.2 s, was handed over at 1.5 s
    assert 1.505 <= second <= first + 0.1  # after it, no later than back to back (the quiet between may be taken up)
    assert later == pytest.approx(3.2, abs=0.002)  # back on its stamps once the quiet after the burst took it up
    assert holes(right, 0.21, 1.19) == 0 and holes(right, 1.2, 1.5) == round(0.3 * RATE)  # nothing played meanwhile
    assert holes(right, 1.51, 4.19) == 0


async def test_a_pause_stays_a_pause(tmp_path: Path) -> None:
    """A side that sends nothing for 300 ms (the source had nothing) has that much silence, and goes on at its time."""
    clock = FakeClock()
    recorder = StereoRecorder(tmp_path / "both.wav", RATE, clock)
    feed = Feed(recorder, clock)
    feed.add("user", stream(1.0, USER_RATE, clicks=(0.5,)), USER_RATE, 0.0, scheduled=True)
    feed.add("user", stream(1.0, USER_RATE, clicks=(0.5,), seed=3), USER_RATE, 1.3, scheduled=True)
    feed.add("assistant", stream(1.0, RATE, clicks=(0.5,), seed=2), RATE, 0.0)
    feed.add("assistant", stream(1.0, RATE, clicks=(0.5,), seed=4), RATE, 1.5)
    await feed.run()
    both = read_stereo(tmp_path / "both.wav")
    assert clicks_at(both[:, 0]) == pytest.approx([0.5, 1.8], abs=0.001)
    assert holes(both[:, 0], 1.001, 1.299) == round(0.298 * RATE) and holes(both[:, 0], 1.301, 2.29) == 0
    assert clicks_at(both[:, 1]) == pytest.approx([0.5, 2.0], abs=0.001)
    assert holes(both[:, 1], 1.001, 1.499) == round(0.498 * RATE)


async def test_a_flush_drops_the_reply_that_was_queued_but_never_played(tmp_path: Path) -> None:
    """A burst reply (stamped back to back, as it plays) cut at 0.8 s ends there; the user's side goes on."""
    clock = FakeClock()
    recorder = StereoRecorder(tmp_path / "both.wav", RATE, clock)
    await clock.advance(0.5)
    for k, frame in enumerate(frames(stream(2.0, RATE, seed=2), RATE)):  # all of it arrives at 0.5 s
        recorder.write_assistant(frame, RATE, recorder.origin + 0.5 + k * FRAME)
    for k, frame in enumerate(frames(stream(3.0, USER_RATE), USER_RATE)):
        await clock.advance(max(0.0, recorder.origin + k * FRAME - clock.monotonic()))
        if k == 40:
            recorder.cut_assistant()  # at 0.8 s: the person barged in
        recorder.write_user(frame, USER_RATE, recorder.origin + k * FRAME)
    await clock.advance(1.0)
    recorder.close()
    right = read_stereo(tmp_path / "both.wav")[:, 1]
    heard = np.flatnonzero(right)
    assert heard[0] / RATE == pytest.approx(0.5, abs=0.001) and heard[-1] / RATE == pytest.approx(0.8, abs=0.001)


async def test_recorder_puts_user_left_and_assistant_right_aligned_on_the_clock(tmp_path: Path) -> None:
    clock = FakeClock()
    recorder = StereoRecorder(tmp_path / "rec.wav", sample_rate=24000, clock=clock)
    user = await read_all(ToneSource(500, sample_rate=48000, duration=1.0, realtime=False))
    assistant = await read_all(ToneSource(900, sample_rate=24000, channels=2, duration=0.5, realtime=False))
    # the user speaks during the first second; the assistant answers from 2.0 s to 2.5 s (stamped as they come)
    for frame in user:
        recorder.write_user(frame, 48000)
        await clock.advance(0.02)
    for _ in range(50):
        await clock.advance(0.02)  # nobody sends anything for a second
    for frame in assistant:
        recorder.write_assistant(frame, 24000)
        await clock.advance(0.02)
    assert recorder.duration > 1.0  # written as it goes, not only on close
    recorder.close()
    audio = read_stereo(tmp_path / "rec.wav")
    assert len(audio) == pytest.approx(2.5 * 24000, abs=480)
    left_on = np.flatnonzero(np.abs(audio[:, 0]) > 1000)
    right_on = np.flatnonzero(np.abs(audio[:, 1]) > 1000)
    assert left_on[0] / 24000 == pytest.approx(0.0, abs=0.002)
    assert left_on[-1] / 24000 == pytest.approx(1.0, abs=0.002)
    assert right_on[0] / 24000 == pytest.approx(2.0, abs=0.002)
    assert right_on[-1] / 24000 == pytest.approx(2.5, abs=0.002)


async def test_recorder_file_is_valid_before_close(tmp_path: Path, fake_clock: FakeClock) -> None:
    recorder = StereoRecorder(tmp_path / "rec.wav", clock=fake_clock)
    for frame in await read_all(ToneSource(sample_rate=24000, duration=1.0, realtime=False)):
        recorder.write_user(frame, 24000)
        recorder.write_assistant(frame, 24000)
        await fake_clock.advance(0.02)
    audio = np.concatenate(await read_all(FileSource(tmp_path / "rec.wav", realtime=False)))
    assert audio.shape[1] == 2 and len(audio) >= 0.4 * 24000  # all but the last half second (``hold``)
    recorder.close()
    recorder.write_user(np.ones((480, 1), dtype=np.int16), 24000)  # after close: ignored
    assert len(read_stereo(tmp_path / "rec.wav")) == 24000
