"""The key bar: one line of whole bindings, as many as fit; the rest are in ``?`` and the palette.

At 80 columns not every key fits on one line. Rather than wrap a binding in
two (``e export  l`` / ``live``), the bar keeps whole bindings only: the main
keys in order while they fit, and always ``? help`` and quit, because help and
the command palette (``ctrl+p``) list every key. Toasts sit above it (Textual's
toast rack keeps one line free at the bottom), so nothing covers it.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget

from tui.screens.keys import APP_KEYS, MAIN_KEYS, KeyCommand

KEY_GLYPHS = {"space": "␣", "ctrl+q": "^q"}
SEPARATOR = "  "


def binding_text(command: KeyCommand) -> tuple[str, str]:
    """(key, label) as the bar writes them."""
    return KEY_GLYPHS.get(command.key, command.shown), command.label.lower()


def binding_width(command: KeyCommand) -> int:
    key, label = binding_text(command)
    return len(key) + 1 + len(label)


def fitting_bindings(width: int, main: tuple[KeyCommand, ...] = MAIN_KEYS, always: tuple[KeyCommand, ...] = APP_KEYS) -> list[KeyCommand]:
    """The bindings a bar ``width`` cells wide shows: main keys in order while they fit, then ``always``."""
    reserved = sum(binding_width(c) for c in always) + len(SEPARATOR) * max(0, len(always) - 1)
    shown: list[KeyCommand] = []
    used = reserved
    for command in main:
        extra = binding_width(command) + len(SEPARATOR)
        if used + extra > width:
            break
        shown.append(command)
        used += extra
    return [*shown, *always]


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar { height: 1; background: $panel; padding: 0 1; }
    """

    def on_resize(self) -> None:
        self.refresh()

    def shown(self) -> list[KeyCommand]:
        return fitting_bindings(self.content_size.width)

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="crop")
        for n, command in enumerate(self.shown()):
            if n:
                text.append(SEPARATOR)
            key, label = binding_text(command)
            text.append(key, style="bold reverse")
            text.append(f" {label}")
        return text
