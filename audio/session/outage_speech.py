"""What was said during an outage, ready for the next session: the speech only, as the protocol carries it.

The held audio (``outage_buffer.py``) is mostly silence: the person paused,
or nobody spoke while the link was down. The buffer scores it with Silero
(``audio/speech/speech_probability.py``, the local server's VAD too) as it
comes in; :func:`speech_only` keeps the stretches scored as speech, each
padded a little, so the pauses between them are shorter than a turn-ending
silence and a service's VAD hears one turn.

:func:`append_events` and :func:`item_events` turn it into client events for
the live connection:

* over WebSocket the microphone already travels as ``input_audio_buffer.append``,
  so the speech is appended, faster than real time, right before the live
  audio; the service's VAD turns it into a turn and answers it;
* over WebRTC the microphone is a media track that cannot run faster than
  real time, so the speech becomes user ``conversation.item.create`` events
  with ``input_audio`` content (base64 PCM16, 24 kHz), each within the data
  channel's message size, then a ``response.create``. So does push-to-talk,
  where no VAD would end the appended turn.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from audio.dsp.formats import Resampler
from audio.session.outage_buffer import HeldAudio, quiet
from audio.speech.speech_probability import SileroScorer, SpeechScorer

WIRE_RATE = 24_000  # PCM16 mono, the session's default input format
PAD_SECONDS = 0.15
"""Kept before and after each stretch of speech (word edges score low). Two pads meet between stretches:
0.3 s, well under a turn-ending pause (server VAD's default is 0.5 s), so the service hears one turn."""
MERGE_SECONDS = 0.3
"""Stretches closer than this are one (the pause between them is kept as it was)."""
APPEND_SECONDS = 0.5
"""Audio per ``input_audio_buffer.append`` event (32 KB of base64)."""
EVENT_OVERHEAD = 512
"""Bytes of an item event besides its base64 audio."""


@dataclass(frozen=True)
class OutageSpeech:
    """The speech of an outage at ``WIRE_RATE``."""

    pcm: np.ndarray  # mono int16
    heard_seconds: float  # the held audio it was taken from

    @property
    def seconds(self) -> float:
        return self.pcm.shape[0] / WIRE_RATE


def scored(pcm: np.ndarray, rate: int, scorer: Callable[[int], SpeechScorer] = SileroScorer) -> HeldAudio:
    """``pcm`` (mono int16) as held audio scored 20 ms at a time, as the outage buffer scores what it holds."""
    samples = np.asarray(pcm, dtype=np.int16).reshape(-1)
    step = max(1, rate // 50)
    ends = np.minimum(np.arange(step, samples.size + step, step, dtype=np.int64), samples.size)
    model: SpeechScorer | None = None
    speech, last, start = [], 0.0, 0
    for end in ends:
        frame = samples[start:end]
        if quiet(frame):
            speech.append(0.0)
        else:
            model = model or scorer(rate)
            scores = model.feed(frame)
            last = max(scores) if scores else last
            speech.append(last)
        start = int(end)
    return HeldAudio(samples, rate, 0.0, 0.0, ends, np.array(speech, dtype=np.float64))


def speech_only(held: HeldAudio, *, threshold: float = 0.5) -> OutageSpeech:
    """The stretches of ``held`` scored as speech (unscored frames count as speech), at 24 kHz, joined."""
    rate, samples = held.rate, np.asarray(held.pcm, dtype=np.int16).reshape(-1)
    spans: list[list[int]] = []
    start = 0
    for end, score in zip(held.frame_ends.tolist(), held.frame_speech.tolist(), strict=True):
        if np.isnan(score) or score >= threshold:
            if spans and start - spans[-1][1] < MERGE_SECONDS * rate:
                spans[-1][1] = end
            else:
                spans.append([start, end])
        start = end
    pad = int(PAD_SECONDS * rate)
    parts = [samples[max(0, first - pad): min(samples.size, last + pad)] for first, last in spans]
    pcm = to_wire(np.concatenate(parts), rate) if parts else np.zeros(0, dtype=np.int16)
    return OutageSpeech(pcm, held.seconds)


def to_wire(pcm: np.ndarray, rate: int) -> np.ndarray:
    """Mono int16 at ``rate`` as mono int16 at 24 kHz."""
    if rate == WIRE_RATE:
        return np.asarray(pcm, dtype=np.int16).reshape(-1)
    resampler = Resampler(WIRE_RATE, 1, in_rate=rate)
    block = np.asarray(pcm, dtype=np.int16).reshape(-1, 1)
    return np.concatenate([resampler.process(block), resampler.flush()]).reshape(-1).astype(np.int16)


def _b64(pcm: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(pcm, dtype="<i2").tobytes()).decode("ascii")


def append_events(pcm: np.ndarray) -> list[dict[str, Any]]:
    """``input_audio_buffer.append`` events carrying ``pcm`` (24 kHz), in order."""
    step = int(APPEND_SECONDS * WIRE_RATE)
    return [{"type": "input_audio_buffer.append", "audio": _b64(pcm[at: at + step])} for at in range(0, pcm.shape[0], step)]


def item_events(pcm: np.ndarray, *, max_bytes: int, ids: Callable[[int], str]) -> list[dict[str, Any]]:
    """User ``conversation.item.create`` events with ``input_audio`` content, each at most ``max_bytes``.

    ``ids(n)`` names the n-th item (the caller follows their transcription).
    Most outages fit one item; a longer one is cut into consecutive items.
    """
    per_item = max(WIRE_RATE // 10, (max_bytes - EVENT_OVERHEAD) * 3 // 4 // 2)  # base64: 4 chars per 3 bytes
    events = []
    for index, at in enumerate(range(0, pcm.shape[0], per_item)):
        events.append({"type": "conversation.item.create", "item": {
            "id": ids(index), "type": "message", "role": "user",
            "content": [{"type": "input_audio", "audio": _b64(pcm[at: at + per_item])}],
        }})
    return events
