"""The main screen: header, nodes and connection panels on the left, transcript on the right."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen

from flow.model import Flow
from tui.screens.keys import MAIN_KEYS
from tui.session_view import SessionView
from tui.widgets.connection_panel import ConnectionPanel
from tui.widgets.header import AppHeader
from tui.widgets.key_bar import KeyBar
from tui.widgets.nodes_panel import NodesPanel
from tui.widgets.transcript_panel import TranscriptPanel


class MainScreen(Screen[None]):
    """The layout; ``-wide`` (100+ columns) gives the side panels more room."""
    BINDINGS = [Binding(k.key, f"app.{k.action}", k.label, key_display=k.shown) for k in MAIN_KEYS]

    def __init__(self, flow: Flow, view: SessionView, provider: str) -> None:
        super().__init__()
        self.flow = flow
        self.view = view
        self.provider = provider
        # held directly (not queried) so events arriving during shutdown find them
        self.header = AppHeader(view, flow_name=flow.name, provider=provider, id="header")
        self.nodes_panel = NodesPanel(flow, id="nodes-panel")
        self.connection = ConnectionPanel(view, id="connection")
        self.transcript = TranscriptPanel(id="transcript")

    def on_resize(self) -> None:
        self.set_class(self.app.size.width >= 100, "-wide")

    def on_mount(self) -> None:
        self.set_class(self.app.size.width >= 100, "-wide")

    def compose(self) -> ComposeResult:
        yield self.header
        with Horizontal(id="body"):
            with Vertical(id="side"):
                yield self.nodes_panel
                yield self.connection
            yield self.transcript
        yield KeyBar()
