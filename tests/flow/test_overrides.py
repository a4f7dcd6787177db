"""``--input``/``--output`` on a flow with no microphone/speaker to replace is a usage error, not a silent no-op."""

from __future__ import annotations

from pathlib import Path

import pytest

from audio.base.errors import VoxflowError
from flow.loader import load_flow, load_flow_text
from flow.overrides import check_device_overrides

ROOT = Path(__file__).resolve().parents[2]

DEVICES = """
version: 1
name: Devices
nodes:
  - {id: mic, type: audio-input, source: microphone}
  - {id: out, type: audio-output, sink: speaker}
edges:
  - {from: mic.audio, to: out.audio}
"""


def test_a_flow_with_devices_takes_both_files() -> None:
    check_device_overrides(load_flow_text(DEVICES, "devices.yaml"), Path("in.wav"), Path("out.wav"))


def test_the_demo_reads_its_own_recording_so_input_is_refused() -> None:
    demo = load_flow(ROOT / "flows" / "demo.yaml")
    check_device_overrides(demo, None, Path("out.wav"))  # its speaker is replaced
    with pytest.raises(VoxflowError, match="--input in.wav: flow 'Demo' has no microphone to replace") as raised:
        check_device_overrides(demo, Path("in.wav"), None)
    assert raised.value.hint is not None and "source: microphone" in raised.value.hint


def test_output_without_a_speaker_is_refused() -> None:
    no_speaker = load_flow_text(DEVICES.replace("sink: speaker", "sink: 'null'"), "null.yaml")
    with pytest.raises(VoxflowError, match="--output out.wav: flow 'Devices' has no speaker to replace"):
        check_device_overrides(no_speaker, Path("in.wav"), Path("out.wav"))
