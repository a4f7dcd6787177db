"""A real person's recording, streamed over loopback WebRTC with ``server_vad``, is heard, transcribed and answered.

One call per condition: the clean read sentence, and the same sentence as a
noisy 8 kHz phone line with a DC offset (carried at 48 kHz, as WebRTC does).
"""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from tests.real_speech import LIBRIVOX, degrade, resample, word_overlap
from tests.realtime_server.client import RATE, WAIT, RealtimeTestClient, rms

pytestmark = pytest.mark.slow

CLIP = next(clip for clip in LIBRIVOX if clip.words == "he was not an ill disposed young man")  # 3 s
SESSION = {"type": "realtime", "audio": {"input": {
    "turn_detection": {"type": "server_vad", "silence_duration_ms": 500},
    "transcription": {"model": "gpt-4o-mini-transcribe"}}}}


def clean() -> np.ndarray:
    return CLIP.load(RATE)


def phone_with_noise_and_dc() -> np.ndarray:
    return resample(degrade(CLIP.load(), CLIP.rate, phone=True, snr_db=20, dc=0.1), 8_000, RATE)


@pytest.mark.parametrize(("make_audio", "overlap"), [(clean, 0.5), (phone_with_noise_and_dc, 0.4)],
                         ids=["clean", "phone-noise-dc"])
async def test_a_recorded_sentence_gets_a_transcript_and_a_spoken_reply(server, make_client, make_audio,
                                                                       overlap: float) -> None:
    client = make_client(server.base_url)
    await client.connect(SESSION)
    client.mic.play(make_audio())
    started = await client.next("input_audio_buffer.speech_started")
    stopped = await client.next("input_audio_buffer.speech_stopped")
    assert stopped["audio_end_ms"] - started["audio_start_ms"] >= 0.8 * CLIP.seconds * 1000  # one whole turn
    completed = await client.next("conversation.item.input_audio_transcription.completed")
    assert completed["item_id"] == started["item_id"]
    assert word_overlap(completed["transcript"], CLIP.words) >= overlap, completed["transcript"]
    start = len(client.audio())
    created = await client.next("response.created")
    assert (await client.next("output_audio_buffer.started"))["response_id"] == created["response"]["id"]
    await asyncio.wait_for(audible(client, start), WAIT)  # a spoken reply reaches the caller


async def audible(client: RealtimeTestClient, start: int) -> None:
    """Return once 100 ms of received audio after ``start`` is clearly audible (RMS above -40 dBFS)."""
    window = RATE // 10
    while True:
        received = client.audio()[start:]
        if any(rms(received[i:i + window]) > 330 for i in range(0, len(received) - window + 1, window)):
            return
        await asyncio.sleep(0.02)
