"""Turn detection: the energy detector on its own, then server VAD over a real call (auto turn, barge-in)."""

from __future__ import annotations


import numpy as np
import pytest

from audio.realtime.server.vad import EnergyVad, SpeechBoundary, VadSettings, threshold_dbfs
from tests.realtime_server.client import load_wav

RATE = 16_000
FRAME = RATE // 50


def frames(level: float, count: int) -> list[np.ndarray]:
    t = np.arange(FRAME) / RATE
    return [(level * 32767 * np.sin(2 * np.pi * 300 * t)).astype(np.int16) for _ in range(count)]


def feed_all(vad: EnergyVad, chunks: list[np.ndarray]) -> list[SpeechBoundary]:
    return [b for b in (vad.feed(c) for c in chunks) if b is not None]


def test_threshold_maps_to_an_energy_level() -> None:
    assert threshold_dbfs(0.0) == -60 and threshold_dbfs(0.5) == -40 and threshold_dbfs(1.0) == -20


def test_speech_start_includes_padding_and_stop_waits_for_silence() -> None:
    vad = EnergyVad(VadSettings(threshold=0.5, prefix_padding_ms=300, silence_duration_ms=500), RATE)
    boundaries = feed_all(vad, frames(0.0, 50) + frames(0.3, 25) + frames(0.0, 24))
    assert boundaries == [SpeechBoundary(True, 1000 - 300)]  # speech began at 1000 ms
    boundaries = feed_all(vad, frames(0.0, 1))
    assert boundaries == [SpeechBoundary(False, 2000)]  # 1500 ms speech end + 500 ms silence


def test_quiet_audio_below_the_threshold_is_not_speech() -> None:
    vad = EnergyVad(VadSettings(threshold=0.9), RATE)  # -24 dBFS needed
    assert feed_all(vad, frames(0.02, 50)) == []  # about -37 dBFS
    assert feed_all(EnergyVad(VadSettings(threshold=0.1), RATE), frames(0.02, 5))[0].started


@pytest.mark.parametrize(("eagerness", "silence"), [("high", 300), ("auto", 800), ("low", 1500)])
def test_semantic_vad_waits_longer_when_less_eager(eagerness: str, silence: int) -> None:
    settings = VadSettings.from_turn_detection({"type": "semantic_vad", "eagerness": eagerness})
    assert settings.silence_duration_ms == silence


VAD_SESSION = {"type": "realtime", "audio": {"input": {
    "turn_detection": {"type": "server_vad", "silence_duration_ms": 400},
    "transcription": {"model": "gpt-4o-mini-transcribe"}}}}


async def test_server_vad_takes_the_turn_and_barge_in_cancels_the_reply(server, make_client) -> None:
    client = make_client(server.base_url)
    await client.connect(VAD_SESSION)
    client.mic.play(load_wav("speech_weather_forecast.wav"))
    started = await client.next("input_audio_buffer.speech_started")
    stopped = await client.next("input_audio_buffer.speech_stopped")
    committed = await client.next("input_audio_buffer.committed")
    assert started["item_id"] == stopped["item_id"] == committed["item_id"]
    assert 0 <= started["audio_start_ms"] < stopped["audio_end_ms"]
    created = await client.next("response.created")
    completed = await client.next("conversation.item.input_audio_transcription.completed")
    assert "weather" in completed["transcript"].lower()
    assert client.index("response.created") < client.index("conversation.item.input_audio_transcription.completed")
    await client.next("output_audio_buffer.started")
    start = len(client.events)
    client.mic.play(load_wav("speech_how_are_you.wav"))  # talk over the reply
    await client.next("input_audio_buffer.speech_started", after=start)
    done = await client.next("response.done", after=start)
    assert done["response"]["id"] == created["response"]["id"]
    assert done["response"]["status"] == "cancelled"
    assert done["response"]["status_details"]["reason"] == "turn_detected"
    await client.next("output_audio_buffer.cleared", after=start)
    second = await client.next("response.created", after=start)  # the interrupting turn gets its own reply
    assert second["response"]["id"] != created["response"]["id"]


async def test_create_response_false_only_commits(server, make_client) -> None:
    client = make_client(server.base_url)
    await client.connect({"type": "realtime", "audio": {"input": {
        "turn_detection": {"type": "server_vad", "silence_duration_ms": 300, "create_response": False}}}})
    t = np.arange(48_000 // 2) / 48_000
    client.mic.play((0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))  # 500 ms of "speech"
    await client.next("input_audio_buffer.committed")
    # ask for a reply ourselves: a reply the commit had started would make this one fail as already active
    start = len(client.events)
    client.send("response.create")
    await client.next("response.done", after=start)
    assert client.types.count("response.created") == 1 and "error" not in client.types


async def test_interrupt_response_false_lets_the_reply_finish(make_server, make_client) -> None:
    server = await make_server(reply="script", script=["Here is a reply that you cannot interrupt."])
    client = make_client(server.base_url)
    await client.connect({"type": "realtime", "audio": {"input": {"turn_detection": {
        "type": "server_vad", "silence_duration_ms": 300, "create_response": False, "interrupt_response": False}}}})
    client.send("response.create")
    await client.next("output_audio_buffer.started")
    t = np.arange(48_000 // 2) / 48_000
    client.mic.play((0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))
    await client.next("input_audio_buffer.speech_started")
    done = await client.next("response.done")
    await client.next("output_audio_buffer.stopped")
    assert done["response"]["status"] == "completed"
    assert "output_audio_buffer.cleared" not in client.types
