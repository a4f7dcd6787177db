"""The nodes panel: every node's type, label and status, every edge's state,
and the selected node's settings, last output and last error.

The app feeds it engine events (``set_status``, ``set_edge``, ``set_output``);
arrow keys move the selection when it has focus. Settings whose names look
secret (keys, tokens) are never shown.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from flow.events import EdgeState, NodeStatus
from flow.model import Flow
from tui.format import is_secret_name, shorten

STATUS_LOOK: dict[NodeStatus, tuple[str, str]] = {
    NodeStatus.IDLE: ("idle", "grey62"),
    NodeStatus.WAITING: ("waiting", "yellow"),
    NodeStatus.RUNNING: ("running", "bold green"),
    NodeStatus.DONE: ("done", "cyan"),
    NodeStatus.ERROR: ("error", "bold red"),
    NodeStatus.CANCELLED: ("cancelled", "magenta"),
}
EDGE_LOOK: dict[EdgeState, tuple[str, str]] = {
    EdgeState.IDLE: ("idle", "grey62"),
    EdgeState.FLOWING: ("flowing", "bold green"),
    EdgeState.DONE: ("done", "cyan"),
}


def status_text(status: NodeStatus) -> Text:
    label, style = STATUS_LOOK[status]
    return Text(label, style=style)


class NodesPanel(VerticalScroll):
    DEFAULT_CSS = """
    NodesPanel { border: round $primary-darken-1; height: 1fr; min-height: 6; padding: 0 1; }
    NodesPanel > DataTable { height: auto; max-height: 12; overflow-x: hidden; }
    NodesPanel > #edges { height: auto; margin-top: 1; }
    NodesPanel > #details { height: auto; margin-top: 1; color: $text-muted; }
    """

    def __init__(self, flow: Flow, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.flow = flow
        self.border_title = "Nodes"
        self.statuses: dict[str, NodeStatus] = {spec.id: NodeStatus.IDLE for spec in flow.nodes}
        self.reasons: dict[str, str | None] = {spec.id: None for spec in flow.nodes}
        self.edge_states: dict[str, EdgeState] = {str(edge): EdgeState.IDLE for edge in flow.edges}
        self.last_output: dict[str, str] = {}
        self.selected: str | None = flow.nodes[0].id if flow.nodes else None
        self.table: DataTable[Any] = DataTable(show_header=False, cursor_type="row", zebra_stripes=False, id="nodes")
        self.edges_view = Static(id="edges")
        self.details_view = Static(id="details")
        self._ready = False

    def compose(self) -> ComposeResult:
        yield self.table
        yield self.edges_view
        yield self.details_view

    def on_mount(self) -> None:
        table = self.table
        table.add_column("status", key="status", width=9)
        table.add_column("node", key="node")
        table.add_column("type", key="type")
        for spec in self.flow.nodes:
            table.add_row(status_text(self.statuses[spec.id]), Text(spec.title, style="bold"), Text(spec.type, style="dim"), key=spec.id)
        self._ready = True
        self._paint_edges()
        self._paint_details()

    # -- updates from engine events ------------------------------------------

    def set_status(self, node_id: str, status: NodeStatus, reason: str | None) -> None:
        if node_id not in self.statuses:
            return
        self.statuses[node_id] = status
        self.reasons[node_id] = reason if status in (NodeStatus.ERROR, NodeStatus.CANCELLED) else self.reasons[node_id]
        if status in (NodeStatus.IDLE, NodeStatus.WAITING):
            self.reasons[node_id] = None
        if self._ready:
            self.table.update_cell(node_id, "status", status_text(status))
            if node_id == self.selected:
                self._paint_details()

    def set_edge(self, edge: str, state: EdgeState) -> None:
        if edge in self.edge_states:
            self.edge_states[edge] = state
            if self._ready:
                self._paint_edges()

    def set_output(self, node_id: str, port: str, value: Any) -> None:
        if isinstance(value, str):
            self.last_output[node_id] = f"{port}: {shorten(value, 200)}"
        else:
            self.last_output[node_id] = f"{port}: {type(value).__name__}"
        if node_id == self.selected and self._ready:
            self._paint_details()

    def clear_outputs(self) -> None:
        self.last_output.clear()
        if self._ready:
            self._paint_details()

    # -- painting -------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.selected = event.row_key.value
        self._paint_details()

    def _paint_edges(self) -> None:
        text = Text()
        for edge in self.flow.edges:
            label, style = EDGE_LOOK[self.edge_states[str(edge)]]
            text.append(f"{edge.from_node}.{edge.from_port} → {edge.to_node}.{edge.to_port} ", style="dim")
            text.append(label, style=style)
            text.append("\n")
        text.rstrip()
        self.edges_view.update(text)

    def _paint_details(self) -> None:
        details = Text()
        if self.selected is not None:
            spec = self.flow.node(self.selected)
            details.append(f"{spec.id} ({spec.type})\n", style="bold")
            for name, value in spec.settings.model_dump().items():
                shown = "••••" if is_secret_name(name) and value else shorten(str(value), 60)
                details.append(f"  {name}: {shown}\n")
            output = self.last_output.get(spec.id)
            if output:
                details.append(f"  last output {output}\n")
            reason = self.reasons.get(spec.id)
            if reason:
                details.append(f"  last error: {reason}\n", style="red")
        details.rstrip()
        self.details_view.update(details)
