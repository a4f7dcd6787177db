"""The recognition worker's wire format, run in this process: a JSON header and audio in, a JSON answer out;
its slots answer requests at once, each by its id, and share the CPU time fairly."""

from __future__ import annotations

import io
import json
import threading
from typing import Any

import numpy as np

from audio.speech.recognizer_worker import CpuShare, read_message, serve


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


def test_two_slots_decode_two_requests_at_once_and_each_answer_names_its_request() -> None:
    both_running = threading.Barrier(2, timeout=5)  # one slot: the second request never starts, the wait breaks
    first_done = threading.Event()

    def recognise(audio: np.ndarray, header: dict[str, Any]) -> dict[str, Any]:
        both_running.wait()
        if header["prompt"] == "slow":
            assert first_done.wait(5)  # answered after the later request: out of order, matched by id
        else:
            first_done.set()
        return {"text": header["prompt"], "logprobs": None}

    audio = np.zeros(160, dtype="<i2").tobytes()
    requests = framed(json.dumps({"id": 7, "prompt": "slow"}).encode(), audio,
                      json.dumps({"id": 9, "prompt": "quick"}).encode(), audio)
    answers = io.BytesIO()
    serve(recognise, io.BytesIO(requests), answers, slots=2)
    answers.seek(0)
    replies = [json.loads(read_message(answers) or b""), json.loads(read_message(answers) or b"")]
    assert [(reply["id"], reply.get("text")) for reply in replies] == [(9, "quick"), (7, "slow")], replies


def test_each_request_is_charged_its_share_of_the_process_cpu_while_it_ran() -> None:
    now = [0.0]
    share = CpuShare(clock=lambda: now[0])
    now[0] = 5.0  # before any request: nobody's
    share.start("a")
    now[0] = 6.0  # a alone: 1 s
    share.start("b")
    now[0] = 8.0  # both: 1 s each
    assert share.finish("a") == 2.0
    now[0] = 9.0  # b alone: 1 s
    assert share.finish("b") == 2.0
