"""A WebSocket message is a reply audio delta by its ``type``, wherever the key sits (RFC 8259: objects are unordered)."""

from __future__ import annotations

import base64
import itertools
import json

from audio.wire.audio_delta import NOT_AUDIO, AudioDelta, BadAudioDelta, decode_audio_delta

PCM = bytes(range(256)) * 4
FIELDS = {"type": "response.output_audio.delta", "event_id": "event_1", "response_id": "resp_1",
          "item_id": "item_1", "output_index": 0, "content_index": 2, "delta": base64.b64encode(PCM).decode()}


def test_every_key_order_decodes_to_the_same_delta() -> None:
    for order in itertools.permutations(FIELDS):
        message = json.dumps({key: FIELDS[key] for key in order} | {"x_unknown": {"a": [1, None]}})
        assert decode_audio_delta(message) == AudioDelta(PCM, "resp_1", "item_1", 2), order


def test_the_beta_name_bytes_and_missing_ids() -> None:
    delta = decode_audio_delta(json.dumps({"delta": FIELDS["delta"], "type": "response.audio.delta"}).encode())
    assert isinstance(delta, AudioDelta) and delta.delta == PCM and delta.item_id is None and delta.content_index == 0


def test_other_messages_are_not_audio() -> None:
    for message in ('{"type": "response.output_audio_transcript.delta", "delta": "hi"}', '{"delta": "AAAA"}',
                    "[1, 2]", '"text"', "{not json", "", '{"type": 7}'):
        assert decode_audio_delta(message) is NOT_AUDIO, message


def test_a_delta_that_does_not_decode_is_reported_without_its_payload() -> None:
    secretish = "sk-this-must-not-leak!"
    for bad in ({**FIELDS, "delta": secretish}, {**FIELDS, "item_id": 5}, {**FIELDS, "content_index": "x"}):
        result = decode_audio_delta(json.dumps(bad))
        assert isinstance(result, BadAudioDelta) and secretish not in result.problem and "$." in result.problem
