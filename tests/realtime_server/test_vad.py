"""Turn detection: the detector on real recordings (clean, phone, noisy, DC, 8-48 kHz), then server VAD over a real call."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from audio.speech.speech_probability import SileroScorer
from audio.server.vad import SpeechBoundary, TurnDetector, VadSettings
from tests.real_speech import ALSA, CARDS, LIBRIVOX, Clip, degrade, resample, silence, shortest
from tests.realtime_server.client import RATE as CALL_RATE

LEAD_S, TAIL_S = 1.0, 1.5
DEFAULT = VadSettings(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500)


def boundaries(pcm: np.ndarray, rate: int, settings: VadSettings = DEFAULT, frame_ms: int = 20) -> list[SpeechBoundary]:
    vad = TurnDetector(settings, rate)
    step = rate * frame_ms // 1000
    found = [vad.feed(pcm[i:i + step]) for i in range(0, len(pcm), step)]
    return [b for b in found if b is not None]


def padded(clip: Clip) -> np.ndarray:
    """The clip between 1 s of silence and 1.5 s of silence, at 16 kHz."""
    return np.concatenate([silence(LEAD_S, clip.rate), clip.load(), silence(TAIL_S, clip.rate)])


def assert_one_turn_around(found: list[SpeechBoundary], clip: Clip, settings: VadSettings = DEFAULT) -> None:
    """Exactly one turn: it starts (with padding) before the voice and stops after it, within the trailing silence."""
    assert [b.started for b in found] == [True, False], found
    start, stop = found[0].ms, found[1].ms
    end_ms = (LEAD_S + clip.seconds) * 1000
    assert LEAD_S * 1000 - settings.prefix_padding_ms - 100 <= start <= LEAD_S * 1000 + 500, found
    assert end_ms - 1000 < stop <= end_ms + TAIL_S * 1000, found
    assert stop - start >= clip.seconds * 1000 * 0.5, found


CONDITIONS = {
    "clean 16 kHz": lambda pcm: (degrade(pcm, 16_000), 16_000),
    "48 kHz": lambda pcm: (resample(pcm, 16_000, 48_000), 48_000),
    "24 kHz": lambda pcm: (resample(pcm, 16_000, 24_000), 24_000),
    "8 kHz phone + noise 10 dB": lambda pcm: (degrade(pcm, 16_000, phone=True, snr_db=10), 8_000),
    "8 kHz phone + DC 0.1": lambda pcm: (degrade(pcm, 16_000, phone=True, dc=0.1), 8_000),
    "16 kHz noise 10 dB + DC 0.1": lambda pcm: (degrade(pcm, 16_000, snr_db=10, dc=0.1), 16_000),
}


@pytest.mark.parametrize("condition", list(CONDITIONS))
@pytest.mark.parametrize("clip", [shortest(LIBRIVOX), shortest(CARDS)], ids=lambda clip: clip.name)
def test_a_real_utterance_is_one_turn(clip: Clip, condition: str) -> None:
    pcm, rate = CONDITIONS[condition](padded(clip))
    assert_one_turn_around(boundaries(pcm, rate), clip)


def test_every_short_recording_is_found_clean() -> None:
    for clip in CARDS + ALSA:  # (LibriVox: its shortest clip above, in every condition)
        assert_one_turn_around(boundaries(padded(clip), clip.rate), clip)


def test_noise_and_dc_alone_are_not_speech() -> None:
    quiet = silence(5, 8_000)
    assert boundaries(degrade(quiet + 300, 8_000, snr_db=None, dc=0.2), 8_000) == []  # a DC step and offset
    hiss = (np.random.default_rng(1).standard_normal(5 * 16_000) * 3000).astype(np.int16)  # -21 dBFS white noise
    assert boundaries(hiss, 16_000) == []
    t = np.arange(5 * 16_000) / 16_000
    hum = (0.3 * 32767 * np.sin(2 * np.pi * 50 * t)).astype(np.int16)  # loud mains hum
    assert boundaries(hum, 16_000) == []


def test_padding_and_silence_duration_shape_the_turn() -> None:
    clip = shortest(CARDS)
    pcm = padded(clip)
    short = boundaries(pcm, clip.rate, VadSettings(prefix_padding_ms=0, silence_duration_ms=200))
    long = boundaries(pcm, clip.rate, VadSettings(prefix_padding_ms=500, silence_duration_ms=1000))
    assert short[0].ms - long[0].ms == 500  # the same onset, padded differently
    assert long[1].ms - short[1].ms >= 700  # waits for 1 s of quiet instead of 0.2 s


def test_a_pause_shorter_than_the_silence_keeps_one_turn() -> None:
    first, second = CARDS[0], CARDS[2]
    pause = silence(0.4, 16_000)
    pcm = np.concatenate([silence(1, 16_000), first.load(), pause, second.load(), silence(1.5, 16_000)])
    assert [b.started for b in boundaries(pcm, 16_000, VadSettings(silence_duration_ms=800))] == [True, False]
    assert [b.started for b in boundaries(pcm, 16_000, VadSettings(silence_duration_ms=200))] == [True, False] * 2


def test_a_wavering_probability_inside_a_phrase_does_not_split_the_turn() -> None:
    clip = CARDS[1]  # "four queen of clubs", under noise 5 dB louder than the voice
    pcm = degrade(padded(clip), 16_000, snr_db=-5)
    found = boundaries(pcm, 16_000, VadSettings(threshold=0.8, silence_duration_ms=300))
    assert [b.started for b in found] == [True, False]  # hysteresis: dips to 0.65..0.8 still count as speech


def test_threshold_is_a_speech_probability() -> None:
    pcm = padded(shortest(CARDS))
    assert boundaries(pcm, 16_000, VadSettings(threshold=1.0)) == []  # nothing is that certain
    assert [b.started for b in boundaries(pcm, 16_000, VadSettings(threshold=0.9))] == [True, False]
    buried = degrade(pcm, 16_000, snr_db=-10)  # noise 10 dB louder than the voice: the model is less sure
    assert boundaries(buried, 16_000, VadSettings(threshold=0.99)) == []
    assert [b.started for b in boundaries(buried, 16_000, VadSettings(threshold=0.5))] == [True, False]


def test_boundaries_stay_on_the_session_timeline_and_large_frames_lose_none() -> None:
    clip = shortest(CARDS)
    vad = TurnDetector(DEFAULT, 16_000, start_ms=10_000)
    pcm = padded(clip)
    found = [vad.feed(pcm)]  # one 3.6 s frame: both boundaries, the second on the next call
    found.append(vad.feed(np.zeros(0, dtype=np.int16)))
    assert [b.started for b in found if b] == [True, False]
    assert all(b and b.ms > 10_000 for b in found) and vad.position_ms == 10_000 + len(pcm) * 1000 // 16_000


def test_a_reused_model_starts_afresh() -> None:
    speech = shortest(CARDS).load()
    quiet_then_speech = np.concatenate([silence(0.2, 16_000), speech])
    reference = SileroScorer(16_000).feed(quiet_then_speech)
    gc.collect()
    cut = SileroScorer(16_000)
    cut.feed(speech[: len(speech) // 2])  # a call that ends mid-word hands its model back to the pool
    del cut
    gc.collect()
    assert SileroScorer(16_000).feed(quiet_then_speech) == reference  # nothing of the last call leaks in


@pytest.mark.parametrize(("eagerness", "silence"), [("high", 300), ("auto", 800), ("low", 1500)])
def test_semantic_vad_waits_longer_when_less_eager(eagerness: str, silence: int) -> None:
    settings = VadSettings.from_turn_detection({"type": "semantic_vad", "eagerness": eagerness})
    assert settings.silence_duration_ms == silence


VAD_SESSION = {"type": "realtime", "audio": {"input": {
    "turn_detection": {"type": "server_vad", "silence_duration_ms": 400},
    "transcription": {"model": "gpt-4o-mini-transcribe"}}}}


@pytest.mark.slow
async def test_server_vad_takes_the_turn_and_barge_in_cancels_the_reply(server, make_client) -> None:
    client = make_client(server.base_url)
    await client.connect(VAD_SESSION)
    client.mic.play(CARDS[2].load(CALL_RATE))  # "seven of clubs"
    started = await client.next("input_audio_buffer.speech_started")
    stopped = await client.next("input_audio_buffer.speech_stopped")
    committed = await client.next("input_audio_buffer.committed")
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    assert 0 <= started["audio_start_ms"] < stopped["audio_end_ms"]
    created = await client.next("response.created")
    completed = await client.next("conversation.item.input_audio_transcription.completed")
    assert "clubs" in completed["transcript"].lower()
    assert client.index("response.created") < client.index("conversation.item.input_audio_transcription.completed")
    await client.next("output_audio_buffer.started")
    start = len(client.events)
    client.mic.play(shortest(CARDS).load(CALL_RATE))  # talk over the reply
    await client.next("input_audio_buffer.speech_started", after=start)
    done = await client.next("response.done", after=start)
    assert done["response"]["id"] == created["response"]["id"]
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "turn_detected"
    await client.next("output_audio_buffer.cleared", after=start)
    second = await client.next("response.created", after=start)  # the interrupting turn gets its own reply
    assert second["response"]["id"] != created["response"]["id"]


@pytest.mark.slow
async def test_create_response_false_only_commits(server, make_client) -> None:
    client = make_client(server.base_url)
    await client.connect({"type": "realtime", "audio": {"input": {
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 300, "create_response": False}}}})
    client.mic.play(shortest(CARDS).load(CALL_RATE))
    await client.next("input_audio_buffer.committed")
    # ask for a reply ourselves: a reply the commit had started would make this one fail as already active
    start = len(client.events)
    client.send("response.create")
    await client.next("response.done", after=start)
    assert client.types.count("response.created") == 1 and "error" not in client.types


@pytest.mark.slow
async def test_interrupt_response_false_lets_the_reply_finish(make_server, make_client) -> None:
    server = await make_server(reply="script", script=["Here is a reply that you cannot interrupt."])
    client = make_client(server.base_url)
    await client.connect({"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "silence_duration_ms": 300, "create_response": False, "interrupt_response": False}}}})
    client.send("response.create")
    await client.next("output_audio_buffer.started")
    client.mic.play(shortest(CARDS).load(CALL_RATE))
    await client.next("input_audio_buffer.speech_started")
    done = await client.next("response.done")
    await client.next("output_audio_buffer.stopped")
    assert done["response"]["status"] == "completed"
    assert "output_audio_buffer.cleared" not in client.types
