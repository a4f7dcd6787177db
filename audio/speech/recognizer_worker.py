"""A speech recognition worker: one recogniser in a process of its own.

Recognition holds a core for a fraction of a second per turn (pocketsphinx's
search keeps the GIL; CTranslate2 keeps its threads busy), which inside the
server's process would stall the event loop and every audio stream paced on
it. The pool (``recognizer_pool.py``) starts this module with the same
interpreter as ``python -m audio.speech.recognizer_worker ENGINE ...`` and
talks to it over its pipes with length-prefixed messages (4-byte big-endian
length, then the bytes):

- first the worker says ``{"ready": true, "multilingual": bool}``, or
  ``{"error": "one line"}`` and exits 1 (a damaged model, a missing package);
- each request is a JSON header (``id``, ``language``, ``prompt``,
  ``logprobs``) followed by 16 kHz mono int16 audio; each answer is
  ``{"id", "text", "logprobs", "cpu"}`` where ``cpu`` is the process time the
  request took (the server logs it per turn), or ``{"id", "error", "cpu"}``
  when that one request failed.

A Whisper worker has ``--slots`` decoding slots (CTranslate2 replicas of the
one loaded model, sharing its weights), so that many requests are decoded at
the same time and answered as each finishes, in any order: the ``id`` says
which (the pool's default is a slot per core, ``settings.py``). A request's
``cpu`` is the process's
CPU time while it ran, shared equally between the requests running at the
same moment (``CpuShare``): CTranslate2 computes on threads of its own, so
there is no per-thread figure to read.

End of input ends it, so it never outlives the server. It imports nothing
from voxflow but its sibling ``whisper_decoder``.

pocketsphinx starts every utterance from fresh features (``reinit_feat``,
0.1 ms): its cepstral mean normalisation otherwise carries over from one
utterance to the next, so the same audio was heard differently depending on
what came before ("how are you today" from a new decoder, "are you today"
after a loud tone).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import sys
import threading
import time
from collections.abc import Callable
from typing import IO, Any

import numpy as np

Recognise = Callable[[np.ndarray, dict[str, Any]], dict[str, Any]]


def read_message(stream: IO[bytes]) -> bytes | None:
    """One length-prefixed message (None at end of input)."""
    header = _read_exactly(stream, 4)
    return None if header is None else _read_exactly(stream, int.from_bytes(header, "big"))


def write_message(stream: IO[bytes], payload: bytes) -> None:
    stream.write(len(payload).to_bytes(4, "big") + payload)
    stream.flush()


def _read_exactly(stream: IO[bytes], count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = stream.read(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


class CpuShare:
    """Each request's share of the process's CPU time: while n requests run, each is charged 1/n of it."""

    def __init__(self, clock: Callable[[], float] = time.process_time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._last = clock()
        self._charged: dict[object, float] = {}

    def start(self, key: object) -> None:
        with self._lock:
            self._settle()
            self._charged[key] = 0.0

    def finish(self, key: object) -> float:
        with self._lock:
            self._settle()
            return self._charged.pop(key)

    def _settle(self) -> None:
        now = self._clock()
        spent, self._last = now - self._last, now
        for key in self._charged:  # time with no request running (reading input, idle) is nobody's
            self._charged[key] += spent / len(self._charged)


def _whisper(model_dir: str, threads: int, slots: int) -> tuple[Recognise, dict[str, Any]]:
    from audio.speech.whisper_decoder import WhisperDecoder

    decoder = WhisperDecoder(model_dir, threads, slots)

    def recognise(pcm: np.ndarray, options: dict[str, Any]) -> dict[str, Any]:
        decoded = decoder.decode(pcm, language=options.get("language"), prompt=options.get("prompt"),
                                 logprobs=bool(options.get("logprobs")))
        return {"text": decoded.text, "logprobs": decoded.logprobs if options.get("logprobs") else None}

    return recognise, {"multilingual": decoder.multilingual}


def _pocketsphinx() -> tuple[Recognise, dict[str, Any]]:
    from pocketsphinx import Decoder  # type: ignore[import-untyped]

    decoder = Decoder(loglevel="FATAL")

    def recognise(pcm: np.ndarray, options: dict[str, Any]) -> dict[str, Any]:
        decoder.reinit_feat()
        decoder.start_utt()
        if len(pcm):
            decoder.process_raw(pcm.tobytes(), full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        return {"text": hypothesis.hypstr.strip() if hypothesis is not None else "", "logprobs": None}

    return recognise, {"multilingual": False}


def serve(recognise: Recognise, requests: IO[bytes], answers: IO[bytes], slots: int = 1) -> None:
    """Answer requests until end of input, ``slots`` at a time; wait for the ones running before returning."""
    share = CpuShare()
    writing = threading.Lock()

    def answer(key: object, header: dict[str, Any], audio: bytes) -> None:
        share.start(key)
        try:
            reply = recognise(np.frombuffer(audio, dtype=np.int16), header)
        except Exception as error:  # this request failed; the worker and its model are still good
            reply = {"error": f"{type(error).__name__}: {' '.join(str(error).split())}"[:400]}
        reply["cpu"] = round(share.finish(key), 4)
        if "id" in header:
            reply["id"] = header["id"]
        with writing:
            write_message(answers, json.dumps(reply).encode("utf-8"))

    with concurrent.futures.ThreadPoolExecutor(max(1, slots), thread_name_prefix="slot") as slot_threads:
        while True:
            header = read_message(requests)
            audio = read_message(requests) if header is not None else None
            if header is None or audio is None:
                return
            slot_threads.submit(answer, object(), json.loads(header or b"{}"), audio)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("engine", choices=["whisper", "pocketsphinx"])
    parser.add_argument("--model-dir")
    parser.add_argument("--threads", type=int, default=1, help="CTranslate2 threads per slot")
    parser.add_argument("--slots", type=int, default=1, help="requests decoded at the same time (Whisper)")
    args = parser.parse_args(argv)
    answers = sys.stdout.buffer
    sys.stdout = sys.stderr  # a library that prints must not corrupt the answers
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local folder only; never the network
    try:
        if args.engine == "whisper":
            recognise, facts = _whisper(str(args.model_dir), args.threads, args.slots)
        else:
            recognise, facts = _pocketsphinx()
            args.slots = 1  # one decoder, one search at a time (the pool gives it one slot anyway)
    except Exception as error:  # a damaged model, a missing package: said in one line, then exit
        line = " ".join(str(error).split()) or type(error).__name__
        write_message(answers, json.dumps({"error": f"{type(error).__name__}: {line}"[:400]}).encode("utf-8"))
        return 1
    write_message(answers, json.dumps({"ready": True, **facts}).encode("utf-8"))
    serve(recognise, sys.stdin.buffer, answers, args.slots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
