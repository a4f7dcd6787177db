"""The flow picker: ``*.yaml`` under ./flows and recently opened flows; enter opens one."""

from __future__ import annotations

from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList
from textual.widgets.option_list import Option


def list_flows(flows_dir: Path, recent: list[Path]) -> list[tuple[Path, str]]:
    """(path, label) for recent flows first, then the rest of ./flows, without repeats."""
    seen: set[Path] = set()
    rows: list[tuple[Path, str]] = []
    for path in recent:
        resolved = path.resolve()
        if resolved not in seen:
            seen.add(resolved)
            rows.append((path, f"{_display(path)}  (recent)"))
    if flows_dir.is_dir():
        for path in sorted(flows_dir.glob("*.yaml")):
            if path.resolve() not in seen:
                seen.add(path.resolve())
                rows.append((path, _display(path)))
    return rows


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


class FlowPickerScreen(Screen[None]):
    """Posts :class:`FlowPickerScreen.Chosen`; the app opens the flow (or says why it cannot)."""

    class Chosen(Message):
        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = path

    BINDINGS = [Binding("ctrl+q", "app.quit", "Quit")]
    DEFAULT_CSS = """
    FlowPickerScreen { align: center middle; }
    FlowPickerScreen > Vertical { width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; padding: 0 1; }
    FlowPickerScreen OptionList { height: auto; max-height: 18; }
    """

    def __init__(self, flows_dir: Path, recent: list[Path]) -> None:
        super().__init__()
        self.rows = list_flows(flows_dir, recent)
        self.flows_dir = flows_dir

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Open a flow · ↑↓ enter"
            if self.rows:
                yield OptionList(*[Option(label, id=str(path)) for path, label in self.rows])
            else:
                yield Label(f"No flows found: put *.yaml files under {self.flows_dir}/ or run: voxflow run FLOW.yaml")
        yield Footer()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        assert event.option.id is not None
        self.post_message(self.Chosen(Path(event.option.id)))
