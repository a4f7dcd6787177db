"""The app driven by a real FlowEngine whose realtime node publishes a scripted session."""

from __future__ import annotations

import asyncio
from pathlib import Path

from audio.session.events import (
    AssistantAudio,
    ConnectionInfo,
    PttState,
    SessionErrorEvent,
    SessionState,
    StateChanged,
    TranscriptCleared,
)
from flow.events import NodeStatus
from tui.screens.prompts import ChoiceScreen

from .conftest import make_app
from .fakes import FakeRealtime, conversation_script


async def wait_for(predicate, pilot, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    async def loop() -> None:
        while not predicate():
            await pilot.pause(0.02)

    await asyncio.wait_for(loop(), timeout)


async def start(app, pilot):  # type: ignore[no-untyped-def]
    FakeRealtime.last = None
    await pilot.press("r")
    await wait_for(lambda: FakeRealtime.last is not None and app.session is FakeRealtime.last, pilot)
    return app.session


async def test_run_shows_statuses_transcript_and_stop(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        panel = app.main.nodes_panel
        assert set(panel.statuses.values()) == {NodeStatus.IDLE}
        session = await start(app, pilot)
        await wait_for(lambda: panel.statuses["talk"] == NodeStatus.RUNNING, pilot)
        session.publish(*conversation_script())
        await wait_for(lambda: len(app.main.transcript.item_ids) == 3, pilot)
        assert app.view.state == SessionState.CONNECTED
        texts = app.main.transcript.turn_texts
        assert "you" in texts[0] and "Hello, can you hear me?" in texts[0]
        assert "assistant" in texts[1] and "What would you like" in texts[1]
        assert panel.edge_states["talk.audio-out->speaker.audio"].value == "flowing"
        await pilot.press("s")
        await wait_for(lambda: not app.engine.running, pilot)
        assert panel.statuses["talk"] == NodeStatus.CANCELLED
        # the transcript of the stopped session stays readable
        assert len(app.main.transcript.item_ids) == 3


async def test_reset_clears_transcript_statuses_and_view(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        session = await start(app, pilot)
        session.publish(*conversation_script())
        await wait_for(lambda: len(app.main.transcript.item_ids) == 3, pilot)
        await pilot.press("c")
        await wait_for(lambda: not app.main.transcript.item_ids, pilot)
        assert set(app.main.nodes_panel.statuses.values()) == {NodeStatus.IDLE}
        assert app.view.state == SessionState.IDLE and app.view.usage.total_tokens == 0
        assert app.session is None
        # events from the old session no longer reach the app
        session.publish(StateChanged(SessionState.ERROR, "late"))
        await pilot.pause()
        assert app.view.state == SessionState.IDLE


async def test_ptt_with_vad_on_explains_and_with_vad_off_toggles(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        session = await start(app, pilot)
        session.publish(StateChanged(SessionState.CONNECTED), ConnectionInfo(vad="server_vad"))
        await pilot.press("space")
        await pilot.pause()
        assert session.calls == []
        assert any("VAD" in n.message for n in app._notifications)
        session.publish(ConnectionInfo(vad=None))
        await pilot.press("space")
        await wait_for(lambda: app.view.ptt == PttState.TALKING, pilot)
        await pilot.pause(0.1)
        assert "TALKING" in str(app.main.header.render().renderables[1].columns[0]._cells[0])
        await pilot.press("space")
        await wait_for(lambda: app.view.ptt == PttState.OFF, pilot)
        assert [name for name, _ in session.calls] == ["ptt_toggle", "ptt_toggle"]
        await pilot.press("m")
        await wait_for(lambda: app.view.muted, pilot)
        await pilot.press("m")
        await wait_for(lambda: not app.view.muted, pilot)


async def test_keys_needing_a_session_explain_before_run(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        for key in ("space", "m", "t"):
            await pilot.press(key)
        await pilot.pause()
        messages = [n.message for n in app._notifications]
        assert sum("press r to run the flow first" in m for m in messages) == 3


async def test_session_error_is_shown_and_run_recovers(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        session = await start(app, pilot)
        session.publish(StateChanged(SessionState.CONNECTED))
        session.publish(SessionErrorEvent("the server refused the call", code="server_error", fatal=True))
        session.publish(StateChanged(SessionState.ERROR, "the server refused the call: try again"))
        await pilot.pause(0.1)
        assert app.view.state == SessionState.ERROR
        cells = [str(cell) for cell in app.main.connection.render().columns[1]._cells]
        assert any("refused" in cell for cell in cells[:2])  # right under the state
        assert any(n.severity == "error" for n in app._notifications)
        assert app.is_running  # the app never exits on a session error
        await pilot.press("s")
        await wait_for(lambda: not app.engine.running, pilot)
        first = session
        second = await start(app, pilot)
        assert second is not first
        assert app.view.state == SessionState.IDLE and app.view.error is None
        second.publish(StateChanged(SessionState.CONNECTED))
        await wait_for(lambda: app.view.state == SessionState.CONNECTED, pilot)


async def test_text_message_and_export(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        session = await start(app, pilot)
        session.publish(*conversation_script())
        await pilot.press("t")
        await pilot.pause()
        await pilot.press(*"hi there")
        await pilot.press("enter")
        await wait_for(lambda: ("send_text", ("hi there",)) in session.calls, pilot)
        await pilot.press("e")
        await wait_for(lambda: (tmp_path / "exports").is_dir() and len(list((tmp_path / "exports").iterdir())) == 2, pilot)
        jsonl = next((tmp_path / "exports").glob("*.jsonl")).read_text()
        assert "Hello, can you hear me?" in jsonl


async def test_voice_and_vad_change_before_run_and_lock_while_running(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("v")
        await pilot.pause()
        await pilot.press("home", "enter")  # first voice: alloy
        await pilot.pause()
        assert app.flow.node("talk").settings.voice == "alloy"
        await pilot.press("d")
        await pilot.pause()
        await pilot.press("end", "enter")  # last VAD mode: off
        await pilot.pause()
        assert app.flow.node("talk").settings.vad == "disabled"
        assert app.engine.nodes["talk"].settings.vad == "disabled"  # the next run uses it
        session = await start(app, pilot)
        session.publish(StateChanged(SessionState.CONNECTED))
        await pilot.press("v")
        await pilot.pause()
        assert any("only before the session starts" in n.message for n in app._notifications)
        session.publish(AssistantAudio(playing=True, response_id="r1"))
        await pilot.press("v")
        await pilot.pause()
        assert any("locked once the assistant has spoken" in n.message for n in app._notifications)
        assert not isinstance(app.screen, ChoiceScreen)


async def test_transcript_follows_until_scrolled_up_and_l_returns(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        session = await start(app, pilot)
        session.publish(StateChanged(SessionState.CONNECTED))
        from .fakes import entry
        from audio.session.events import TranscriptUpdated

        for i in range(30):
            session.publish(TranscriptUpdated(entry(f"i{i}", "user" if i % 2 else "assistant", f"turn {i}", float(i)), i))
        await wait_for(lambda: len(app.main.transcript.item_ids) == 30, pilot)
        panel = app.main.transcript
        await wait_for(lambda: panel.max_scroll_y > 0 and panel.scroll_y == panel.max_scroll_y, pilot)
        assert panel.following
        panel.scroll_home(animate=False)
        await pilot.pause(0.1)
        assert not panel.following
        for i in range(30, 35):
            session.publish(TranscriptUpdated(entry(f"i{i}", "user", f"turn {i}", float(i)), i))
        await wait_for(lambda: len(panel.item_ids) == 35, pilot)
        await pilot.pause(0.1)
        assert panel.scroll_y < panel.max_scroll_y  # stayed where the user put it
        await pilot.press("l")
        await wait_for(lambda: panel.scroll_y == panel.max_scroll_y, pilot)
        assert panel.following
        session.publish(TranscriptCleared())
        await wait_for(lambda: not panel.item_ids, pilot)


async def test_too_small_notice_replaces_layout_until_it_grows(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(70, 20)) as pilot:
        from tui.screens.too_small import TooSmallScreen

        assert isinstance(app.screen, TooSmallScreen)
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        assert app.screen is app.main


async def test_quit_stops_the_flow_first(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await start(app, pilot)
        engine = app.engine
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert not engine.running
    assert engine.status("talk") == NodeStatus.CANCELLED


async def test_transcript_option_writes_files_when_the_flow_ends(tmp_path: Path) -> None:
    app = make_app(tmp_path, transcript_path=tmp_path / "out" / "talk.jsonl")
    async with app.run_test(size=(100, 30)) as pilot:
        session = await start(app, pilot)
        session.publish(*conversation_script())
        await pilot.press("s")
        await wait_for(lambda: (tmp_path / "out" / "talk.md").exists(), pilot)
    assert "Hello, can you hear me?" in (tmp_path / "out" / "talk.jsonl").read_text()


async def test_secrets_never_reach_the_screen(tmp_path: Path) -> None:
    from flow.options import RunOptions

    options = RunOptions(api_key="sk-very-secret", share_token="st-very-secret", token_service="https://tokens.example.com")
    app = make_app(tmp_path, options=options)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        assert "tokens.example.com" in app.export_screenshot()  # the provider is shown by host
        session = await start(app, pilot)
        session.publish(*conversation_script())
        await pilot.pause(0.1)
        assert "very-secret" not in app.export_screenshot()
        await pilot.press("question_mark")
        await pilot.pause()
        assert "very-secret" not in app.export_screenshot()


async def test_start_flag_runs_the_flow_when_the_app_opens(tmp_path: Path) -> None:
    FakeRealtime.last = None
    app = make_app(tmp_path, start=True)  # what `voxflow run FLOW --start` asks for
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(lambda: FakeRealtime.last is not None and app.session is FakeRealtime.last, pilot)
        await wait_for(lambda: app.main.nodes_panel.statuses["talk"] == NodeStatus.RUNNING, pilot)
        await pilot.press("s")
        await wait_for(lambda: not app.engine.running, pilot)
