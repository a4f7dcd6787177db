"""End to end: the real flows on the real engine, session core and local Realtime server
(WebRTC over loopback), driven by keys in the app. No sound card: audio goes to files."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from audio.base.clock import SystemClock
from audio.session.events import PttState, SessionState
from flow.events import NodeStatus
from flow.loader import load_flow, load_flow_text
from flow.options import RunOptions
from tui.app import VoxflowApp
from tui.recent import RecentFlows

pytestmark = [pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "flows" / "demo.yaml"
WAV = ROOT / "flows" / "audio" / "demo-user.wav"


def app_for(flow, tmp_path: Path, **options: object) -> VoxflowApp:  # type: ignore[no-untyped-def]
    run_options = RunOptions(clock=SystemClock(), output_file=tmp_path / "assistant.wav", **options)  # type: ignore[arg-type]
    return VoxflowApp(flow, options=run_options, recent=RecentFlows(tmp_path / "recent.json"), export_dir=tmp_path / "exports")


async def until(predicate: Callable[[], bool], pilot, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    async def loop() -> None:
        while not predicate():
            await pilot.pause(0.05)

    await asyncio.wait_for(loop(), timeout)


def roles(app: VoxflowApp) -> set[str]:
    return {entry.role for entry in app.transcript.entries if entry.final and entry.text}


@pytest.fixture(autouse=True)
def _in_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)  # the demo's WAV path is relative to where voxflow starts


async def test_demo_runs_against_the_local_server(tmp_path: Path) -> None:
    app = app_for(load_flow(DEMO), tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        assert "local" in app.provider_label
        await pilot.press("r")
        await until(lambda: app.view.state == SessionState.CONNECTED, pilot)
        assert app.view.datachannel_state == "open" and app.view.call_id
        await until(lambda: roles(app) == {"user", "assistant"}, pilot)
        await until(lambda: len(app.main.transcript.item_ids) >= 2, pilot, 5)
        first = app.transcript.entries[0]
        assert first.role == "user"
        # recognised by the local server's offline speech (or its "(speech, N s)" stand-in without it)
        assert "how are you" in first.text.lower() or first.text.startswith("(speech")
        assert first.text in app.main.transcript.turn_texts[0]
        statuses = app.main.nodes_panel.statuses
        assert statuses["conversation"] == NodeStatus.RUNNING
        await pilot.press("s")
        await until(lambda: not app.engine.running, pilot)
        assert statuses["conversation"] == NodeStatus.CANCELLED
        assert statuses["user"] in (NodeStatus.CANCELLED, NodeStatus.DONE)
        assert app.view.state == SessionState.DISCONNECTED
        assert len(app.main.transcript.item_ids) >= 2  # kept after stop
        await pilot.press("c")
        await until(lambda: not app.main.transcript.item_ids, pilot, 5)
        assert set(statuses.values()) == {NodeStatus.IDLE}
        assert len(app.engine.registry) == 0  # type: ignore[attr-defined]
        assert app.view.state == SessionState.IDLE and len(app.transcript) == 0


PTT_FLOW = f"""
version: 1
name: PTT test
nodes:
  - id: mic
    type: audio-input
    source: file
    path: {WAV}
    loop: true
  - id: talk
    type: realtime-conversation
    provider: local
    vad: disabled
  - id: out
    type: audio-output
    sink: null
edges:
  - from: mic.audio
    to: talk.audio-in
  - from: talk.audio-out
    to: out.audio
"""


async def test_push_to_talk_with_vad_disabled_commits_a_turn(tmp_path: Path) -> None:
    app = app_for(load_flow_text(PTT_FLOW, "ptt.yaml"), tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("r")
        await until(lambda: app.view.state == SessionState.CONNECTED, pilot)
        assert app.view.vad == "push-to-talk"
        await pilot.press("space")
        await until(lambda: app.view.ptt == PttState.TALKING, pilot)
        await asyncio.sleep(1.5)  # real audio has to flow while the gate is open
        await pilot.press("space")
        await until(lambda: app.view.ptt == PttState.OFF, pilot)
        await until(lambda: roles(app) == {"user", "assistant"}, pilot)
        await pilot.press("s")
        await until(lambda: not app.engine.running, pilot)


async def test_server_error_is_shown_and_r_recovers(tmp_path: Path) -> None:
    from audio.server import LocalRealtimeServer, ServerConfig
    from audio.server.config import FaultConfig

    server = LocalRealtimeServer(ServerConfig(faults=FaultConfig(sdp_error_status=500), speech=False))
    await server.start()
    try:
        flow = load_flow(DEMO)
        app = app_for(flow, tmp_path, provider="openai", api_key="sk-test-not-shown", base_url=server.base_url)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("r")
            await until(lambda: app.view.state == SessionState.ERROR, pilot)
            await until(lambda: app.main.nodes_panel.statuses["conversation"] == NodeStatus.ERROR, pilot)
            assert app.view.error
            assert any(n.severity == "error" for n in app._notifications)
            shown = str(app.main.connection.render().columns[1]._cells[1])
            assert "500" in shown or "error" in shown.lower()
            assert "sk-test-not-shown" not in shown
            assert app.is_running
            server.config.faults = FaultConfig()
            await pilot.press("r")
            await until(lambda: app.view.state == SessionState.CONNECTED, pilot)
            assert app.view.error is None
            await pilot.press("s")
            await until(lambda: not app.engine.running, pilot)
    finally:
        await server.stop()
