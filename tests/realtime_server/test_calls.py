"""Calls stay independent, speech falls back without the extra, echo-audio mirrors the caller, stop cleans up."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from audio.server import LocalRealtimeServer, ServerConfig
from audio.speech.engines import SpeechEngines, describe_speech, tone_for
from tests.realtime_server.client import RATE, RealtimeTestClient, load_wav, play_until_heard, rms

pytestmark = pytest.mark.slow

MANUAL = {"type": "realtime", "audio": {"input": {"turn_detection": None}}}


async def text_turn(client: RealtimeTestClient, text: str) -> str:
    start = len(client.events)
    client.send("conversation.item.create", item={
        "type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]})
    client.send("response.create")
    return (await client.next("response.output_audio_transcript.done", after=start))["transcript"]


async def test_two_concurrent_calls_stay_independent(make_server, make_client) -> None:
    server = await make_server(reply="script", script=["One.", "Two.", "Three."])
    first, second = make_client(server.base_url), make_client(server.base_url)
    await asyncio.gather(first.connect(MANUAL), second.connect(MANUAL))
    assert server.calls[first.call_id].session["id"] != server.calls[second.call_id].session["id"]
    assert first.call_id != second.call_id and set(server.calls) == {first.call_id, second.call_id}
    replies = await asyncio.gather(text_turn(first, "apple"), text_turn(second, "pear"))
    assert replies == ["One.", "One."]  # each call reads its own copy of the script
    assert await text_turn(first, "again") == "Two."
    await first.close()
    await asyncio.sleep(0.1)
    assert await text_turn(second, "still here") == "Two."
    calls = {call.id: call for call in [*server.calls.values(), *server.ended_calls.values()]}
    assert calls[first.call_id].received_types.count("response.create") == 2
    assert calls[second.call_id].received_types.count("response.create") == 2


async def test_without_speech_engines_transcripts_describe_and_a_tone_answers(make_server, make_client) -> None:
    server = await make_server(speech=False)
    assert not server.speech_enabled
    client = make_client(server.base_url)
    await client.connect({"type": "realtime", "audio": {"input": {
        "turn_detection": None, "transcription": {"model": "whisper-1"}}}})
    t = np.arange(RATE * 6 // 10) / RATE
    await play_until_heard(server, client, (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16))  # 600 ms
    client.send("input_audio_buffer.commit")
    client.send("response.create")
    completed = await client.next("conversation.item.input_audio_transcription.completed")
    assert completed["transcript"].startswith("(speech, ") and completed["transcript"].endswith(" s)")
    await client.next("output_audio_buffer.stopped")
    assert (await client.next("response.output_audio_transcript.done"))["transcript"].startswith("You said: (speech,")
    assert rms(client.audio()) > 500


def test_fallback_pieces() -> None:
    assert describe_speech(22_400, 16_000) == "(speech, 1.4 s)"
    marin, ash = tone_for("hello", "marin", 24_000), tone_for("hello", "ash", 24_000)
    assert len(marin) == len(ash) and not np.array_equal(marin, ash)


async def test_voices_sound_different_when_speech_is_installed() -> None:
    engines = await SpeechEngines.get(True)
    if engines.synthesizer is None or engines.recognizer is None:
        pytest.skip("the 'local' extra is not installed (the fallback tests cover this case)")
    marin = await engines.speak("good morning", "marin", 24_000)
    cedar = await engines.speak("good morning", "cedar", 24_000)
    assert rms(marin) > 500 and rms(cedar) > 500 and not np.array_equal(marin[:5000], cedar[:5000])
    assert "weather" in (await engines.transcribe(load_wav("speech_weather_today.wav", 16_000))).lower()


async def test_echo_audio_sends_the_input_straight_back(make_server, make_client) -> None:
    server = await make_server(reply="echo-audio")
    client = make_client(server.base_url)
    await client.connect(MANUAL)
    await asyncio.sleep(0.3)
    before = len(client.audio())
    t = np.arange(RATE // 5) / RATE
    client.mic.play((0.5 * 32767 * np.sin(2 * np.pi * 1000 * t)).astype(np.int16))  # 200 ms beep

    def loud_frames() -> int:
        heard = client.audio()[before:]
        windows = heard[: len(heard) // 960 * 960].reshape(-1, 960)
        return sum(1 for window in windows if rms(window) > 3000)

    async def beep_back() -> None:
        while loud_frames() < 5:  # most of the beep's 10 frames
            await asyncio.sleep(0.05)
    await asyncio.wait_for(beep_back(), 20)
    assert "output_audio_buffer.started" not in client.types  # mirrored audio is not a response


async def test_stop_closes_calls_and_leaves_no_task() -> None:
    baseline = {task for task in asyncio.all_tasks()}
    server = LocalRealtimeServer(ServerConfig())
    await server.start()
    client = RealtimeTestClient(server.base_url)
    await client.connect(MANUAL)
    await server.stop()
    assert server.calls == {}
    await client.close()

    def leftover() -> list[asyncio.Task[object]]:
        return [task for task in asyncio.all_tasks() - baseline if task is not asyncio.current_task()]

    deadline = asyncio.get_running_loop().time() + 20  # aiortc's own tasks wind down on a loaded machine too
    while leftover() and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.05)
    assert leftover() == [], leftover()


def test_missing_extra_is_logged_with_the_fix(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import sys

    from audio.speech.engines import Recognizer, Synthesizer

    from audio.speech.settings import RecognizerSettings

    monkeypatch.setitem(sys.modules, "faster_whisper", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "pocketsphinx", None)
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    with caplog.at_level("WARNING", logger="voxflow"):
        assert Recognizer.load() is None and Synthesizer.load() is None
        assert Recognizer.load(RecognizerSettings("pocketsphinx")) is None
    assert "voxflow[local]" in caplog.text
