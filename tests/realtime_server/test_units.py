"""Fast checks of the pieces: session config validation/merge, the paced reply track, the key store."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio.base.clock import FakeClock
from audio.server.keys import KeyStore
from audio.server.replies import EchoReplies, ScriptReplies, read_script
from audio.wire.session_schema import ConfigError, default_session, merge, parse_update
from audio.server.tracks import ReplyAudioTrack

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
session_like = st.fixed_dictionaries({"type": st.just("realtime")}, optional={
    "instructions": json_values, "model": json_values, "output_modalities": json_values,
    "audio": st.fixed_dictionaries({}, optional={
        "input": st.fixed_dictionaries({}, optional={"turn_detection": json_values, "transcription": json_values}),
        "output": st.fixed_dictionaries({}, optional={"voice": json_values, "speed": json_values})}),
})


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, session_like))
def test_any_json_is_either_a_valid_update_or_a_config_error(raw: object) -> None:
    try:
        update = parse_update(raw)
    except ConfigError as error:
        assert error.code and error.message and (error.param is None or error.param.startswith("session"))
        return
    merged = merge(default_session(0), update)
    assert merged["type"] == "realtime"
    detection = merged["audio"]["input"]["turn_detection"]
    assert detection is None or detection["type"] in ("server_vad", "semantic_vad")


def test_turn_detection_is_replaced_whole_with_defaults() -> None:
    session = merge(default_session(0), parse_update({"type": "realtime", "audio": {"input": {
        "turn_detection": {"type": "semantic_vad", "eagerness": "low"}}}}))
    assert session["audio"]["input"]["turn_detection"] == {
        "type": "semantic_vad", "eagerness": "low", "create_response": True, "interrupt_response": True}
    session = merge(session, parse_update({"type": "realtime", "audio": {"input": {"turn_detection": None}}}))
    assert session["audio"]["input"]["turn_detection"] is None
    assert session["audio"]["output"]["voice"] == "marin"


async def test_reply_track_reports_segments_and_paces_itself() -> None:
    events: list[tuple[str, str]] = []
    track = ReplyAudioTrack(48_000, on_started=lambda t: events.append(("started", t)),
                            on_stopped=lambda t: events.append(("stopped", t)))
    track.begin("resp_1")
    track.push("resp_1", np.full(48_000 // 10, 1000, dtype=np.int16))  # 100 ms
    track.end("resp_1")
    began = time.monotonic()
    frames = [await track.recv() for _ in range(8)]
    elapsed = time.monotonic() - began
    assert [f.pts for f in frames] == [960 * i for i in range(8)]
    assert events == [("started", "resp_1"), ("stopped", "resp_1")]
    levels = [int(np.abs(f.to_ndarray()).max()) for f in frames]
    assert levels[:5] == [1000] * 5 and levels[6:] == [0, 0]
    assert all(f.layout.name == "stereo" for f in frames)  # mono would be upmixed at -3 dB by aiortc's encoder
    assert elapsed > 0.1  # 8 frames = 140 ms after the first: paced, not back to back
    track.stop()


async def test_reply_track_clear_drops_everything_at_once() -> None:
    track = ReplyAudioTrack(24_000)
    track.begin("resp_a")
    track.push("resp_a", np.full(24_000, 500, dtype=np.int16))
    await track.recv()
    assert track.clear() == ["resp_a"]
    assert track.queued_samples() == 0
    assert int(np.abs((await track.recv()).to_ndarray()).max()) == 0
    track.stop()


async def test_key_store_expiry_on_the_injected_clock() -> None:
    clock = FakeClock()
    keys = KeyStore(clock)
    key = keys.mint(60, {"type": "realtime"})
    assert key.value.startswith("ek_") and keys.valid(key.value) is key
    await clock.advance(61)
    assert keys.valid(key.value) is None and keys.valid("ek_other") is None


def test_reply_policies() -> None:
    assert EchoReplies().reply("good morning") == "You said: good morning"
    script = ScriptReplies(read_script("One.\n\n  Two.  \n"))
    assert [script.reply(""), script.reply(""), script.reply("")] == ["One.", "Two.", "One."]
    assert asyncio.iscoroutinefunction(ReplyAudioTrack.recv)


def test_server_config_refuses_nonsense() -> None:
    import pytest

    from audio.base.errors import VoxflowError
    from audio.server import ServerConfig

    for bad in ({"reply": "parrot"}, {"output_rate": 44_100}, {"max_session_seconds": 0}):
        with pytest.raises(VoxflowError):
            ServerConfig(**bad)  # type: ignore[arg-type]


def test_the_webrtc_input_timeline_counts_audio_that_never_came_out_of_the_receive_path() -> None:
    """audio_*_ms follow what the caller sent: a frame its buffer dropped (or lost) is a gap in the RTP timestamps."""
    from audio.dsp.opus_decoder import to_frame
    from audio.server.webrtc_link import SentTimeline

    timeline = SentTimeline()
    frame = np.zeros((960, 2), dtype=np.int16)  # 20 ms at 48 kHz, the clock of Opus timestamps
    assert timeline.missing(to_frame(frame, 48_000)) == 0.0  # the first frame: nothing before it
    assert timeline.missing(to_frame(frame, 48_960)) == 0.0
    assert timeline.missing(to_frame(frame, 48_960 + 3 * 960)) == pytest.approx(0.04)  # two frames dropped
    assert timeline.missing(to_frame(frame, 48_960 + 4 * 960 + 48_000 * 60)) == 0.0  # a jump is not missing audio
