"""A spoken turn end to end over real aiortc on loopback: events in order, words heard, audible reply."""

from __future__ import annotations

import pytest

from tests.real_speech import CARDS, normalize_words
from tests.realtime_server.client import RATE, play_until_heard, rms

pytestmark = pytest.mark.slow

TRANSCRIBED = {"type": "realtime", "audio": {"input": {
    "turn_detection": None, "transcription": {"model": "gpt-4o-mini-transcribe"}}}}


async def test_manual_turn_events_in_order_with_words_and_audio(server, make_client) -> None:
    client = make_client(server.base_url)
    created = await client.connect(TRANSCRIBED)
    assert created["session"]["audio"]["input"]["turn_detection"] is None
    await play_until_heard(server, client, CARDS[2].load(RATE))  # a person saying "seven of clubs"
    client.send("input_audio_buffer.commit")
    committed = await client.next("input_audio_buffer.committed")
    client.send("response.create")
    done = await client.next("response.done")
    stopped = await client.next("output_audio_buffer.stopped")
    completed = await client.next("conversation.item.input_audio_transcription.completed")
    assert normalize_words(completed["transcript"]) == normalize_words("seven of clubs")  # Whisper: "7 of clubs."
    assert completed["item_id"] == committed["item_id"]
    assert done["response"]["status"] == "completed"
    assert done["response"]["usage"]["output_tokens"] > 0
    transcript = (await client.next("response.output_audio_transcript.done"))["transcript"]
    assert transcript.lower().startswith("you said:") and "clubs" in transcript.lower()
    order = [client.index("session.created"), client.index("input_audio_buffer.committed"),
             client.index("conversation.item.added"), client.index("conversation.item.done"),
             client.index("response.created"), client.index("response.output_audio_transcript.delta"),
             client.index("response.output_audio_transcript.done"), client.index("response.done")]
    assert client.events[client.index("conversation.item.added")]["item"]["id"] == committed["item_id"]
    assert client.index("response.created") < client.index("conversation.item.input_audio_transcription.delta")
    assert client.index("response.created") < client.index("response.output_audio_transcript.delta")
    assert client.index("output_audio_buffer.started") < client.index("output_audio_buffer.stopped")
    assert stopped["response_id"] == done["response"]["id"]
    assert order == sorted(order)
    reply = client.audio()
    assert rms(reply) > 500, f"reply too quiet: rms {rms(reply):.0f} over {len(reply) / RATE:.1f} s"
