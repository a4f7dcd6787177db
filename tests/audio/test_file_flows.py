"""audio-input and audio-output nodes on real encoded files, run to the end on the engine."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from audio.base.registry import AudioRegistry
from flow.errors import FlowError
from flow.loader import load_flow_text
from flow.options import RunOptions
from tests.audio.real_recordings import ENCODINGS, RATE, aligned_correlation, decode_with_pyav, encode, needs_recordings, speech
from tests.audio.test_file_writers import assert_finalised
from tests.audio.test_nodes import FLOW, indent, run_flow

pytestmark = needs_recordings


@pytest.mark.parametrize(("source", "suffix"), [("mp3-44k1-stereo", ".flac"), ("m4a-aac-8k", ".opus"), ("ogg-opus-16k", ".wav")])
async def test_a_file_flow_turns_one_format_into_another(tmp_path: Path, registry: AudioRegistry, source: str, suffix: str) -> None:
    encoding = next(e for e in ENCODINGS if e.name == source)
    pcm = speech(encoding.channels)
    recording = encode(pcm, RATE, encoding, tmp_path / f"in{encoding.suffix}")
    out = tmp_path / f"out{suffix}"
    engine = await run_flow(f"source: file\npath: {recording}", f"sink: file\npath: {out}\nsample_rate: 24000", RunOptions(realtime_pacing=False), registry)
    assert engine.nodes["mic"].description == f"file: {recording}"  # type: ignore[attr-defined]
    assert_finalised(out)
    with av.open(str(out)) as container:
        assert container.streams.audio[0].channels == encoding.channels
    decoded, *_ = decode_with_pyav(out, RATE)
    assert decoded.size / RATE == pytest.approx(pcm.shape[0] / RATE, abs=0.06 + 1024 / encoding.rate)
    correlation, _ = aligned_correlation(decoded, pcm.astype(np.float64).mean(axis=1))
    assert correlation > 0.9


def test_an_audio_output_path_with_an_unknown_extension_is_a_flow_error() -> None:
    text = FLOW.format(input=indent("source: silence"), output=indent("sink: file\npath: reply.mp3"))
    with pytest.raises(FlowError) as info:
        load_flow_text(text, "talk.yaml")
    assert "talk.yaml:10:11" in str(info.value) and "cannot write '.mp3' audio files; end the name in one of .wav, .flac, .ogg, .opus" in str(info.value)
