"""WebSocket reply audio: deltas carry the samples, and a virtual playhead (injected clock) paces and ends them."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from audio.server.audio_out import DeltaAudioOut


class Sink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def send(self, type: str, **fields: Any) -> None:
        self.events.append({"type": type, **fields})

    def send_error(self, code: str, message: str, **kwargs: Any) -> None:
        self.events.append({"type": "error", "code": code})


def test_deltas_carry_pcm16_and_drain_in_real_time() -> None:
    now = [100.0]
    sink = Sink()
    out = DeltaAudioOut(sink, clock=lambda: now[0])
    ids = {"response_id": "resp_1", "item_id": "item_1", "output_index": 0, "content_index": 0}
    out.begin("resp_1", ids=ids)
    samples = (np.arange(2400) % 200 - 100).astype(np.int16)
    out.push("resp_1", samples)
    out.push("resp_1", samples)
    [first, second] = sink.events
    assert first == {"type": "response.output_audio.delta", **ids, "delta": first["delta"]}
    assert np.array_equal(np.frombuffer(base64.b64decode(first["delta"]), dtype="<i2"), samples)
    assert out.queued_samples("resp_1") == 4800 and out.playing() == "resp_1"
    now[0] += 0.1  # 100 ms later, half of the 200 ms sent has played
    assert out.queued_samples("resp_1") == 2400
    out.end("resp_1")
    out.push("resp_1", samples)  # ended: nothing more goes out
    assert len(sink.events) == 2
    now[0] += 0.1
    assert out.queued_samples() == 0 and out.playing() is None
    out.begin("resp_2")
    assert list(out._sent) == ["resp_2"]  # the finished segment was forgotten


def test_clear_names_what_was_pending_and_stops_the_deltas() -> None:
    now = [0.0]
    out = DeltaAudioOut(Sink(), clock=lambda: now[0])
    out.begin("resp_1")
    out.push("resp_1", np.ones(24_000, dtype=np.int16))
    assert out.clear() == ["resp_1"]
    assert out.queued_samples() == 0 and out.playing() is None
    assert out.clear() == []


def test_g711_a_law_and_mu_law_round_trip_through_the_wire_codec() -> None:
    from audio.server.wire_audio import WireCodec, rate_of

    tone = (8000 * np.sin(2 * np.pi * 440 * np.arange(800) / 8000)).astype(np.int16)
    codec = WireCodec()
    for kind in ("audio/pcma", "audio/pcmu"):
        coded = codec.encode(tone, {"type": kind})
        assert len(coded) == len(tone) and rate_of({"type": kind}) == 8000
        back = codec.decode(coded, {"type": kind})
        assert np.max(np.abs(back.astype(int) - tone)) < 300  # G.711's quantisation, nothing worse
    assert codec.decode(tone.astype("<i2").tobytes(), {"type": "audio/pcm", "rate": 24000}).tolist() == tone.tolist()
    assert rate_of(None) == 24_000
