"""At 80x24 the key bar shows whole bindings only, on one line, and no toast covers it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tui.screens.keys import APP_KEYS, MAIN_KEYS
from tui.widgets.key_bar import SEPARATOR, KeyBar, binding_text, fitting_bindings

from .conftest import make_app

WHOLE = [" ".join(binding_text(command)) for command in (*MAIN_KEYS, *APP_KEYS)]


def test_fitting_keeps_whole_bindings_in_order_and_always_help_and_quit() -> None:
    everything = list((*MAIN_KEYS, *APP_KEYS))
    wide = sum(len(text) for text in WHOLE) + len(SEPARATOR) * (len(WHOLE) - 1)
    assert fitting_bindings(wide) == everything
    narrow = fitting_bindings(wide - 1)
    assert narrow == [*MAIN_KEYS[: len(narrow) - len(APP_KEYS)], *APP_KEYS] and len(narrow) < len(everything)
    assert fitting_bindings(10) == list(APP_KEYS)


def painted_line(bar: KeyBar) -> str:
    """The text the bar paints on screen (its one line, padding stripped)."""
    return bar.render_line(0).text.strip()


@pytest.mark.parametrize("size", [(80, 24), (100, 30), (120, 30)])
async def test_key_bar_is_one_line_of_whole_bindings(tmp_path: Path, size: tuple[int, int]) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        bar = app.main.query_one(KeyBar)
        assert bar.region.height == 1 and bar.region.bottom == size[1]
        line = painted_line(bar)
        pieces = line.split(SEPARATOR)
        assert all(piece in WHOLE for piece in pieces), f"a binding is cut: {line!r}"
        assert pieces[-2:] == ["? help", "^q quit"]
        if size[0] == 80:
            assert "e export" not in pieces and "l live" not in pieces  # in ? and the palette instead
        else:
            assert pieces == WHOLE


async def test_no_toast_covers_the_key_bar_at_80x24(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        for n in range(4):
            app.notify(f"Message {n}: a long notification that wraps over several lines of the toast", timeout=30)

        async def toasts_shown() -> None:
            while len(app.screen.query("Toast")) < 4:
                await pilot.pause(0.02)
        await asyncio.wait_for(toasts_shown(), 10)
        await pilot.pause()
        bar = app.main.query_one(KeyBar)
        # what is on top at each cell of the bottom row: the key bar, not a toast
        on_top = {type(app.screen.get_widget_at(x, 23)[0]).__name__ for x in range(80)}
        assert on_top == {"KeyBar"}, on_top
        toast_cells = {
            (x, y) for toast in app.screen.query("Toast") for x in range(80) for y in range(24)
            if app.screen.get_widget_at(x, y)[0] is toast
        }
        assert toast_cells and max(y for _, y in toast_cells) < bar.region.y  # toasts are shown, above the bar
        assert all(piece in WHOLE for piece in painted_line(bar).split(SEPARATOR))
