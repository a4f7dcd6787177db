"""Reply audio over a WebSocket: one ``response.output_audio.delta`` decoded in one step, whatever its key order.

A server may write the keys of a JSON object in any order (RFC 8259: an object
is unordered), so a message is an audio delta only if its ``type`` says so,
wherever ``type`` sits. :func:`decode_audio_delta` reads every message with a
msgspec decoder for a tagged union of the delta's names (GA and beta): it
finds the tag anywhere in the object and decodes the base64 payload straight
into bytes, about four times faster than ``json.loads`` followed by
``base64.b64decode`` (BENCHMARKS.md, "WebSocket: decoding reply audio").
Anything else comes back as :data:`NOT_AUDIO`, to be parsed as an ordinary
server event (``protocol.parse_server_event``); a delta whose fields do not
decode comes back as :class:`BadAudioDelta`, without its payload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import msgspec

GA_TYPE = "response.output_audio.delta"
BETA_TYPE = "response.audio.delta"


class AudioDelta(msgspec.Struct, tag_field="type", tag=GA_TYPE, frozen=True):
    """The fields of a delta voxflow uses; unknown keys are skipped."""

    delta: bytes = b""  # base64 on the wire, PCM16 (or G.711) here
    response_id: str | None = None
    item_id: str | None = None
    content_index: int = 0


class BetaAudioDelta(AudioDelta, tag=BETA_TYPE, frozen=True):
    """The beta name of the same event (``response.audio.delta``)."""


@dataclass(frozen=True)
class BadAudioDelta:
    """A message whose ``type`` is an audio delta but whose fields do not decode; ``problem`` is safe to log."""

    problem: str


class _NotAudio:
    def __repr__(self) -> str:
        return "NOT_AUDIO"


NOT_AUDIO: Final = _NotAudio()
"""Returned for every message that is not an audio delta (or is not JSON at all)."""

_DECODER = msgspec.json.Decoder(AudioDelta | BetaAudioDelta)


class _Typed(msgspec.Struct):
    type: object = None  # every other key is skipped unparsed


_TYPE_ONLY = msgspec.json.Decoder(_Typed)


def decode_audio_delta(message: str | bytes) -> AudioDelta | BadAudioDelta | _NotAudio:
    """The audio delta in ``message``, :data:`NOT_AUDIO`, or :class:`BadAudioDelta`; never raises."""
    try:
        return _DECODER.decode(message)
    except msgspec.ValidationError as error:
        # an unknown tag (any other event) fails here too: only a message whose type is a delta is a bad delta
        try:
            kind = _TYPE_ONLY.decode(message).type
        except (msgspec.DecodeError, msgspec.ValidationError):
            return NOT_AUDIO  # a JSON array, a string...
        if kind in (GA_TYPE, BETA_TYPE):
            return BadAudioDelta(str(error).split(" - ")[-1])  # "at `$.delta`": where, never the payload
        return NOT_AUDIO
    except msgspec.DecodeError:
        return NOT_AUDIO  # not JSON: the interpreter reports it as a malformed event
