"""``--renew`` (off by default) and ``--no-reconnect`` (reconnection is on by default) reach every realtime node's session config."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from flow.loader import load_flow_text
from tui.app import VoxflowApp
from tui.cli import cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("args", "expected"), [([], False), (["--renew"], True)])
def test_renew_flag(monkeypatch: pytest.MonkeyPatch, args: list[str], expected: bool) -> None:
    apps: list[VoxflowApp] = []

    def fake_run(self: VoxflowApp, **kwargs: Any) -> None:
        apps.append(self)

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(VoxflowApp, "run", fake_run)
    result = CliRunner().invoke(cli, ["run", "flows/demo.yaml", *args])
    assert result.exit_code == 0, result.output
    assert apps[0].options.renew is expected


def test_renew_setting_or_option_turns_it_on() -> None:
    from flow.nodes.realtime import RealtimeConversationNode, RealtimeConversationSettings
    from flow.options import RunOptions

    load_flow_text("version: 1\nname: K\nnodes:\n  - {id: talk, type: realtime-conversation, renew: true}\n", "k.yaml")
    for setting, option, expected in ((False, False, False), (True, False, True), (False, True, True)):
        node = RealtimeConversationNode("talk", RealtimeConversationSettings(renew=setting))
        # session_config reads only these two of the NodeContext
        ctx: Any = type("Ctx", (), {"options": RunOptions(renew=option), "is_connected": lambda self, port: False})()
        assert node.session_config(ctx, "http://127.0.0.1:1").renew is expected


@pytest.mark.parametrize(("args", "expected"), [([], True), (["--no-reconnect"], False)])
def test_no_reconnect_flag(monkeypatch: pytest.MonkeyPatch, args: list[str], expected: bool) -> None:
    apps: list[VoxflowApp] = []

    def fake_run(self: VoxflowApp, **kwargs: Any) -> None:
        apps.append(self)

    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(VoxflowApp, "run", fake_run)
    result = CliRunner().invoke(cli, ["run", "flows/demo.yaml", *args])
    assert result.exit_code == 0, result.output
    assert apps[0].options.reconnect is expected


def test_reconnect_is_on_unless_the_setting_or_the_option_turns_it_off() -> None:
    from flow.nodes.realtime import RealtimeConversationNode, RealtimeConversationSettings
    from flow.options import RunOptions

    load_flow_text("version: 1\nname: K\nnodes:\n  - {id: talk, type: realtime-conversation, reconnect: false}\n", "k.yaml")
    assert RealtimeConversationSettings().reconnect is True
    for setting, option, expected in ((True, True, True), (False, True, False), (True, False, False)):
        node = RealtimeConversationNode("talk", RealtimeConversationSettings(reconnect=setting))
        ctx: Any = type("Ctx", (), {"options": RunOptions(reconnect=option), "is_connected": lambda self, port: False})()
        config = node.session_config(ctx, "http://127.0.0.1:1")
        assert config.reconnect is expected and config.renew is False  # renew stays opt-in


def test_the_outage_buffer_is_a_duration_setting_20_s_by_default() -> None:
    from flow.nodes.realtime import RealtimeConversationNode
    from flow.options import RunOptions

    flow = load_flow_text("version: 1\nname: K\nnodes:\n  - {id: talk, type: realtime-conversation, outage_buffer: 1m30s}\n",
                          "k.yaml")
    ctx: Any = type("Ctx", (), {"options": RunOptions(), "is_connected": lambda self, port: False})()
    node = RealtimeConversationNode("talk", flow.nodes[0].settings)
    assert node.session_config(ctx, "http://127.0.0.1:1").outage_buffer == 90.0
    default = load_flow_text("version: 1\nname: K\nnodes:\n  - {id: talk, type: realtime-conversation}\n", "k.yaml")
    assert RealtimeConversationNode("talk", default.nodes[0].settings).session_config(ctx, "http://127.0.0.1:1").outage_buffer == 20.0
    from audio.base.errors import VoxflowError

    with pytest.raises(VoxflowError, match="outage_buffer"):
        load_flow_text("version: 1\nname: K\nnodes:\n  - {id: talk, type: realtime-conversation, outage_buffer: 2h}\n", "k.yaml")
