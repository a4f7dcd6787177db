"""The speech recognition worker: pocketsphinx in a process of its own.

pocketsphinx's search holds the GIL for a whole utterance (about half a
second), which inside the server's process would stall the event loop and
every audio stream paced on it. The server starts this file with the same
interpreter and talks to it over its pipes: each request is a 4-byte
big-endian length and that many bytes of 16 kHz mono int16 audio; each answer
is a 4-byte length and the recognised words in UTF-8. End of input ends it, so
it never outlives the server. It imports nothing from voxflow.

Every utterance starts from fresh features (``reinit_feat``, 0.1 ms).
pocketsphinx's cepstral mean normalisation otherwise carries its estimate from
one utterance to the next, so the decoder heard the same audio differently
depending on what came before: the demo's first sentence, as the server cut it,
was "how are you today" from a new decoder and "are you today" after a loud
tone, or after itself once.
"""

from __future__ import annotations

import sys
from typing import BinaryIO


def _read_exactly(stream: BinaryIO, count: int) -> bytes | None:
    data = b""
    while len(data) < count:
        chunk = stream.read(count - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    from pocketsphinx import Decoder  # type: ignore[import-untyped]

    decoder = Decoder(loglevel="FATAL")
    while True:
        header = _read_exactly(requests, 4)
        if header is None:
            return
        audio = _read_exactly(requests, int.from_bytes(header, "big"))
        if audio is None:
            return
        decoder.reinit_feat()
        decoder.start_utt()
        if audio:
            decoder.process_raw(audio, full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        words = (hypothesis.hypstr.strip() if hypothesis is not None else "").encode("utf-8")
        answers.write(len(words).to_bytes(4, "big") + words)
        answers.flush()


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
