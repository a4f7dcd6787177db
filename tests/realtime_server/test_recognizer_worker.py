"""The recognition worker's wire format, run in this process: a JSON header and audio in, a JSON answer out."""

from __future__ import annotations

import io
import json
from typing import Any

import numpy as np

from audio.speech.recognizer_worker import read_message, serve


def framed(*messages: bytes) -> bytes:
    return b"".join(len(data).to_bytes(4, "big") + data for data in messages)


def test_each_request_gets_its_answer_a_failed_one_says_why_and_a_cut_request_ends_the_worker() -> None:
    heard: list[tuple[int, dict[str, Any]]] = []

    def recognise(audio: np.ndarray, header: dict[str, Any]) -> dict[str, Any]:
        if header.get("prompt") == "fail":
            raise RuntimeError("the model\nbroke")
        heard.append((len(audio), header))
        return {"text": f"{len(audio)} samples", "logprobs": None}

    audio = np.arange(1600, dtype="<i2").tobytes()
    requests = framed(json.dumps({"language": "en"}).encode(), audio,
                      json.dumps({"prompt": "fail"}).encode(), audio)
    requests += (1000).to_bytes(4, "big") + b"\x00" * 10  # the server died mid-request: no answer, no hang
    answers = io.BytesIO()
    serve(recognise, io.BytesIO(requests), answers)
    answers.seek(0)
    first = json.loads(read_message(answers) or b"")
    second = json.loads(read_message(answers) or b"")
    assert read_message(answers) is None  # nothing for the cut request
    assert first["text"] == "1600 samples" and first["cpu"] >= 0
    assert heard == [(1600, {"language": "en"})]
    assert second["error"] == "RuntimeError: the model broke" and "text" not in second  # one line; the worker goes on
