"""The live transcript: a line-based view where a delta re-renders one turn only.

The app keeps the transcript in a :class:`~tui.transcript_model.TranscriptModel`
and calls :meth:`TranscriptPanel.paint` at most ~20 times a second with what
changed. Each turn is rendered once into lines (Textual ``Strip``s) and kept;
a changed turn is rendered again, nothing else is. The widget draws only the
visible lines (Textual's line API, like ``RichLog``), so a 60-minute transcript
costs no more per delta than a one-minute one: no widget per turn, no relayout
of the screen when a turn grows.

It follows the end while the user is at the bottom, stops following when they
scroll up, and :meth:`jump_live` (the ``l`` key) returns to the end.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from audio.session.events import TranscriptEntry
from tui.format import clock_text
from tui.transcript_model import TranscriptChanges

ROLE_LOOK = {"user": ("you", "bold cyan"), "assistant": ("assistant", "bold magenta"), "tool": ("tool", "bold yellow")}
EMPTY_HINT = "No conversation yet: press r to run."


def turn_text(entry: TranscriptEntry) -> Text:
    """How one turn reads: time since the transcript began, role, then the text (partial, pending and failed styled apart)."""
    if entry.role == "session":  # a renewal/reconnection divider: one dim rule line
        return Text.assemble((clock_text(entry.start), "dim"), " ", (f"── {entry.text} ──", "dim italic"))
    name, style = ROLE_LOOK.get(entry.role, (entry.role, "bold"))
    text = Text.assemble((clock_text(entry.start), "dim"), " ", (name, style), "\n")
    if entry.tool is not None and not entry.final:
        text.append(entry.text, style="yellow")
        text.append(" ⧗", style="dim")
    elif entry.failed:
        text.append(entry.text or "transcription failed", style="red italic")
    elif entry.pending and not entry.text:
        text.append("… transcribing", style="dim italic")
    elif entry.final:
        text.append(entry.text)
    else:
        text.append(entry.text, style="italic grey70")
        text.append(" ▍", style="dim")
    if entry.interrupted:
        text.append(" — interrupted", style="dim italic")
    return text


@dataclass
class _Turn:
    entry: TranscriptEntry
    lines: list[Strip] = field(default_factory=list)


class TranscriptPanel(ScrollView, can_focus=True):
    DEFAULT_CSS = """
    TranscriptPanel { border: round $primary-darken-1; padding: 0 1; height: 1fr; overflow-y: scroll; }
    TranscriptPanel:focus { border: round $accent; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Transcript"
        self.border_subtitle = "● live"
        self._turns: list[_Turn] = []
        self._by_id: dict[str, _Turn] = {}
        self._starts: list[int] = []  # first line of each turn
        self._line_count = 0
        self._width = 0
        self.following = True
        self._style: Style | None = None
        self.renders = 0  # turns rendered into lines, for tests and the benchmark

    # -- what it shows (for tests and the benchmark) -----------------------------

    @property
    def item_ids(self) -> list[str]:
        return [turn.entry.item_id for turn in self._turns]

    @property
    def turn_texts(self) -> list[str]:
        return [turn_text(turn.entry).plain for turn in self._turns]

    # -- updates -----------------------------------------------------------------

    def paint(self, changes: TranscriptChanges) -> None:
        """Apply one batch of model changes; only inserted and changed turns are rendered."""
        if changes.cleared:
            self._turns.clear()
            self._by_id.clear()
        for position, entry in changes.inserted:
            turn = _Turn(entry, self._render_entry(entry))
            self._turns.insert(min(position, len(self._turns)), turn)
            self._by_id[entry.item_id] = turn
        for entry in changes.updated:
            existing = self._by_id.get(entry.item_id)
            if existing is not None and existing.entry != entry:
                existing.entry = entry
                existing.lines = self._render_entry(entry)
        if changes.order is not None:
            self._turns = [self._by_id[item_id] for item_id in changes.order if item_id in self._by_id]
        self._relayout()

    def jump_live(self) -> None:
        self.following = True
        self._follow()
        self._paint_follow_hint()

    # -- layout and drawing ------------------------------------------------------

    def _render_entry(self, entry: TranscriptEntry) -> list[Strip]:
        width = self._width
        if width <= 0:
            return []  # rendered on the first resize, once the width is known
        self.renders += 1
        console = self.app.console
        options = console.options.update_width(width)
        lines = console.render_lines(turn_text(entry), options, pad=False)
        strips = [Strip(line).adjust_cell_length(width) for line in lines]
        strips.append(Strip.blank(width))  # a blank line between turns
        return strips

    def _relayout(self) -> None:
        starts: list[int] = []
        total = 0
        for turn in self._turns:
            starts.append(total)
            total += len(turn.lines)
        self._starts = starts
        self._line_count = total
        size = Size(self._width, max(total, 1))
        if size != self.virtual_size:
            # Assigning ``virtual_size`` re-lays out the whole screen (measured: +26 % per delta);
            # this widget's own size never changes (its vertical scrollbar is always there), so
            # set the value without watchers and update the scroll range and scrollbar only.
            self.set_reactive(TranscriptPanel.virtual_size, size)
            scrollbar = self.vertical_scrollbar
            scrollbar.window_virtual_size = size.height
            scrollbar.window_size = self.container_size.height
            self.scroll_y = self.validate_scroll_y(self.scroll_y)
        self.refresh()
        if self.following:
            self._follow()

    def _follow(self) -> None:
        # force: the scrollbar (and so "may scroll") is only updated at the next layout
        self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True, force=True)

    def on_resize(self) -> None:
        width = self.scrollable_content_region.width
        if width != self._width and width > 0:
            self._width = width
            for turn in self._turns:
                turn.lines = self._render_entry(turn.entry)
            self._relayout()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        following = new >= self.max_scroll_y
        if following != self.following:
            self.following = following
            self._paint_follow_hint()

    def _paint_follow_hint(self) -> None:
        hint = "● live" if self.following else "↑ scrolled back · l: live"
        if hint != self.border_subtitle:
            self.border_subtitle = hint

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._style = None

    def render_line(self, y: int) -> Strip:
        style = self._style
        if style is None:  # computing rich_style walks the DOM: once per style change, not per line
            style = self._style = self.rich_style
        scroll_x, scroll_y = self.scroll_offset
        width = self._width or self.scrollable_content_region.width
        line_number = scroll_y + y
        if not self._turns:
            strip = Strip([Segment(EMPTY_HINT)]) if y == 0 else Strip.blank(width)
            return strip.crop_extend(0, width, style).apply_style(style)
        if line_number >= self._line_count:
            return Strip.blank(width, style)
        index = bisect_right(self._starts, line_number) - 1
        turn = self._turns[index]
        strip = turn.lines[line_number - self._starts[index]]
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_style(style)
