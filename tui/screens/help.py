"""The help screen: every key, what it does, and how push-to-talk works."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.screens.keys import APP_KEYS, MAIN_KEYS

PTT_NOTE = (
    "Terminals report no key release, so push-to-talk is a toggle: press space to start "
    "talking (badge ● TALKING), press it again to send (SENDING…, then OFF). "
    "It works when VAD is off: press d before running to switch it off."
)


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for command in (*MAIN_KEYS, *APP_KEYS):
        table.add_row(command.shown, command.help)
    table.add_row("ctrl+p", "Command palette: every command by name.")
    table.add_row("↑ ↓", "Select a node (its settings and last error show below the list).")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "Close"),
        Binding("question_mark", "dismiss", "Close", show=False),
        Binding("q", "dismiss", "Close", show=False),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; padding-bottom: 1; }  /* the key bar stays visible */
    HelpScreen > VerticalScroll { width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; background: $surface; padding: 0 1; }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "Help · escape closes"
            yield Static(help_table())
            yield Static(Text(PTT_NOTE, style="italic"), classes="note")
