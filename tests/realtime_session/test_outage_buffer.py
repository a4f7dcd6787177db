"""The outage buffer (a fake clock, numbered frames) and the speech it hands over (a real recording, Silero)."""

from __future__ import annotations

import asyncio
import base64
import json

import numpy as np

from audio.base.clock import FakeClock
from audio.session.events import SpeechStopped, TranscriptEntry, TranscriptUpdated
from audio.session.outage_buffer import MARGIN_SECONDS, HeardUntil, OutageBuffer, quiet
from audio.session.outage_speech import WIRE_RATE, append_events, item_events, scored, speech_only
from audio.speech.speech_probability import SileroScorer
from tests.headless.test_end_of_input import read_mono, speech_span

RATE = 1000  # 20 samples a frame: small numbers, same logic
HUMAN = "/usr/share/sounds/alsa/Front_Center.wav"


class NumberedSource:
    """Frame n holds the value n; paced on the fake clock (one frame per 20 ms), like a microphone."""

    def __init__(self, clock: FakeClock) -> None:
        self.sample_rate, self.channels = RATE, 1
        self.clock = clock
        self.count = 0
        self.readers = 0  # reads in flight: never more than one

    async def read(self) -> np.ndarray:
        self.readers += 1
        assert self.readers == 1, "two readers of one microphone"
        try:
            await self.clock.sleep(0.02)
            self.count += 1
            return np.full((RATE // 50, 1), self.count, dtype=np.int16)
        finally:
            self.readers -= 1


async def pump(buffer: OutageBuffer, into: list[int]) -> None:
    """A connection's track: reads the buffer for as long as it can."""
    while True:
        frame = await buffer.read()
        if frame is None:
            return
        into.append(int(frame[0, 0]))


async def advance(clock: FakeClock, seconds: float) -> None:
    for _ in range(round(seconds / 0.02)):
        await clock.advance(0.02)


def values(pcm: np.ndarray) -> list[int]:
    return [int(v) for v in pcm.reshape(-1, RATE // 50)[:, 0]]


async def test_an_outage_is_held_and_handed_over_once_with_nothing_skipped_at_the_seams() -> None:
    clock = FakeClock()
    source = NumberedSource(clock)
    buffer = OutageBuffer(source, clock, seconds=10.0)
    first: list[int] = []
    track = asyncio.ensure_future(pump(buffer, first))
    await advance(clock, 1.0)  # frames 1..50 go to the live connection
    buffer.hold(since=clock.monotonic() - 0.1)  # the old session surely heard up to 100 ms ago
    track.cancel()  # the dead connection's track goes (cancelled in the middle of a read)
    await asyncio.gather(track, return_exceptions=True)
    await advance(clock, 2.0)  # the outage: frames heard into the buffer
    second: list[int] = []
    new_track = asyncio.ensure_future(pump(buffer, second))  # the next connection reads: it must wait
    await advance(clock, 0.2)
    assert second == []
    held = buffer.release()
    await advance(clock, 0.5)
    new_track.cancel()
    await asyncio.gather(new_track, return_exceptions=True)
    await buffer.aclose()
    handed = values(held.pcm)
    overlap = [value for value in handed if value <= first[-1]]
    assert 4 <= len(overlap) <= 6 and overlap == first[-len(overlap):]  # ~100 ms the old connection was sent, again
    after = handed[len(overlap):]
    assert len(after) >= 95 and second  # the outage (2 s and the 200 ms the next connection waited), then live audio
    everything = first + after + second
    assert everything == list(range(1, len(everything) + 1))  # in order, each frame once, no gap at either seam
    assert held.dropped_seconds == 0.0 and source.readers == 0


async def test_past_the_bound_the_oldest_audio_goes_and_is_counted() -> None:
    clock = FakeClock()
    buffer = OutageBuffer(NumberedSource(clock), clock, seconds=1.0)
    buffer.hold(since=clock.monotonic())
    await advance(clock, 3.0)  # 150 frames into a 50-frame buffer
    held = buffer.release()
    await buffer.aclose()
    kept = values(held.pcm)
    assert len(kept) == 50 and kept == list(range(kept[0], kept[0] + 50)) and kept[-1] >= 149  # the newest second
    assert abs(held.dropped_seconds - (kept[0] - 1) / 50) < 1e-9 and abs(held.dropped_seconds - 2.0) < 0.05


async def test_what_the_person_did_not_mean_to_send_is_kept_as_silence() -> None:
    clock = FakeClock()
    muted = True
    buffer = OutageBuffer(NumberedSource(clock), clock, seconds=5.0, keep=lambda: not muted)
    buffer.hold(since=clock.monotonic())
    await advance(clock, 0.2)
    muted = False
    await advance(clock, 0.2)
    held = buffer.release()
    await buffer.aclose()
    kept = values(held.pcm)
    heard = [value for value in kept if value]
    assert 19 <= len(kept) <= 21 and 9 <= len(heard) <= 11  # 200 ms muted, then 200 ms heard
    assert kept == [0] * (len(kept) - len(heard)) + list(range(heard[0], heard[0] + len(heard)))


async def test_the_end_of_the_input_during_an_outage_reaches_the_next_connection() -> None:
    clock = FakeClock()

    class Short(NumberedSource):
        async def read(self):  # type: ignore[override]
            return None if self.count >= 10 else await super().read()

    buffer = OutageBuffer(Short(clock), clock, seconds=5.0)
    buffer.hold(since=clock.monotonic())
    await advance(clock, 0.5)
    held = buffer.release()
    assert values(held.pcm) == list(range(1, 11)) and await buffer.read() is None


async def test_heard_until_follows_turns_that_were_transcribed() -> None:
    clock = FakeClock()
    heard = HeardUntil(clock)
    assert heard.since() == float("-inf")
    await clock.advance(5.0)
    heard(SpeechStopped("u1"))
    await clock.advance(1.0)
    heard(TranscriptUpdated(TranscriptEntry("u1", "user", "", final=False, start=3.0, pending=True), 0))
    assert heard.since() == float("-inf")  # committed, not transcribed: not heard yet
    heard(TranscriptUpdated(TranscriptEntry("u1", "user", "hello", final=True, start=3.0), 0))
    assert heard.since() == 5.0 - MARGIN_SECONDS
    heard.delivered("outage_1_0", 9.0)
    heard(TranscriptUpdated(TranscriptEntry("outage_1_0", "user", "more", final=True, start=8.0), 1))
    assert heard.since() == 9.0 - MARGIN_SECONDS


def test_only_the_speech_of_an_outage_is_sent() -> None:
    voice, rate = read_mono(HUMAN)
    start, end = speech_span(voice, rate)
    spoken = voice[start:end]
    silence = np.zeros(rate * 3, dtype=np.int16)
    held = np.concatenate([silence, spoken, silence, spoken, silence])  # 12 s held, two phrases in it
    speech = speech_only(scored(held, rate))
    phrase = (end - start) / rate
    # both phrases whole; of the silence only padding, one short join and the moment Silero takes to let go of a word
    assert 2 * phrase <= speech.seconds <= 2 * phrase + 1.6, (speech.seconds, phrase)
    assert speech.heard_seconds == held.shape[0] / rate
    assert speech_only(scored(silence, rate)).seconds == 0.0
    hiss = np.random.default_rng(3).normal(0, 300, rate * 3).astype(np.int16)  # sound, not speech
    assert not quiet(hiss) and speech_only(scored(hiss, rate)).seconds < 0.5
    unscored = scored(held, rate)
    unscored.frame_speech[:] = np.nan  # scoring did not catch up: everything counts as speech
    assert abs(speech_only(unscored).seconds - held.shape[0] / rate) < 0.05


async def test_an_outage_is_scored_as_it_is_held() -> None:
    """By the release the buffer has scored what it held, so only the speech goes without a wait."""
    voice, rate = read_mono(HUMAN)
    start, end = speech_span(voice, rate)

    class Voice:
        sample_rate, channels = rate, 1

        def __init__(self) -> None:
            self.samples = np.concatenate([np.zeros(rate, np.int16), voice[start:end], np.zeros(rate, np.int16)])

        async def read(self) -> np.ndarray | None:
            await asyncio.sleep(0)
            step = rate // 50
            frame, self.samples = self.samples[:step], self.samples[step:]
            return frame.reshape(-1, 1) if frame.size else None

    clock = FakeClock()
    buffer = OutageBuffer(Voice(), clock, seconds=20.0, scorer=SileroScorer)
    buffer.hold(since=clock.monotonic())
    while not buffer.held().pcm.size or await asyncio.sleep(0.01) or buffer.held().seconds < (end - start) / rate + 1.9:
        await asyncio.sleep(0.01)
    await buffer.settled(timeout=30.0)
    held = buffer.release()
    await buffer.aclose()
    assert not np.isnan(held.frame_speech).any() and (held.frame_speech[: rate // (rate // 50)] == 0).all()
    phrase = (end - start) / rate
    assert phrase <= speech_only(held).seconds <= phrase + 0.8  # padding; Silero lets go of a word a little late


def test_the_speech_goes_as_appends_or_as_items_within_the_message_size() -> None:
    pcm = (np.sin(np.arange(WIRE_RATE * 3) * 0.05) * 8000).astype(np.int16)  # 3 s at 24 kHz
    appends = append_events(pcm)
    assert [e["type"] for e in appends] == ["input_audio_buffer.append"] * 6
    assert np.array_equal(np.concatenate([np.frombuffer(base64.b64decode(e["audio"]), "<i2") for e in appends]), pcm)
    items = item_events(pcm, max_bytes=65_536, ids=lambda n: f"outage_1_{n}")
    assert all(len(json.dumps(e)) <= 65_536 for e in items) and len(items) == 3
    assert [e["item"]["id"] for e in items] == ["outage_1_0", "outage_1_1", "outage_1_2"]
    audio = [base64.b64decode(e["item"]["content"][0]["audio"]) for e in items]
    assert np.array_equal(np.frombuffer(b"".join(audio), "<i2"), pcm)
    assert len(item_events(pcm, max_bytes=262_144, ids=str)) == 1  # the local server's channel takes 3 s at once
