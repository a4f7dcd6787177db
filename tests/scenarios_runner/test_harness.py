"""The flow as a scenario calls it: the caller replaces its input, outputs go nowhere, stubbed tools answer, one server."""

from __future__ import annotations

import wave
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from audio.base.clock import FakeClock
from flow.loader import load_flow
from flow.nodes.audio_input import AudioInputNode, AudioInputSettings
from flow.nodes.audio_output import AudioOutputSettings
from flow.nodes.tool_base import ToolSet
from flow.nodes.tool_calls import StubbedTool, connected_tools
from flow.options import RunOptions
from flow.scenarios.caller_source import CallerSource
from flow.scenarios.harness import flow_for_caller, rule_script
from flow.scenarios.recording import read_activity

ROOT = Path(__file__).resolve().parents[2]


def test_the_demo_hears_the_caller_instead_of_its_recording() -> None:
    demo = load_flow(ROOT / "flows" / "demo.yaml")
    called = flow_for_caller(demo)
    user = called.node("user").settings
    assert isinstance(user, AudioInputSettings) and user.source == "microphone" and user.path is None
    speaker = called.node("speaker").settings
    assert isinstance(speaker, AudioOutputSettings) and speaker.sink == "null"
    conversation = called.node("conversation").settings
    assert getattr(conversation, "echo_cancellation") == "off" and getattr(conversation, "echo_guard") is False
    assert getattr(conversation, "vad") == "server_vad" and "echo_guard" in conversation.model_fields_set
    assert called.edges == demo.edges and demo.node("user").settings.source == "file"  # type: ignore[attr-defined]


def test_the_caller_replaces_a_microphone_node() -> None:
    clock = FakeClock()
    caller = CallerSource(24_000, clock=clock)
    node = AudioInputNode("mic", AudioInputSettings(source="microphone"))
    ctx: Any = SimpleNamespace(options=RunOptions(input_source=caller), clock=clock, resolve_path=Path)
    assert node.make_source(ctx) is caller and node.description == "caller (scenario test)"


def test_rule_scripts_are_found_next_to_the_flow() -> None:
    assert rule_script(load_flow(ROOT / "flows" / "tools.yaml")) == (ROOT / "flows" / "scripts" / "tools.yaml").resolve()
    assert rule_script(load_flow(ROOT / "flows" / "demo.yaml")) is None


class EchoTool:
    name, description, parameters, confirm, node_id = "get_weather", "weather", {"type": "object"}, True, "weather"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def call(self, arguments: dict[str, Any]) -> str:
        self.calls.append(arguments)
        return "from the internet"

    def secrets(self) -> list[str]:
        return []


async def test_a_stubbed_tool_answers_without_running_the_node() -> None:
    real = EchoTool()
    other = EchoTool()
    other.name = "current_time"
    ctx: Any = SimpleNamespace(options=RunOptions(tool_stubs={"get_weather": '{"sky": "clear"}'}),
                               inputs_of=lambda port: [ToolSet("weather", (real, other))])
    stubbed, kept = connected_tools(ctx)
    assert isinstance(stubbed, StubbedTool) and kept is other
    assert (stubbed.name, stubbed.parameters, stubbed.confirm) == ("get_weather", {"type": "object"}, False)
    assert await stubbed.call({"city": "Paris"}) == '{"sky": "clear"}' and real.calls == []


def stereo_wav(path: Path, left: np.ndarray, right: np.ndarray, rate: int) -> Path:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(2)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(np.column_stack([left, right]).tobytes())
    return path


def test_the_recording_says_when_each_side_was_audible(tmp_path: Path) -> None:
    rate = 24_000
    left = np.zeros(rate * 3, np.int16)
    right = np.zeros(rate * 3, np.int16)
    left[int(0.5 * rate):int(1.2 * rate)] = 5000
    right[int(1.75 * rate):int(2.5 * rate)] = 3000
    path = tmp_path / "r.wav"
    activity = read_activity(stereo_wav(path, left, right, rate))
    assert activity.caller_span(0, None) == pytest.approx((0.5, 1.2))
    assert activity.assistant_span(1.2, None) == pytest.approx((1.75, 2.5))
    assert activity.assistant_span(0, 1.7) is None and activity.duration == pytest.approx(3.0)
    assert activity.talk_over(0, None) == 0.0  # one after the other

    left[int(2.2 * rate):int(2.9 * rate)] = 5000  # the caller barges in 0.3 s before the reply stops
    activity = read_activity(stereo_wav(path, left, right, rate))
    assert activity.talk_over(0, None) == pytest.approx(0.3) and activity.talk_over(2.0, 2.4) == pytest.approx(0.2)
    assert activity.talk_over(0, 2.2) == 0.0
