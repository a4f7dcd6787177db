"""The two-line header: which flow, which service, the session's state, PTT and timers.

It paints from its ``view`` reactive, a copy of the app's
:class:`~tui.session_view.SessionView` the app assigns when the session view
changed; Textual repaints when the copy differs from the last one.
"""

from __future__ import annotations

from dataclasses import replace

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from tui.format import clock_text
from tui.session_view import SessionView
from tui.widgets.badges import mute_badge, ptt_badge, state_badge


class AppHeader(Widget):
    """Flow name and provider on top; state badge, PTT badge, mute and times below."""

    DEFAULT_CSS = """
    AppHeader { height: 2; background: $panel; }
    """

    view: reactive[SessionView] = reactive(SessionView)

    def __init__(self, view: SessionView, *, flow_name: str, provider: str, id: str | None = None) -> None:
        super().__init__(id=id)
        self.set_reactive(AppHeader.view, replace(view))
        self.flow_name = flow_name
        self.provider = provider

    def render(self) -> Group:
        view = self.view
        top = Table.grid(expand=True)
        top.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        top.add_column(justify="right", no_wrap=True)
        provider = view.provider if view.provider and view.provider not in self.provider else self.provider
        top.add_row(
            Text.assemble(("voxflow ", "bold"), ("│ ", "dim"), (self.flow_name, "bold cyan")),
            Text.assemble(("provider ", "dim"), (provider, "bold")),
        )
        badges = Text.assemble(state_badge(view.state, view.reason), " ", ptt_badge(view.ptt), " ", mute_badge(view.muted))
        times = Text.assemble(("elapsed ", "dim"), clock_text(view.elapsed), ("  left ", "dim"))
        if view.total is not None and view.elapsed is not None and view.total - view.elapsed >= 1:
            times = Text.assemble(("total ", "dim"), clock_text(view.total), ("  session ", "dim"),
                                  clock_text(view.elapsed), ("  left ", "dim"))  # renewed: both clocks
        times.append(
            clock_text(view.remaining),
            style="bold black on dark_orange" if view.warning else "bold",
        )
        bottom = Table.grid(expand=True)
        bottom.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        bottom.add_column(justify="right", no_wrap=True)
        bottom.add_row(badges, times)
        return Group(top, bottom)
