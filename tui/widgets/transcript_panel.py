"""The live transcript: one small widget per turn, so a delta repaints one turn only.

The app keeps the transcript in a :class:`~tui.transcript_model.TranscriptModel`
and calls :meth:`TranscriptPanel.paint` at most ~20 times a second with what
changed. New turns are mounted in place; a finished turn is painted once more
when it becomes final and then never again. The panel stays anchored to the
end while the user is at the bottom, lets go when they scroll up, and
:meth:`jump_live` re-anchors.
"""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from audio.realtime.events import TranscriptEntry
from tui.format import clock_text
from tui.transcript_model import TranscriptChanges

ROLE_LOOK = {"user": ("you", "bold cyan"), "assistant": ("assistant", "bold magenta")}


def turn_text(entry: TranscriptEntry) -> Text:
    """How one turn reads: time since the transcript began, role, then the text (partial, pending and failed styled apart)."""
    name, style = ROLE_LOOK.get(entry.role, (entry.role, "bold"))
    text = Text.assemble((clock_text(entry.start), "dim"), " ", (name, style), "\n")
    if entry.failed:
        text.append(entry.text or "transcription failed", style="red italic")
    elif entry.pending and not entry.text:
        text.append("… transcribing", style="dim italic")
    elif entry.final:
        text.append(entry.text)
    else:
        text.append(entry.text, style="italic grey70")
        text.append(" ▍", style="dim")
    return text


class TurnView(Static):
    """One turn of the conversation."""

    DEFAULT_CSS = """
    TurnView { height: auto; margin-bottom: 1; }
    """

    def __init__(self, entry: TranscriptEntry) -> None:
        super().__init__(turn_text(entry), classes="-final" if entry.final else "-partial")
        self.item_id = entry.item_id
        self.final = entry.final

    def show(self, entry: TranscriptEntry) -> None:
        self.final = entry.final
        self.set_class(entry.final, "-final")
        self.set_class(not entry.final, "-partial")
        self.update(turn_text(entry))


class TranscriptPanel(VerticalScroll):
    DEFAULT_CSS = """
    TranscriptPanel { border: round $primary-darken-1; padding: 0 1; height: 1fr; }
    TranscriptPanel > #empty { color: $text-muted; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Transcript"
        self._turns: dict[str, TurnView] = {}
        self._order: list[str] = []
        self.paints = 0  # turn widgets (re)painted, for tests and the benchmark

    def on_mount(self) -> None:
        self.mount(Static("No conversation yet: press r to run the flow.", id="empty"))
        self.anchor()
        self._paint_follow_hint()

    @property
    def following(self) -> bool:
        return self.is_anchored and not getattr(self, "_anchor_released", False)

    def jump_live(self) -> None:
        self.anchor(False)
        self.anchor()
        self._paint_follow_hint()

    def paint(self, changes: TranscriptChanges) -> None:
        if changes.cleared:
            self._clear()
        for position, entry in changes.inserted:
            view = TurnView(entry)
            self.paints += 1
            if position < len(self._order):
                self.mount(view, before=self._turns[self._order[position]])
            else:
                self.mount(view)
            self._order.insert(position, entry.item_id)
            self._turns[entry.item_id] = view
        for entry in changes.updated:
            view = self._turns.get(entry.item_id)
            if view is not None:
                view.show(entry)
                self.paints += 1
        if changes.order is not None and changes.order != self._order:
            self._reorder(changes.order)
        if changes.inserted or changes.cleared:
            self.query("#empty").set(display=not self._order)
        self._paint_follow_hint()

    def _reorder(self, order: list[str]) -> None:
        """Move turn widgets into the model's order (rare: a turn placed late)."""
        first = self._turns[self._order[0]] if self._order else None
        for position, item_id in enumerate(order):
            view = self._turns[item_id]
            if position == 0:
                if first is not None and first is not view:
                    self.move_child(view, before=first)
            else:
                self.move_child(view, after=self._turns[order[position - 1]])
        self._order = list(order)

    def _clear(self) -> None:
        for view in self._turns.values():
            view.remove()
        self._turns.clear()
        self._order.clear()

    def _paint_follow_hint(self) -> None:
        self.border_subtitle = "● live" if self.following else "↑ scrolled back · l: live"

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        if self.is_mounted:
            self._paint_follow_hint()
