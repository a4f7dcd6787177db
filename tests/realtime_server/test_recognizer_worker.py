"""The recognition worker's wire format, run in this process: length-prefixed audio in, words out."""

from __future__ import annotations

import io

from audio.speech.recognizer_worker import serve
from tests.real_speech import CARDS, word_overlap


def test_each_request_gets_its_words_and_a_request_cut_short_ends_the_worker(real_recordings: None) -> None:
    clip = CARDS[2]  # a person saying "seven of clubs"
    audio = clip.load(rate=16_000).astype("<i2").tobytes()
    requests = b"".join(len(data).to_bytes(4, "big") + data for data in (audio, b""))
    requests += (1000).to_bytes(4, "big") + b"\x00" * 10  # the server died mid-request: no answer, no hang
    answers = io.BytesIO()
    serve(io.BytesIO(requests), answers)
    replies = answers.getvalue()
    first = int.from_bytes(replies[:4], "big")
    words = replies[4:4 + first].decode()
    assert word_overlap(words, clip.words) == 1.0, words
    assert replies[4 + first:] == (0).to_bytes(4, "big")  # no audio: no words; then nothing for the cut request
