"""Asks the operator whether the assistant may run a tool marked ``confirm: true`` (y/n, arguments shown).

:class:`ToolApprover` is the app's :data:`~audio.session.tools.Approver`: each
call pushes one :class:`ToolConfirmScreen` and waits for the answer; calls that
ask at the same time queue their screens one after another.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Static

from audio.session.tools import ToolCallRequest

MAX_ARGUMENT_LINES = 12


def arguments_text(arguments: dict[str, Any]) -> str:
    """The arguments as indented JSON, cut to a few lines."""
    lines = json.dumps(arguments, indent=2, ensure_ascii=False).splitlines()
    if len(lines) > MAX_ARGUMENT_LINES:
        lines = lines[:MAX_ARGUMENT_LINES] + ["…"]
    return "\n".join(lines)


class ToolConfirmScreen(ModalScreen[bool]):
    """Returns True (y) or False (n / escape)."""

    BINDINGS = [
        Binding("y", "answer(True)", "Run it"),
        Binding("n", "answer(False)", "Refuse"),
        Binding("escape", "answer(False)", "Refuse", show=False),
    ]
    DEFAULT_CSS = """
    ToolConfirmScreen { align: center middle; }
    ToolConfirmScreen > Vertical { width: 70; max-width: 100%; height: auto; max-height: 100%;
        border: round $warning; background: $surface; padding: 0 1; }
    ToolConfirmScreen #arguments { color: $text-muted; margin: 1 0; }
    """

    def __init__(self, request: ToolCallRequest) -> None:
        super().__init__()
        self.request = request

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "The assistant wants to run a tool"
            box.border_subtitle = "y runs it · n refuses"
            yield Label(f"[b]{self.request.name}[/b] with:", id="tool-name")
            yield Static(arguments_text(self.request.arguments), id="arguments", markup=False)
            yield Label("Run it? (y/n)")

    def action_answer(self, approved: bool) -> None:
        self.dismiss(approved)


class ToolApprover:
    """The app's approver: one modal question per call, one at a time."""

    def __init__(self, app: App[Any]) -> None:
        self._app = app
        self._lock = asyncio.Lock()

    async def __call__(self, request: ToolCallRequest) -> bool:
        async with self._lock:
            answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

            def answered(approved: bool | None) -> None:
                if not answer.done():
                    answer.set_result(bool(approved))

            self._app.push_screen(ToolConfirmScreen(request), answered)
            return await answer
