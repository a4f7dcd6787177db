"""The key bar: every key of the main screen, wrapping onto a second line on narrow terminals.

Textual's Footer is one scrolling line, which hides keys at 80 columns; the
issue wants all of them visible, so this bar wraps instead.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from tui.screens.keys import APP_KEYS, MAIN_KEYS

KEY_GLYPHS = {"space": "␣", "ctrl+q": "^q"}


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar { height: auto; background: $panel; padding: 0 1; }
    """

    def render(self) -> Text:
        text = Text(no_wrap=False, overflow="fold")
        for n, command in enumerate((*MAIN_KEYS, *APP_KEYS)):
            if n:
                text.append("  ")
            text.append(KEY_GLYPHS.get(command.key, command.shown), style="bold reverse")
            text.append(f" {command.label.lower()}")
        return text
