"""Shown instead of the layout while the terminal is smaller than the app needs."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Static

MIN_WIDTH = 80
MIN_HEIGHT = 24


class TooSmallScreen(Screen[None]):
    DEFAULT_CSS = """
    TooSmallScreen { align: center middle; }
    TooSmallScreen > Static { width: auto; max-width: 100%; padding: 1 2; border: heavy $warning; text-align: center; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="notice")

    def on_mount(self) -> None:
        self.show_size(self.app.size.width, self.app.size.height)

    def show_size(self, width: int, height: int) -> None:
        self.query_one("#notice", Static).update(
            f"Terminal too small: {width}×{height}.\n"
            f"voxflow needs at least {MIN_WIDTH}×{MIN_HEIGHT}: enlarge the window.\n"
            "(ctrl+q quits)"
        )
