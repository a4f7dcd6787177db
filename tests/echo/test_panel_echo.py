"""The connection panel shows what keeps the assistant from hearing itself, and the echo removed."""

from __future__ import annotations

from rich.console import Console

from audio.session.events import Levels
from tui.session_view import SessionView
from tui.widgets.connection_panel import ConnectionPanel


def panel_text(view: SessionView) -> str:
    console = Console(width=80, record=True, color_system=None)
    console.print(ConnectionPanel(view).render())
    return console.export_text()


def test_panel_shows_the_echo_mode_and_the_echo_removed() -> None:
    view = SessionView()
    view.apply(Levels(-30.0, -20.0, -18.0, -6.0, "aec", 34.4))
    assert "echo aec 34 dB removed" in panel_text(view)
    view.apply(Levels(-30.0, -20.0, -18.0, -6.0, "guard", None))
    text = panel_text(view)
    assert "echo guard" in text and "removed" not in text
    view.apply(Levels(-30.0, -20.0, -18.0, -6.0))  # a session that says nothing about echo
    assert "echo" not in panel_text(view).split("spk")[1].splitlines()[0]
