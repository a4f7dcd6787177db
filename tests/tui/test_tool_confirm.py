"""confirm: true in the app: the operator answers y/n on a modal with the arguments shown (end to end over WebRTC)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from audio.base.clock import SystemClock
from audio.session.events import TranscriptEntry
from flow.loader import load_flow
from flow.options import RunOptions
from tests.tools.speech import spoken_wav
from tui.app import VoxflowApp
from tui.recent import RecentFlows
from tui.screens.tool_confirm import ToolConfirmScreen

pytestmark = [pytest.mark.slow]

RULES = """\
- when: "(?i)\\\\blondon\\\\b"
  call: get_weather
  arguments: {city: "london"}
  say: "It is {tool_output}."
- when: "."  # the Paris question, whatever the offline recogniser made of it (its accuracy is tested elsewhere)
  call: get_weather
  arguments: {city: "paris"}
  say: "It is {tool_output}."
"""
FLOW = f"""\
version: 1
name: Confirm
nodes:
  - id: weather
    type: command-tool
    name: get_weather
    parameters: {{type: object, properties: {{city: {{type: string}}}}, required: [city]}}
    command: ["{sys.executable}", "-c", "import sys; print(dict(paris='sunny', london='rainy')[sys.argv[1].lower()])", "{{city}}"]
    confirm: true
  - id: chat
    type: realtime-conversation
    provider: local
    vad: server_vad
    local_script: rules.yaml
  - {{id: notes, type: preview-output}}
edges:
  - {{from: weather.tool, to: chat.tools}}
  - {{from: chat.transcript, to: notes.text}}
"""


async def until(predicate: Callable[[], bool], pilot, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    async def loop() -> None:
        while not predicate():
            await pilot.pause(0.05)

    await asyncio.wait_for(loop(), timeout)


def tools(app: VoxflowApp) -> list[TranscriptEntry]:
    return [entry for entry in app.transcript.entries if entry.role == "tool" and entry.final]


async def test_the_operator_approves_one_call_and_refuses_the_next(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    (tmp_path / "confirm.yaml").write_text(FLOW)
    # a long gap: the shared recogniser may still be busy with an earlier test's utterance, and the London
    # question must not barge in on the Paris reply before its call was made
    question = await spoken_wav(tmp_path / "q.wav", "What is the weather in Paris?", "What is the weather in London?", gap=6.0)
    options = RunOptions(clock=SystemClock(), output_file=tmp_path / "assistant.wav", input_file=question)
    app = VoxflowApp(load_flow(tmp_path / "confirm.yaml"), options=options, recent=RecentFlows(tmp_path / "recent.json"),
                     export_dir=tmp_path / "exports")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("r")
        await until(lambda: isinstance(app.screen, ToolConfirmScreen), pilot)
        shown = str(app.screen.query_one("#arguments").render())
        assert app.screen.request.name == "get_weather" and '"city": "paris"' in shown, [(e.role, e.text) for e in app.transcript.entries]
        await pilot.press("y")
        await until(lambda: len(tools(app)) == 1, pilot)
        await until(lambda: isinstance(app.screen, ToolConfirmScreen), pilot)
        assert app.screen.request.arguments == {"city": "london"}
        await pilot.press("n")
        await until(lambda: len(tools(app)) == 2, pilot)
        await until(lambda: sum(e.role == "assistant" and e.final for e in app.transcript.entries) == 2, pilot)
        first, second = tools(app)
        assert first.tool is not None and first.tool.status == "done" and first.tool.result.strip() == "sunny"
        assert second.tool is not None and second.tool.status == "refused"
        replies = [e.text for e in app.transcript.entries if e.role == "assistant"]
        assert replies[0] == "It is sunny." and "refused" in replies[1]
        texts = "\n".join(app.main.transcript.turn_texts)
        assert "get_weather" in texts and "refused" in texts
        await pilot.press("s")
