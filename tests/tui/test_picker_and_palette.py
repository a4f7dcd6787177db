"""The flow picker (no FLOW given) and the command palette's commands."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import OptionList

from tui.recent import RecentFlows
from tui.screens.keys import APP_KEYS, MAIN_KEYS
from tui.screens.main import MainScreen
from tui.screens.picker import FlowPickerScreen

from .conftest import make_app

GOOD = """version: 1
name: Good one
nodes:
  - id: hello
    type: text-input
    text: hi
"""


async def test_picker_lists_recent_and_flows_dir_and_opens_one(tmp_path: Path) -> None:
    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "a-good.yaml").write_text(GOOD)
    (flows / "b-broken.yaml").write_text("version: 1\nname: x\nnodes: []\n")
    elsewhere = tmp_path / "elsewhere.yaml"
    elsewhere.write_text(GOOD.replace("Good one", "Recent one"))
    recent = RecentFlows(tmp_path / "recent.json")
    recent.add(elsewhere)
    app = make_app(tmp_path, flow=None, flows_dir=flows, recent=recent)
    async with app.run_test(size=(100, 30)) as pilot:
        assert isinstance(app.screen, FlowPickerScreen)
        options = app.screen.query_one(OptionList)
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert "(recent)" in labels[0] and "elsewhere.yaml" in labels[0]
        assert any("a-good.yaml" in label for label in labels) and any("b-broken.yaml" in label for label in labels)
        await pilot.press("end", "enter")  # the broken one: an error, the picker stays
        await pilot.pause()
        assert isinstance(app.screen, FlowPickerScreen)
        assert any(n.severity == "error" for n in app._notifications)
        await pilot.press("up", "enter")
        for _ in range(100):
            if isinstance(app.screen, MainScreen):
                break
            await pilot.pause(0.02)
        assert isinstance(app.screen, MainScreen) and app.flow.name == "Good one"
        assert recent.load()[0] == (flows / "a-good.yaml").resolve()


async def test_every_key_is_in_the_command_palette(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)):
        titles = [command.title for command in app.get_system_commands(app.screen)]
        for command in (*MAIN_KEYS, *APP_KEYS):
            assert f"{command.label} ({command.shown})" in titles


async def test_help_screen_opens_and_closes(tmp_path: Path) -> None:
    from tui.screens.help import HelpScreen

    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("question_mark")
        await pilot.pause()
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("r")  # main keys do nothing under the help screen
        await pilot.pause()
        assert not app.engine.running
        await pilot.press("escape")
        await asyncio.wait_for(pilot.pause(), 5)
        assert app.screen is app.main
